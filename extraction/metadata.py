"""Page metadata beyond trafilatura: JSON-LD, meta tags, canonical URL, authors, dates, language."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

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
    body_words: int = 0
    link_texts: set[str] = field(default_factory=set)
    body_chunks: list[list[str]] = field(default_factory=list)


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


def read_signals(tree: HtmlElement, url: str) -> PageSignals:
    """Collect JSON-LD, meta tags, canonical link and structure counts from the tree."""
    signals = PageSignals()
    root = tree.getroottree().getroot()
    lang = root.get("lang") or root.get("xml:lang")
    signals.html_lang = lang.strip() if lang else None
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        key = key or (meta.get("http-equiv") or "").lower()
        content = meta.get("content")
        if key and content and key not in signals.meta:
            signals.meta[key] = content.strip()
    signals.og_type = (signals.meta.get("og:type") or "").lower() or None
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        if "canonical" in rel and link.get("href") and signals.canonical is None:
            signals.canonical = link.get("href", "").strip()
    if signals.canonical is None and signals.meta.get("og:url"):
        signals.canonical = signals.meta["og:url"]
    best_len = -1
    for script in tree.iter("script"):
        if (script.get("type") or "").lower().strip() != "application/ld+json":
            continue
        data = _parse_ld(script.text or "")
        for obj in _walk_ld(data):
            types = _ld_types(obj)
            signals.ld_types |= types
            if types & ARTICLE_TYPES:
                body = obj.get("articleBody")
                size = len(body) if isinstance(body, str) else 0
                if size > best_len:
                    best_len = size
                    signals.ld_article = obj
    host = urlsplit(url).hostname or ""
    seen: set[str] = set()
    signals.article_elements = sum(1 for _ in tree.iter("article"))
    body = tree.find("body")
    if body is not None:
        signals.body_words = len(body.text_content().split())
    for anchor in tree.iter("a"):
        href = anchor.get("href")
        if not href:
            continue
        words = anchor.text_content().split()
        if len(words) < 4:
            continue
        signals.link_texts.add(" ".join(re.findall(r"\w+", " ".join(words).casefold())))
        target = urljoin(url, href)
        target_host = urlsplit(target).hostname or ""
        if target in seen or (target_host and host and not same_site(target_host, host)):
            continue
        seen.add(target)
        signals.headline_links += 1
        signals.headline_link_words += len(words)
    return signals


def canonical_url(signals: PageSignals, url: str) -> str:
    """The page's rel=canonical / og:url when it points inside the same site, else the URL."""
    candidate = signals.canonical
    if candidate:
        absolute = urljoin(url, candidate)
        parts = urlsplit(absolute)
        own = urlsplit(url).hostname or ""
        if parts.scheme in ("http", "https") and parts.hostname and same_site(parts.hostname, own):
            return canonicalize_url(absolute)
    return canonicalize_url(url)


# --- authors -------------------------------------------------------------------------------

_BY_PREFIX = re.compile(
    r"^\s*(?:(?:written|posted|reported|text|story|words|published|photos?)\s+)?"
    r"(?:by|von|par|por|di|door|av|af|от|بقلم|作者)\s*:?\s+",
    re.IGNORECASE,
)
_ROLE = re.compile(
    r",?\s*(?:\||–|—|-)?\s*\b(?:staff\s+writer|staff\s+reporter|senior\s+\w+\s+correspondent|"
    r"correspondent|reporter|editor(?:\s+at\s+large)?|contributor|columnist|"
    r"contributing\s+writer|special\s+to\s+[\w\s]+|for\s+the\s+[\w\s]+|"
    r"associated\s+press|the\s+associated\s+press|ap|reuters|afp)\b.*$",
    re.IGNORECASE,
)
_DATEISH = re.compile(
    r"\b(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"[a-z]*\.?\s+\d{1,2}(?:,\s*\d{4})?|updated|published|\d{1,2}:\d{2}\s*(?:am|pm)?)\b.*$",
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
            if part not in names:
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
    htmldate_value: str | None,
    url: str,
    fetched_at: datetime,
) -> datetime | None:
    """First of: JSON-LD, meta tags, feed/sitemap hint, htmldate, URL date; never after fetch."""
    candidates: list[Any] = [signals.ld_article.get("datePublished")]
    candidates += [signals.meta.get(k) for k in _PUBLISHED_META]
    hint = hints.get("published_hint")
    candidates.append(hint.isoformat() if isinstance(hint, datetime) else hint)
    candidates.append(htmldate_value)
    limit = fetched_at.astimezone(UTC) if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    for value in candidates:
        parsed = parse_datetime(value)
        # A date after the fetch is a template artefact (or a clock), never a publication date.
        if parsed is not None and parsed.date() <= limit.date():
            return parsed
    found = url_date(url)
    return found if found is not None and found <= limit else None


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

    lang, _score = py3langid.classify(text[:5000])
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
