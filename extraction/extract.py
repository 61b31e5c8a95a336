"""One page in, one article record or one rejection reason out: pure and deterministic."""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import trafilatura
from htmldate import find_date
from lxml import etree
from lxml import html as lxml_html
from lxml.html import HtmlElement
from trafilatura.utils import DOCTYPE_TAG, FAULTY_HTML, INVALID_XML_CHARS, is_dubious_html

from extraction import metadata as md
from extraction.boilerplate import filter_paragraphs
from extraction.encoding import decode_html
from extraction.fast_copies import lean_copies
from extraction.fast_options import extractor
from extraction.fast_readability import fast_readability
from extraction.fast_text import fast_texts
from extraction.fast_xpaths import RawPrunes, fast_prunes
from extraction.jsonld_body import repair_with_article_body
from extraction.options import ExtractionOptions
from extraction.pagetype import listing_reason
from extraction.prune import prune_tree
from extraction.scan import TreeScan, scan_tree
from extraction.split_body import add_missing_chunks, body_chunks
from extraction.template import TemplateModel
from storage.dedup import count_words, text_keys
from storage.urls import url_key

logger = logging.getLogger(__name__)

#: Stable rejection reasons (counted in the snapshot manifest).
REASONS = (
    "not_html",
    "empty",
    "listing_page",
    "no_body",
    "too_large",
    "timeout",
    "parse_error",
)
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"RIFF",
    b"\x00\x00\x01\x00",
    b"OggS",
    b"ID3",
    b"\x7fELF",
    b"BZh",
    b"7z\xbc\xaf",
)
_CONTROL_BYTES = bytes([*range(9), *range(14, 32)])
_SPACE = re.compile(r"[ \t\u00a0\u200b]+")
_NEWLINES = re.compile(r"\n{2,}")
_HTML_TAG = re.compile(r"<(?:html|body|p|div|head|article|!doctype)", re.IGNORECASE | re.ASCII)
#: The characters of trafilatura's INVALID_XML_CHARS class (test_parse_html checks).
_INVALID_XML = tuple(chr(c) for c in (*range(9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF))


@dataclass(frozen=True)
class Rejection:
    """Why a page did not become an article row (one of `REASONS`) and a detail for logs."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Article:
    """The extracted article: the EXTRACTED_SCHEMA columns that depend on the page alone."""

    url: str
    canonical_url: str
    url_key: str
    source: str
    title: str | None
    authors: list[str]
    published_at: datetime | None
    modified_at: datetime | None
    language: str | None
    sitename: str | None
    description: str | None
    categories: list[str]
    tags: list[str]
    image: str | None
    text: str
    word_count: int
    content_hash: str
    simhash: int
    #: Bits 64..255 of the same SimHash (the optional `simhash_ext` column), 24 bytes.
    simhash_ext: bytes
    fetched_at: datetime
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class _Timeout(BaseException):
    """Raised inside extraction when the per-document time limit fires.

    A BaseException so that a library's broad ``except Exception`` cannot swallow it.
    """


#: After the first alarm, how often it fires again until the block is left (seconds).
_RETRY_ALARM = 0.05


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` of wall time (main thread only; else no limit).

    Extraction runs in worker processes whose main thread does the work, so SIGALRM can
    interrupt trafilatura wherever it is stuck; called from another thread it is a no-op.
    The alarm repeats every `_RETRY_ALARM` seconds until the block is left: an exception
    raised while a ``__del__``, weakref or gc callback runs is printed and dropped by
    Python, so a single alarm landing there would be lost.
    """
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return
    active = [True]

    def _raise(signum: int, frame: FrameType | None) -> None:
        if active[0]:
            raise _Timeout

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds, _RETRY_ALARM)
    try:
        yield
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _html_parser() -> lxml_html.HTMLParser:
    """trafilatura's parser settings, with an element class lookup done in C.

    lxml.html's own lookup is a Python method called for every element proxy lxml creates
    (hundreds of thousands per page over trafilatura's passes); the namespace lookup below
    gives the same classes (FormElement, InputElement... by tag, HtmlElement otherwise)
    without the call. A fresh parser per document (2 us) keeps threads apart.
    """
    parser = lxml_html.HTMLParser(
        collect_ids=False,
        default_doctype=False,
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
    )
    lookup = etree.ElementNamespaceClassLookup(
        etree.ElementDefaultClassLookup(
            element=lxml_html.HtmlElement,
            comment=lxml_html.HtmlComment,
            pi=lxml_html.HtmlProcessingInstruction,
            entity=lxml_html.HtmlEntity,
        )
    )
    by_tag = lookup.get_namespace(None)
    for tag, cls in lxml_html.HtmlElementClassLookup._default_element_classes.items():
        by_tag[tag] = cls
    parser.set_element_class_lookup(lookup)
    return parser


def parse_html(text: str, utf8: bytes | None = None) -> HtmlElement | None:
    """Parse decoded HTML as trafilatura's `load_html` does; None when there is no tree.

    Same steps (repair, parse the string, else its UTF-8 bytes, reject a non-HTML string
    that gives a one-element tree) with the parser of `_html_parser`.

    ``utf8``: ``text.encode("utf-8")``, when the caller has it (the page's bytes, decoded
    strictly). libxml2 then reads those bytes instead of converting the string, which
    builds the same tree, unless the repair changes the text or lxml's full-document test
    would read the start differently (on a string it also skips non-ASCII spaces).
    """
    beginning = text[:50].lower()
    dubious = is_dubious_html(beginning)
    repaired = _repair_faulty_html(text, beginning)
    if utf8 is not None and repaired == text and not _starts_with_unicode_space(text):
        parsed = _parse_bytes(utf8, _html_parser())
        if parsed is not None and dubious and len(parsed) < 2:
            return None
        return parsed
    text = repaired
    parser = _html_parser()
    tree: HtmlElement | None = None
    retry_bytes = True
    try:
        tree = lxml_html.fromstring(text, parser=parser)
    except ValueError:  # "Unicode strings with encoding declaration are not supported."
        tree, retry_bytes = _parse_bytes(text, parser), False
    except Exception:  # as trafilatura: any parser failure means "no tree", then bytes
        logger.debug("lxml could not parse the string", exc_info=True)
    if (tree is None or len(tree) < 1) and retry_bytes:
        tree = _parse_bytes(text, parser)
    if tree is not None and dubious and len(tree) < 2:
        return None
    return tree if isinstance(tree, HtmlElement) else None


def _repair_faulty_html(text: str, beginning: str) -> str:
    """trafilatura.utils.repair_faulty_html, without a regex scan of pages that have no
    control characters (str.find per character is ~2x faster than the regex's scan)."""
    if any(ch in text for ch in _INVALID_XML):
        text = INVALID_XML_CHARS.sub("", text)
    if "doctype" in beginning:  # libxml2/lxml issue: https://bugs.launchpad.net/lxml/+bug/1955915
        firstline, _, rest = text.partition("\n")
        text = DOCTYPE_TAG.sub("", firstline, count=1) + "\n" + rest
    for line in text[:4096].splitlines()[:4]:  # self-closing <html/> in the first lines
        if "<html" in line and line.endswith("/>"):
            return FAULTY_HTML.sub(r"\1>", text, count=1)
    return text


def _starts_with_unicode_space(text: str) -> bool:
    """Whether whitespace other than ASCII's precedes the first non-space character."""
    start = _ASCII_SPACE.match(text)
    end = start.end() if start else 0
    return text[end : end + 1].isspace()


_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]*")


def _parse_bytes(text: str | bytes, parser: lxml_html.HTMLParser) -> HtmlElement | None:
    data = text if isinstance(text, bytes) else text.encode("utf8", "surrogatepass")
    try:
        tree = lxml_html.fromstring(data, parser=parser)
    except Exception:  # as trafilatura's fromstring_bytes
        logger.debug("lxml could not parse the bytes", exc_info=True)
        return None
    return tree if isinstance(tree, HtmlElement) else None


#: Elements in the whole document (the descendant axis from the document node gives what
#: ``//*`` gives, without building its intermediate node-sets).
_count_elements = etree.XPath("count(/descendant::*)")


def _content_type_ok(content_type: str | None) -> bool:
    if not content_type:
        return True
    mime = content_type.split(";", 1)[0].strip().lower()
    return not mime or mime in _HTML_TYPES or mime == "text/plain"


def _looks_binary(body: bytes) -> bool:
    head = body[:4096]
    if head.lstrip().startswith(_BINARY_MAGIC) or head.startswith(_BINARY_MAGIC):
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 text has NUL bytes by nature
    # Text has almost no control bytes; binary formats are full of them.
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > len(head) * 0.05


def _looks_like_html(text: str) -> bool:
    # ASCII-only case folding: str.lower() maps no other character onto these tag names.
    return _HTML_TAG.search(text, 0, 65536) is not None


def _clean_text(text: str) -> list[str]:
    # One substitution for the whole text: _SPACE never matches a line break. Without any
    # of its characters but single spaces, it would change nothing: skipped.
    text = text.replace("\r", "\n")
    if "  " in text or "\t" in text or "\u00a0" in text or "\u200b" in text:
        text = _SPACE.sub(" ", text)
    return [stripped for line in text.split("\n") if (stripped := line.strip())]


def _has_article_markup(signals: md.PageSignals, page_meta: md.PageMeta) -> bool:
    """Whether the page declares itself an article (structured data, og:type, byline, date)."""
    return bool(
        signals.ld_types & md.ARTICLE_TYPES
        or signals.og_type == "article"
        or page_meta.authors
        or signals.meta.get("article:published_time")
    )


def _words(text: str) -> int:
    return count_words(text)


def extract_article(
    html: bytes,
    url: str,
    *,
    fetched_at: datetime,
    source: str,
    content_type: str | None,
    options: ExtractionOptions,
    hints: dict[str, Any] | None = None,
    template: TemplateModel | None = None,
) -> Article | Rejection:
    """Extract one archived page; never raises for bad input, returns a Rejection instead."""
    if not html or not html.strip():
        return Rejection("empty")
    if not _content_type_ok(content_type) or _looks_binary(html):
        return Rejection("not_html", (content_type or "")[:80])
    if len(html) > options.max_html_bytes:
        return Rejection("too_large", f"{len(html)} bytes")
    try:
        with time_limit(options.time_limit):
            return _extract(
                html, url, fetched_at, source, content_type, options, hints or {}, template
            )
    except _Timeout:
        return Rejection("timeout", f"over {options.time_limit:g}s")
    except RecursionError:
        return Rejection("too_large", "nesting too deep")
    except MemoryError:
        return Rejection("too_large", "out of memory")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, etree.LxmlError) as exc:
        # trafilatura and lxml raise these on malformed documents; a page, not the run, fails.
        logger.debug("extraction failed for %s", url, exc_info=True)
        return Rejection("parse_error", f"{type(exc).__name__}: {exc}"[:200])


def _extract(
    html: bytes,
    url: str,
    fetched_at: datetime,
    source: str,
    content_type: str | None,
    options: ExtractionOptions,
    hints: dict[str, Any],
    template: TemplateModel | None,
) -> Article | Rejection:
    body = html.replace(b"\x00", b"")
    decoded = decode_html(body, content_type)
    text_in = decoded.text
    if "\ufffd" in text_in[:4096] and text_in[:4096].count("\ufffd") > 200:
        return Rejection("not_html", "undecodable bytes")
    if not _looks_like_html(text_in):
        return Rejection("not_html", "no markup")
    # ASCII and strict UTF-8 decodings: the body is exactly the text's UTF-8 bytes.
    tree = parse_html(text_in, body if decoded.reason in ("ascii", "utf8") else None)
    if tree is None:
        return Rejection("parse_error", "no tree")
    prune_ids, prune_classes = frozenset(options.prune_ids), frozenset(options.prune_classes)
    scan: TreeScan | None = None
    if tree.getparent() is None:  # the document's root: the walk sees every element
        # It also collects trafilatura's raw-tree prune matches for a tree lent to it
        # (not with trafilatura's metadata: that reads the lent tree before the prunes).
        raw = None if options.trafilatura_metadata else RawPrunes()
        scan = scan_tree(tree, prune_ids, prune_classes, options.max_tree_size, raw)
        size = int(_count_elements(tree)) if scan.truncated else scan.elements
    else:
        size = int(_count_elements(tree))
    if size > options.max_tree_size:
        return Rejection("too_large", f"{size} elements")
    if scan is None:
        scan = scan_tree(tree, prune_ids, prune_classes)
    signals = md.read_signals(tree, url, scan)
    if options.repair_split_body:
        signals.body_chunks = body_chunks(tree, scan.by_tag["p"])
    canonical = md.canonical_url(signals, url)

    if options.reject_listings:
        reason = listing_reason(signals, canonical, url)
        if reason:
            return Rejection("listing_page", reason)

    page_meta = md.page_metadata(signals, url, hints, tree, scan.bylines)
    prune_tree(tree, prune_ids, prune_classes, scan.prune)
    raw_prunes = None if scan.truncated else scan.raw  # valid: the tree only lost elements
    del scan  # its elements may be gone from the tree now
    fetched_utc = (
        fetched_at.astimezone(UTC) if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    )
    max_date = fetched_utc.strftime("%Y-%m-%d")
    date_params: dict[str, Any] = {
        "original_date": True,
        "extensive_search": True,
        "max_date": max_date,
    }
    # htmldate reads the tree after trafilatura only when the page's own dates, the hints
    # and the URL give none; otherwise trafilatura may work on the tree itself (no copy).
    structured_date = md.published_at(signals, hints, None, canonical, fetched_utc)
    keep_tree = not options.trafilatura_metadata and structured_date is None
    lend = None if keep_tree else tree
    # trafilatura works on the lent tree itself: its raw-tree prunes use the scan's matches
    seed = (tree, raw_prunes) if lend is not None and raw_prunes is not None else None
    doc = _trafilatura(
        tree, url, options, date_params, precision=options.favor_precision, lend=lend, seed=seed
    )
    title_line = page_meta.title
    if options.trafilatura_metadata:
        title_line = _first_str(getattr(doc, "title", None), title_line)
    text = "\n".join(_body(doc, signals, options, template, title_line))
    words = _words(text)
    if options.favor_precision and options.balanced_fallback and words < options.min_words:
        # Precision mode sometimes discards the whole body; the balanced pass rarely does.
        if lend is not None:  # the first pass used the tree up: the same tree once more
            tree = _rebuild_tree(text_in, tree, prune_ids, prune_classes)
        lend = None if keep_tree else tree
        balanced = _trafilatura(tree, url, options, date_params, precision=False, lend=lend)
        retry = "\n".join(_body(balanced, signals, options, template, title_line))
        retry_words = _words(retry)
        if retry_words > words:
            doc, text, words = balanced, retry, retry_words
    if words == 0:
        return Rejection("no_body")
    if options.reject_listings and words < options.min_words:
        return Rejection("no_body", f"{words} words")
    if (
        options.reject_listings
        and words < options.min_words_unmarked
        and not _has_article_markup(signals, page_meta)
    ):
        return Rejection("no_body", f"{words} words and no article markup")

    if options.trafilatura_metadata:
        page_meta = _merge_trafilatura_metadata(page_meta, doc, signals)
        date_source: Any = getattr(doc, "date", None)
    else:

        def date_source() -> str | None:
            # Only pages without structured dates pay for htmldate's extensive search.
            return find_date(
                tree,
                url=url,
                extensive_search=True,
                original_date=True,
                max_date=max_date,
            )

    digest, lanes = text_keys(text)
    language = md.declared_language(signals)
    if language is None and options.detect_language:
        language = md.detect_language(text)
    return Article(
        url=url,
        canonical_url=canonical,
        url_key=url_key(canonical),
        source=source,
        title=page_meta.title,
        authors=page_meta.authors,
        published_at=structured_date
        if structured_date is not None
        else md.published_at(signals, hints, date_source, canonical, fetched_utc),
        modified_at=md.modified_at(signals, fetched_utc),
        language=language,
        sitename=page_meta.sitename,
        description=page_meta.description,
        categories=page_meta.categories,
        tags=page_meta.tags,
        image=page_meta.image,
        text=text,
        word_count=words,
        content_hash=digest,
        simhash=lanes[0],
        simhash_ext=b"".join(lane.to_bytes(8, "little") for lane in lanes[1:]),
        fetched_at=fetched_utc,
        extra={"encoding": decoded.encoding},
    )


def _merge_trafilatura_metadata(
    mine: md.PageMeta, doc: Any, signals: md.PageSignals
) -> md.PageMeta:
    """trafilatura's own metadata fields, with structured data preferred where it exists."""
    ld = signals.ld_article
    authors = md.clean_authors(ld.get("author")) if ld.get("author") else []
    if not authors and getattr(doc, "author", None):
        authors = md.clean_authors(str(doc.author).split(";"))
    return md.PageMeta(
        title=_first_str(getattr(doc, "title", None), mine.title),
        authors=authors or mine.authors,
        sitename=_first_str(getattr(doc, "sitename", None), mine.sitename),
        description=_first_str(getattr(doc, "description", None), mine.description),
        image=_first_str(getattr(doc, "image", None), mine.image),
        categories=list(getattr(doc, "categories", None) or []) or mine.categories,
        tags=list(getattr(doc, "tags", None) or []) or mine.tags,
    )


def _body(
    doc: Any,
    signals: md.PageSignals,
    options: ExtractionOptions,
    template: TemplateModel | None,
    title_line: str | None,
) -> list[str]:
    """trafilatura's text, cleaned: headline, template blocks and boilerplate removed."""
    paragraphs = _clean_text(getattr(doc, "text", None) or "") if doc is not None else []
    if paragraphs and title_line and _same_line(paragraphs[0], title_line):
        paragraphs = paragraphs[1:]  # the headline is metadata, not body text
    if options.use_template and template is not None and template.keys:
        paragraphs = [p for p in paragraphs if not template.is_template(p)]
    if options.boilerplate_filter:
        paragraphs = filter_paragraphs(paragraphs, frozenset(signals.link_texts))
    if options.repair_split_body and signals.body_chunks:
        paragraphs = add_missing_chunks(paragraphs, signals.body_chunks)
    if options.use_jsonld_body:
        paragraphs = repair_with_article_body(paragraphs, signals.ld_article.get("articleBody"))
    return paragraphs


def _rebuild_tree(
    text: str, used: HtmlElement, prune_ids: frozenset[str], prune_classes: frozenset[str]
) -> HtmlElement:
    """The tree `_extract` had before lending it to trafilatura: parsed and pruned again."""
    tree = parse_html(text)
    if tree is None:  # parsed before, so it parses again; kept for the type checker
        return used
    prune_tree(tree, prune_ids, prune_classes)
    return tree


def _trafilatura(
    tree: HtmlElement,
    url: str,
    options: ExtractionOptions,
    date_params: dict[str, Any],
    *,
    precision: bool,
    lend: HtmlElement | None = None,
    seed: tuple[HtmlElement, RawPrunes] | None = None,
) -> Any:
    """One trafilatura pass. It copies the tree it is given (passes are independent) unless
    the tree is lent (``lend`` is ``tree``): then the tree is used up. ``seed``: the lent
    tree's raw-tree prune matches (see `extraction.fast_xpaths.RawTreeWalk`)."""
    args: dict[str, Any] = {
        "url": url,
        "favor_precision": precision,
        "favor_recall": options.favor_recall,
        "include_comments": options.include_comments,
        "include_tables": options.include_tables,
        "with_metadata": options.trafilatura_metadata,
        "date_extraction_params": date_params,
    }
    # The Extractor bare_extraction would build from these arguments, without re-reading
    # trafilatura's config each call (None: it builds its own from them).
    settings = extractor(**args)
    focus_precision = precision and not options.favor_recall  # trafilatura's focus
    classed = (seed[0], seed[1].classed) if seed is not None else None
    with (
        fast_prunes(seed, focus_precision),
        lean_copies(lend),
        fast_readability(classed),
        fast_texts(),
    ):
        return trafilatura.bare_extraction(
            tree,
            **args,
            deduplicate=False,
            prune_xpath=list(options.prune_xpath) or None,
            options=settings,
        )


def _same_line(a: str, b: str) -> bool:
    return re.findall(r"\w+", a.casefold()) == re.findall(r"\w+", b.casefold())


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
