"""Pure discovery parsers: RSS/Atom feeds, sitemaps (index, gzip, Google News), robots.txt."""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.entities import html5
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

logger = logging.getLogger(__name__)

#: A gzip sitemap may not expand past this (the sitemaps protocol caps files at 50 MB).
MAX_DECOMPRESSED = 50 * 1024 * 1024

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


class DiscoveryError(ValueError):
    """A document that should be a feed or sitemap but cannot be parsed as one."""


@dataclass(frozen=True)
class Entry:
    """One URL found in a feed or sitemap, with the hints the document gave about it."""

    url: str
    title: str | None = None
    published: datetime | None = None  # feed pubDate / news:publication_date
    lastmod: datetime | None = None  # sitemap lastmod / atom updated
    #: Sitemaps: the latest instant the entry's date (publication, else lastmod) may stand
    #: for, which `sitemap_max_age` compares: a date without a time of day is that whole
    #: day in every time zone (DATE_ONLY_SPAN after its midnight UTC).
    latest: datetime | None = None


@dataclass(frozen=True)
class Sitemap:
    """A parsed sitemap: either a sitemap index (`sitemaps`) or a urlset (`urls`)."""

    kind: str  # "urlset" | "sitemapindex" | "text"
    urls: list[Entry]
    sitemaps: list[Entry]


#: A W3C date without a time of day ends, in the last time zone (UTC-12), this long after
#: its midnight UTC.
DATE_ONLY_SPAN = timedelta(hours=36)
_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*\Z")


def _latest(text: str | None, when: datetime | None) -> datetime | None:
    """`when` (parsed from `text`), or for a date-only `text` the end of that day."""
    if when is not None and text and _DATE_ONLY.match(text):
        try:
            return when + DATE_ONLY_SPAN
        except OverflowError:  # 9999-12-31
            return when
    return when


def _parser(recover: bool) -> etree.XMLParser:
    # No entity expansion, no network, no DTD: feeds and sitemaps are untrusted input.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=recover,
        remove_comments=True,
        remove_pis=True,
    )


def parse_date(value: str | None) -> datetime | None:
    """RFC 822 (RSS) or ISO 8601 (Atom, sitemaps) -> aware UTC datetime; None if unparseable."""
    if not value:
        return None
    text = value.strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def maybe_gunzip(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    """Decompress gzip bytes (by magic number), refusing to expand past `limit`."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            while chunk := gz.read(65536):
                out.write(chunk)
                if out.tell() > limit:
                    raise DiscoveryError(f"gzip document expands past {limit} bytes")
    except (OSError, EOFError) as exc:
        raise DiscoveryError(f"corrupt gzip document: {exc}") from None
    return out.getvalue()


def _root(data: bytes, base_url: str | None = None) -> etree._Element:
    # Whitespace and a UTF-8 byte order mark before `<?xml`, in either order, are common
    # (PHP templates); left in, libxml2's recovery mangles the document (`&amp;` dropped).
    data = maybe_gunzip(data).lstrip()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :].lstrip()
    if not data:
        raise DiscoveryError("empty document")
    try:
        return etree.fromstring(data, parser=_parser(recover=False), base_url=base_url)
    except etree.XMLSyntaxError:
        pass
    # Not well-formed. libxml2's recovery (2.14) drops every `&amp;` after the first
    # error, so URLs are mangled (`?id=1&amp;p=2` read as `?id=1p=2`): the two errors real
    # feeds and sitemaps have most, a raw `&` in a URL and an HTML entity (`&nbsp;`), are
    # repaired in the bytes first.
    if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # bytes, not text
        data = _repair(data)
    try:
        root = etree.fromstring(data, parser=_parser(recover=True), base_url=base_url)
    except etree.XMLSyntaxError as exc:
        raise DiscoveryError(f"not XML: {exc}") from None
    if root is None:
        raise DiscoveryError("not XML")
    return root


#: A CDATA section (left as it is), or an `&` with the reference it starts, if any.
_AMPERSAND = re.compile(
    rb"<!\[CDATA\[.*?\]\]>|&(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)?",
    re.S,
)
_XML_ENTITIES = frozenset({b"amp;", b"lt;", b"gt;", b"quot;", b"apos;"})


def _repair_ampersand(match: re.Match[bytes]) -> bytes:
    ref = match.group(1)
    if ref is None:
        whole = match.group(0)
        return whole if whole.startswith(b"<") else b"&amp;"  # a CDATA section, a raw `&`
    if ref.startswith(b"#") or ref in _XML_ENTITIES:
        return match.group(0)
    text = html5.get(ref.decode("ascii"))
    if text is None:  # not an HTML entity either: the text as written
        return b"&amp;" + ref
    return b"".join(b"&#%d;" % ord(char) for char in text)


def _repair(data: bytes) -> bytes:
    """Raw `&` escaped and HTML named entities made numeric character references (whatever
    the document's encoding), outside CDATA sections."""
    return _AMPERSAND.sub(_repair_ampersand, data)


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for child in el:
        if _local(child.tag) == name:
            return child
    return None


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    return text or None


def _http_url(href: str | None, base_url: str) -> str | None:
    if not href:
        return None
    try:
        url = urljoin(base_url, href.strip())
        ok = urlsplit(url).scheme in ("http", "https")
    except ValueError:  # e.g. 'http://[::1' in hostile input
        return None
    return url if ok else None


def _base(el: etree._Element, base_url: str) -> str:
    """The base URL in effect at `el`: its `xml:base` chain (Atom feeds use it) over the
    document's URL."""
    try:
        return el.base or base_url
    except ValueError:  # a base libxml2 cannot decode
        return base_url


def _item_link(item: etree._Element) -> str | None:
    """An RSS item's `<link>` text: the first link element that has text (an empty
    `<atom:link href=... rel=...>` may come before it)."""
    for child in item:
        if _local(child.tag) == "link":
            text = _text(child)
            if text:
                return text
    return None


def parse_feed(data: bytes, base_url: str) -> list[Entry]:
    """Entries of an RSS 2.0, RSS 1.0 (RDF) or Atom feed, in document order."""
    root = _root(data, base_url)
    kind = _local(root.tag)
    entries: list[Entry] = []
    if kind == "feed":  # Atom
        for item in root:
            if _local(item.tag) != "entry":
                continue
            href = link_el = None
            for link in item:
                if _local(link.tag) == "link" and link.get("rel", "alternate") == "alternate":
                    href, link_el = link.get("href"), link
                    break
            url = _http_url(href, _base(link_el, base_url)) if link_el is not None else None
            if url:
                entries.append(
                    Entry(
                        url=url,
                        title=_text(_child(item, "title")),
                        published=parse_date(_text(_child(item, "published")))
                        or parse_date(_text(_child(item, "updated"))),
                        lastmod=parse_date(_text(_child(item, "updated"))),
                    )
                )
        return entries
    if kind not in ("rss", "rdf"):
        raise DiscoveryError(f"not a feed (root element <{kind}>)")
    for item in root.iter():
        if _local(item.tag) != "item":
            continue
        href = _item_link(item)
        if not href:
            guid = _child(item, "guid")
            if guid is not None and guid.get("isPermaLink", "true").lower() == "true":
                href = _text(guid)
        url = _http_url(href, _base(item, base_url))
        if url:
            published = parse_date(_text(_child(item, "pubdate"))) or parse_date(
                _text(_child(item, "date"))  # dc:date in RSS 1.0
            )
            entries.append(Entry(url=url, title=_text(_child(item, "title")), published=published))
    return entries


def _newness(entry: Entry) -> tuple[int, float]:
    if entry.latest is None:
        return (0, 0.0)
    return (1, -entry.latest.timestamp())


def newest_first(entries: list[Entry]) -> list[Entry]:
    """Sitemap entries by their date (`latest`), newest first, after those without a date
    (which may be the newest); document order kept among equals."""
    return sorted(entries, key=_newness)


#: A text sitemap (sitemaps.org: one URL per line, UTF-8) starts with its first URL.
_TEXT_SITEMAP = re.compile(rb"(?:\xef\xbb\xbf)?\s*https?://", re.I)


def parse_sitemap(data: bytes, base_url: str) -> Sitemap:
    """A urlset (with Google News `news:` fields kept), a sitemap index or a text sitemap;
    gzip accepted."""
    data = maybe_gunzip(data)
    if _TEXT_SITEMAP.match(data):
        text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        found = (_http_url(line.strip(), base_url) for line in text.splitlines())
        return Sitemap(kind="text", urls=[Entry(url=url) for url in found if url], sitemaps=[])
    root = _root(data)
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise DiscoveryError(f"not a sitemap (root element <{kind}>)")
    urls: list[Entry] = []
    sitemaps: list[Entry] = []
    for node in root:
        name = _local(node.tag)
        if name not in ("url", "sitemap"):
            continue
        loc = _http_url(_text(_child(node, "loc")), base_url)
        if not loc:
            continue
        lastmod_text = _text(_child(node, "lastmod"))
        lastmod = parse_date(lastmod_text)
        if name == "sitemap":
            sitemaps.append(Entry(url=loc, lastmod=lastmod, latest=_latest(lastmod_text, lastmod)))
            continue
        title = published = None
        latest = _latest(lastmod_text, lastmod)
        news = _child(node, "news")
        if news is not None:
            title = _text(_child(news, "title"))
            published_text = _text(_child(news, "publication_date"))
            published = parse_date(published_text)
            if published is not None:
                latest = _latest(published_text, published)
        urls.append(
            Entry(url=loc, title=title, published=published, lastmod=lastmod, latest=latest)
        )
    return Sitemap(kind=kind, urls=urls, sitemaps=sitemaps)


def parse_robots_sitemaps(text: str, base_url: str = "") -> list[str]:
    """The `Sitemap:` URLs a robots.txt lists (case-insensitive key, anywhere in the file)."""
    found: list[str] = []
    for line in text.lstrip("\ufeff").splitlines():  # a byte order mark before line 1
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "sitemap":
            url = _http_url(value.split("#", 1)[0].strip(), base_url)
            if url and url not in found:
                found.append(url)
    return found


def find_feed_links(html: bytes, base_url: str) -> list[str]:
    """Feeds a page advertises with `<link rel="alternate" type="application/rss+xml">` etc."""
    if not html.strip():
        return []
    try:
        doc = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    found: list[str] = []
    base = base_url
    for base_el in doc.iter("base"):
        if base_el.get("href"):
            base = urljoin(base_url, base_el.get("href", ""))
            break
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        ctype = (link.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rels and ctype in FEED_TYPES:
            url = _http_url(link.get("href"), base)
            if url and url not in found:
                found.append(url)
    return found


_NEWLINES = re.compile(r"[\r\n\t]")


def clean_href(href: str) -> str:
    """Strip whitespace and embedded newlines browsers ignore inside href values."""
    return _NEWLINES.sub("", href).strip()
