"""Page metadata beyond trafilatura: JSON-LD, meta tags, canonical URL, authors, dates, language."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from extraction.scan import TreeScan
from storage.dedup import joined_words
from storage.urls import canonicalize_url, same_site

logger = logging.getLogger(__name__)

#: JSON-LD @type values that mean "this page is one article".
ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "blogposting",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "socialmediaposting",
        "scholarlyarticle",
        "techarticle",
        "report",
        "liveblogposting",
        "posting",
    }
)
#: JSON-LD @type values that mean "this page lists other pages".
LISTING_TYPES = frozenset(
    {"collectionpage", "itemlist", "searchresultspage", "profilepage", "blog", "website"}
)


@dataclass
class PageSignals:
    """What the page says about itself, read once from the parsed tree (read-only)."""

    html_lang: str | None = None
    canonical: str | None = None
    og_type: str | None = None
    ld_types: set[str] = field(default_factory=set)
    ld_article: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    article_elements: int = 0
    headline_links: int = 0
    headline_link_words: int = 0
    #: Words of the <body> text; None until `count_body_words` counts them.
    body_words: int | None = None
    link_texts: set[str] = field(default_factory=set)
    body_chunks: list[list[str]] = field(default_factory=list)
    meta_all: dict[str, list[str]] = field(default_factory=dict)
    title_tag: str | None = None
    h1: str | None = None
    bylines: list[str] = field(default_factory=list)
    ld_site_name: str | None = None
    body: HtmlElement | None = field(default=None, repr=False, compare=False)

    def count_body_words(self, enough: Callable[[int], bool] | None = None) -> int:
        """Words of the page's <body> text, counted on first use (only the page-type check
        needs them): call it before the tree is pruned or extracted.

        ``enough``: the text is counted piece by piece (`_text_pieces`) and the count may
        stop at a leading part of it, returning that part's words (never more than the
        whole text's) when ``enough`` holds for them; only a count to the end is kept.
        After `_MAX_PIECES` pieces without enough words the whole text is counted at once.
        """
        if self.body_words is not None:
            return self.body_words
        body = self.body
        if body is not None and enough is not None:
            words = 0
            open_word = False  # the text so far ends inside a word
            for pieces, piece in enumerate(_text_pieces(body)):
                if pieces == _MAX_PIECES:
                    break
                if not piece:
                    continue
                found = count_split_words(piece)
                if found and open_word and not piece[0].isspace():
                    found -= 1  # its first word continues the last one
                words += found
                open_word = not piece[-1].isspace()
                if words and enough(words):
                    return words
            else:
                self.body_words = words
                return words
        self.body_words = count_split_words(element_text(body)) if body is not None else 0
        return self.body_words


#: Pieces `PageSignals.count_body_words` counts one by one at most.
_MAX_PIECES = 256


def _text_pieces(el: HtmlElement, depth: int = 3) -> Iterator[str]:
    """`element_text(el)` in pieces, in order: its own text, then each child's text (a
    comment or processing instruction adds none; ``depth`` levels down in pieces too) and
    tail."""
    yield el.text or ""
    for child in el:
        if child.tag.__class__ is str:
            if depth > 1 and len(child):
                yield from _text_pieces(child, depth - 1)
            else:
                yield element_text(child)
        yield child.tail or ""


def element_text(el: HtmlElement) -> str:
    """``el.text_content()``, about twice as fast for small elements.

    Both concatenate the subtree's text nodes (libxml2's node content): lxml.html's
    text_content evaluates the XPath ``string()``, which sets up an XPath context per call;
    the text serializer reads the same content without one.
    """
    return etree.tostring(el, method="text", encoding="unicode", with_tail=False)


#: ASCII whitespace as str.split() sees it (chr(c).isspace()) -> b" ", anything else -> b"x".
_SPLIT_CLASSES = bytes(32 if chr(c).isspace() else 120 for c in range(128)) + b"x" * 128


def count_split_words(text: str) -> int:
    """``len(text.split())``; ASCII text is counted without building the list of words."""
    if text.isascii():
        classes = text.encode("ascii").translate(_SPLIT_CLASSES)
        return classes.count(b" x") + (classes[:1] == b"x")
    return len(text.split())


def _walk_ld(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside a JSON-LD payload, @graph and nested lists included."""
    if isinstance(node, list):
        for item in node:
            yield from _walk_ld(item)
    elif isinstance(node, dict):
        yield node
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement"):
            if key in node and isinstance(node[key], list | dict):
                yield from _walk_ld(node[key])


def _ld_types(obj: dict[str, Any]) -> set[str]:
    raw = obj.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {str(v).rsplit("/", 1)[-1].lower() for v in values if isinstance(v, str)}


def _parse_ld(text: str) -> Any:
    text = text.strip().removeprefix("<!--").removesuffix("-->").strip()
    text = text.removeprefix("//<![CDATA[").removesuffix("//]]>").strip()
    try:
        return json.loads(text)
    except ValueError:
        try:
            # Raw control characters inside strings are the most common JSON-LD defect.
            return json.loads(re.sub(r"[\x00-\x1f]", " ", text))
        except ValueError:
            return None


def read_signals(tree: HtmlElement, url: str, scan: TreeScan | None = None) -> PageSignals:
    """Collect JSON-LD, meta tags, canonical link and structure counts from the tree.

    ``scan``: the tree's `extraction.scan.scan_tree` (its lists instead of tag searches).
    """
    signals = PageSignals()
    root = tree.getroottree().getroot()
    lang = root.get("lang") or root.get("xml:lang")
    signals.html_lang = lang.strip() if lang else None
    if scan is not None:
        metas, links, scripts = scan.by_tag["meta"], scan.by_tag["link"], scan.by_tag["script"]
    else:
        metas, links, scripts = tree.iter("meta"), tree.iter("link"), tree.iter("script")
    meta_first, meta_all = signals.meta, signals.meta_all
    for meta in metas:
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        key = key or (meta.get("http-equiv") or "").lower()
        content = meta.get("content")
        if key and content:
            content = content.strip()
            meta_first.setdefault(key, content)
            meta_all.setdefault(key, []).append(content)
    signals.og_type = (signals.meta.get("og:type") or "").lower() or None
    for link in links:
        rel = (link.get("rel") or "").lower().split()
        if "canonical" in rel and link.get("href") and signals.canonical is None:
            signals.canonical = link.get("href", "").strip()
    if signals.canonical is None and signals.meta.get("og:url"):
        signals.canonical = signals.meta["og:url"]
    best_len = -1
    for script in scripts:
        if (script.get("type") or "").lower().strip() != "application/ld+json":
            continue
        data = _parse_ld(script.text or "")
        for obj in _walk_ld(data):
            types = _ld_types(obj)
            signals.ld_types |= types
            if types & {"organization", "newsmediaorganization", "website"} and isinstance(
                obj.get("name"), str
            ):
                signals.ld_site_name = signals.ld_site_name or obj["name"].strip()
            if types & ARTICLE_TYPES:
                body = obj.get("articleBody")
                size = len(body) if isinstance(body, str) else 0
                if size > best_len:
                    best_len = size
                    signals.ld_article = obj
    if scan is not None:
        title, h1 = scan.title, scan.h1
        signals.article_elements = scan.articles
    else:
        title, h1 = tree.find(".//title"), next(tree.iter("h1"), None)
        signals.article_elements = sum(1 for _ in tree.iter("article"))
    if title is not None:
        signals.title_tag = _squash(element_text(title)) or None
    if h1 is not None:
        signals.h1 = _squash(element_text(h1)) or None
    host = urlsplit(url).hostname or ""
    seen: set[str] = set()
    signals.body = tree.find("body")
    link_texts = signals.link_texts
    # XPath filters in C: only anchors with enough text to hold four words reach Python.
    for anchor in _HEADLINE_ANCHORS(tree):
        href = anchor.get("href", "")
        text = element_text(anchor)
        words = text.split()
        if len(words) < 4:
            continue
        # \w+ tokens do not depend on the whitespace between the words.
        link_texts.add(joined_words(text.casefold()))
        if href in seen:
            continue
        seen.add(href)
        if "//" in href:  # absolute or protocol-relative: may leave the site
            target_host = urlsplit(urljoin(url, href)).hostname or ""
            if target_host and host and not same_site(target_host, host):
                continue
        signals.headline_links += 1
        signals.headline_link_words += len(words)
    return signals


#: Every <a href> of the document whose whitespace-normalized text has over 14 characters
#: (``/descendant::a`` selects what ``//a`` does, without its intermediate node-sets).
_HEADLINE_ANCHORS = etree.XPath("/descendant::a[@href][string-length(normalize-space(.)) > 14]")


def _squash(text: str) -> str:
    return " ".join(text.split())


_BYLINE_XPATH = (
    ".//*[@rel='author' or @itemprop='author' or contains(@class, 'byline') or "
    "contains(@class, 'author') or contains(@id, 'author')]"
)


def byline_elements(tree: HtmlElement) -> list[HtmlElement]:
    """What `_BYLINE_XPATH` selects, in document order, in one Python pass over the
    attributes (lxml's XPath engine is slower at five attribute tests per element)."""
    found = []
    for el in tree.iterdescendants(etree.Element):
        for name, value in el.items():
            if (
                (name == "class" and ("byline" in value or "author" in value))
                or (name == "id" and "author" in value)
                or (name in ("rel", "itemprop") and value == "author")
            ):
                found.append(el)
                break
    return found


def _bylines(tree: HtmlElement, candidates: list[HtmlElement] | None = None) -> list[str]:
    """Short texts of byline/author elements (rel=author, itemprop, class names).

    ``candidates``: `byline_elements(tree)` when the caller has them already.
    """
    out: list[str] = []
    if candidates is None:
        candidates = byline_elements(tree)
    for el in candidates[:20]:
        if el.tag in ("meta", "link", "script", "style", "img", "input", "label", "textarea"):
            continue
        if "comment" in (el.get("class") or "") or any(
            a.tag == "form" or "comment" in (a.get("class") or "") for a in el.iterancestors()
        ):
            continue  # the "Name *" label of a reply form is not a byline
        text = _squash(" ".join(el.itertext()))
        if text and len(text.split()) <= 12 and text not in out:
            out.append(text)
        if len(out) >= 5:
            break
    return out


@dataclass(frozen=True)
class PageMeta:
    """Descriptive metadata of the page, from structured data first, then markup."""

    title: str | None
    authors: list[str]
    sitename: str | None
    description: str | None
    image: str | None
    categories: list[str]
    tags: list[str]


_TITLE_SEPARATOR = re.compile(r"\s+(?:\||-|–|—|::|·|»|/)\s+")


def _clean_title(title: str, sitename: str | None) -> str:
    """Drop a ' | Site' / 'Site - ' part: keep the longest segment when separators exist."""
    parts = [p for p in _TITLE_SEPARATOR.split(title) if p.strip()]
    if len(parts) <= 1:
        return title.strip()
    if sitename:
        kept = [p for p in parts if p.strip().casefold() != sitename.strip().casefold()]
        if kept and len(kept) < len(parts):
            parts = kept
    return max(parts, key=len).strip() if len(parts) > 1 else parts[0].strip()


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("url") or value.get("name")
        if isinstance(value, str) and value.strip():
            return _squash(value)
    return None


def page_metadata(
    signals: PageSignals,
    url: str,
    hints: dict[str, Any],
    tree: HtmlElement | None = None,
    byline_candidates: list[HtmlElement] | None = None,
) -> PageMeta:
    """Title, authors, site name, description, image, categories and tags of the page.

    The byline search in the markup (``tree``) only runs when structured data and meta
    tags name no author; ``byline_candidates`` = `byline_elements(tree)` if known.
    """
    meta, ld = signals.meta, signals.ld_article
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    sitename = _first(
        meta.get("og:site_name"), signals.ld_site_name, meta.get("application-name")
    ) or (host or None)
    title: str | None
    structured = _first(meta.get("og:title"), ld.get("headline"), meta.get("twitter:title"))
    h1 = signals.h1
    reference = _clean_title(structured or signals.title_tag or "", sitename)
    if (
        h1
        and any(h1.casefold() in (t or "").casefold() for t in (signals.title_tag, structured))
        and len(h1) >= 0.5 * len(reference)
        and h1.casefold() != (sitename or "").casefold()
    ):
        title = h1
    elif structured:
        title = _clean_title(structured, sitename)
    elif signals.title_tag:
        title = _clean_title(signals.title_tag, sitename)
    else:
        title = h1 or _first(hints.get("title_hint"))
    authors = clean_authors(ld.get("author")) if ld.get("author") else []
    if not authors:
        for key in ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator"):
            values = [v for v in signals.meta_all.get(key, []) if "://" not in v]
            if values:
                authors = clean_authors(values)
                if authors:
                    break
    if not authors and tree is not None:
        signals.bylines = _bylines(tree, byline_candidates)
        authors = clean_authors(signals.bylines[:2])
    categories = [c for v in signals.meta_all.get("article:section", []) for c in ld_strings(v)]
    categories = categories or ld_strings(ld.get("articleSection"))
    tags = [t for v in signals.meta_all.get("article:tag", []) for t in ld_strings(v)]
    tags = tags or ld_strings(meta.get("news_keywords")) or ld_strings(ld.get("keywords"))
    tags = tags or ld_strings(meta.get("keywords"))
    image = _first(meta.get("og:image"), meta.get("twitter:image"), ld.get("image"))
    return PageMeta(
        title=title,
        authors=authors,
        sitename=sitename,
        description=_first(
            meta.get("og:description"), meta.get("description"), meta.get("twitter:description")
        ),
        image=urljoin(url, image) if image else None,
        categories=list(dict.fromkeys(categories)),
        tags=list(dict.fromkeys(tags)),
    )


def canonical_url(signals: PageSignals, url: str) -> str:
    """The page's rel=canonical / og:url when it points inside the same site, else the URL."""
    candidate = signals.canonical
    if candidate:
        absolute = urljoin(url, candidate)
        parts = urlsplit(absolute)
        own = urlsplit(url).hostname or ""
        if parts.scheme in ("http", "https") and parts.hostname and same_site(parts.hostname, own):
            try:
                return canonicalize_url(absolute)
            except ValueError:  # e.g. a port out of range: the page's own URL, then
                pass
    return canonicalize_url(url)


# --- authors -------------------------------------------------------------------------------

_BY_PREFIX = re.compile(
    r"^\s*(?:(?:(?:written|posted|reported|text|story|words|published|photos?)\s+)?"
    r"(?:by|von|par|por|di|door|av|af|от|بقلم|作者)\s*:?\s+|"
    r"(?:text|texto|texte|текст|autor|author|автор|redacción|reporter)\s*:\s*)",
    re.IGNORECASE,
)
_ROLE = re.compile(
    r",?\s*(?:\||–|—|-)?\s*\b(?:staff\s+writer|staff\s+reporter|senior\s+\w+\s+correspondent|"
    r"correspondent|reporter|editor(?:\s+at\s+large)?|contributor|columnist|"
    r"contributing\s+writer|special\s+to\s+[\w\s]+|for\s+the\s+[\w\s]+|"
    r"associated\s+press|the\s+associated\s+press|ap|reuters|afp)\b.*$",
    re.IGNORECASE,
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATEISH = re.compile(
    r"\b(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|"
    + _MONTH
    + r"\s+\d{1,2}\b|\d{1,2}\s+"
    + _MONTH
    + r"(?:\s+\d{4})?\b|(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\d+\s+(?:seconds?|minutes?|"
    r"mins?|hours?|hrs?|days?|weeks?|months?)\s+ago\b|updated\b|published\b|"
    r"\d{1,2}:\d{2}\s*(?:am|pm)?).*$",
    re.IGNORECASE,
)
#: A whole part that is a job title ("Transport Correspondent", "Senior Editor").
_ROLE_ONLY = re.compile(
    r"^(?:[\w-]+\s+){0,3}(?:correspondent|reporter|editor|writer|columnist|contributor|"
    r"journalist|photographer|producer|analyst|staff|desk|bureau|redakteur|redaktion|"
    r"rédaction|redacción|корреспондент|редакция)s?$",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"\s*(?:;|,|\band\b|\bund\b|\bet\b|\by\b|&|\|)\s*", re.IGNORECASE)


def clean_authors(raw: Any) -> list[str]:
    """Names from a JSON-LD author value or a byline string: no 'By', roles or dates."""
    names: list[str] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict):
            value = item.get("name")
            if isinstance(value, list):
                value = " and ".join(str(v) for v in value)
            text = str(value) if value else ""
        elif isinstance(item, str):
            text = item
        else:
            continue
        text = re.sub(r"\s+", " ", text).strip()
        text = _BY_PREFIX.sub("", text)
        text = _DATEISH.sub("", text)
        for part in _SPLIT.split(text):
            part = _BY_PREFIX.sub("", part.strip())
            if _ROLE_ONLY.match(part.strip(" .,:;-–—|")):
                continue
            part = _ROLE.sub("", part).strip(" .,:;-–—|")
            if not part or "@" in part or "http" in part.lower() or len(part) > 60:
                continue
            if not any(ch.isalpha() for ch in part) or len(part.split()) > 6:
                continue
            if part.lower() in {"staff", "admin", "editor", "editors", "news desk", "newsdesk"}:
                continue
            # "Anna Menin" and "Anna Menin Share" (a button inside the byline): keep the first.
            if not any(part == n or part.startswith(n + " ") for n in names):
                names.append(part)
    return names


# --- dates ---------------------------------------------------------------------------------

_URL_DATE = re.compile(
    r"/((?:19|20)\d\d)[/-](0?[1-9]|1[0-2])[/-](0?[1-9]|[12]\d|3[01])(?:/|$|[-_])"
)


def parse_datetime(value: Any) -> datetime | None:
    """An ISO-8601-ish date or datetime as an aware UTC datetime (naive values taken as UTC)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        match = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
        if not match:
            return None
        try:
            year, month, day = (int(g) for g in match.groups())
            parsed = datetime(year, month, day)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if not 1990 <= parsed.year <= 2100:
        return None
    return parsed


def url_date(url: str) -> datetime | None:
    """A /YYYY/MM/DD/ date in the URL path, as midnight UTC."""
    match = _URL_DATE.search(urlsplit(url).path)
    if not match:
        return None
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    return datetime.combine(day, time(), tzinfo=UTC)


_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "sailthru.date",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "date",
)
_MODIFIED_META = ("article:modified_time", "og:updated_time", "datemodified", "dcterms.modified")


def published_at(
    signals: PageSignals,
    hints: dict[str, Any],
    htmldate_value: Callable[[], str | None] | str | None,
    url: str,
    fetched_at: datetime,
) -> datetime | None:
    """First of: JSON-LD, meta tags, feed/sitemap hint, URL date, htmldate; never after fetch.

    ``htmldate_value`` may be a callable: htmldate is costly and only asked when the page's
    structured data and the hints have no usable date.
    """
    candidates: list[Any] = [signals.ld_article.get("datePublished")]
    candidates += [signals.meta.get(k) for k in _PUBLISHED_META]
    hint = hints.get("published_hint")
    candidates.append(hint.isoformat() if isinstance(hint, datetime) else hint)
    limit = fetched_at.astimezone(UTC) if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    found = url_date(url)
    # The URL's /YYYY/MM/DD/ is as precise as htmldate's day and costs nothing.
    candidates.append(found.isoformat() if found is not None else None)
    candidates.append(htmldate_value)
    for value in candidates:
        if callable(value):
            value = value()
        parsed = parse_datetime(value)
        # A date after the fetch is a template artefact (or a clock), never a publication date.
        if parsed is not None and parsed.date() <= limit.date():
            return parsed
    return None


def modified_at(signals: PageSignals, fetched_at: datetime) -> datetime | None:
    """The page's own last-modified date (JSON-LD, then meta tags), never after the fetch."""
    limit = fetched_at.astimezone(UTC) if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    for value in [signals.ld_article.get("dateModified")] + [
        signals.meta.get(k) for k in _MODIFIED_META
    ]:
        parsed = parse_datetime(value)
        if parsed is not None and parsed.date() <= limit.date():
            return parsed
    return None


# --- language ------------------------------------------------------------------------------

_LANG_CODE = re.compile(r"^([a-zA-Z]{2})(?:$|[-_])")


def declared_language(signals: PageSignals) -> str | None:
    """ISO 639-1 code from <html lang>, Content-Language, og:locale or JSON-LD inLanguage."""
    for value in (
        signals.html_lang,
        signals.meta.get("content-language"),
        signals.meta.get("language"),
        signals.meta.get("og:locale"),
        signals.ld_article.get("inLanguage")
        if isinstance(signals.ld_article.get("inLanguage"), str)
        else None,
    ):
        if value:
            match = _LANG_CODE.match(value.strip())
            if match:
                return match.group(1).lower()
    return None


def detect_language(text: str) -> str | None:
    """ISO 639-1 code detected with py3langid (deterministic), None for too little text."""
    if len(text) < 20:
        return None
    import py3langid  # imported lazily: loading its model costs ~0.3 s per process

    lang, _score = py3langid.classify(text[:2000])
    return str(lang) if lang else None


# --- JSON-LD lists ---------------------------------------------------------------------------


def ld_strings(value: Any) -> list[str]:
    """A JSON-LD keywords / articleSection value as a clean list of strings."""
    if isinstance(value, str):
        items = [v for v in re.split(r"\s*[,;]\s*", value)]
    elif isinstance(value, list):
        items = [
            v if isinstance(v, str) else str(v.get("name", "")) if isinstance(v, dict) else ""
            for v in value
        ]
    else:
        return []
    out: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in out and len(item) <= 100:
            out.append(item)
    return out
