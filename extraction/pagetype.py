"""Page-type decision: is this page one article, or a home/section/tag/author/search listing?"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from extraction.metadata import ARTICLE_TYPES, PageSignals

_LISTING_SEGMENTS = frozenset(
    [
        "tag",
        "tags",
        "category",
        "categories",
        "topic",
        "topics",
        "section",
        "sections",
        "author",
        "authors",
        "search",
        "archive",
        "archives",
        "label",
        "labels",
        "subject",
        "subjects",
        "keyword",
        "keywords",
        "series",
        "index",
    ]
)
_PAGINATION = re.compile(r"/page/\d+/?$|/p\d+/?$", re.IGNORECASE)
_LISTING_QUERY = frozenset({"s", "q", "query", "search", "page", "paged", "tag", "cat"})
_ARTICLE_SLUG = re.compile(r"(?:[^/]*-){3,}[^/]+|\d{5,}|\.s?html?$")
#: Teaser blocks on a page above which, with no article signal, it is a listing.
_MIN_TEASERS = 4
#: Share of the page's words inside headline-like links above which it is a listing.
_MAX_LINK_SHARE = 0.55


def url_listing_reason(url: str) -> str | None:
    """A reason when the URL has the shape of a home, tag, section, author, search or page N."""
    parts = urlsplit(url)
    path = parts.path or "/"
    segments = [s for s in path.split("/") if s]
    is_root = not segments or (len(segments) == 1 and re.fullmatch(r"index\.\w+", segments[0]))
    article_query = any(
        k.lower() in ("p", "id", "story", "article") for k, _ in parse_qsl(parts.query)
    )
    if is_root and not article_query:
        return "url:home"
    if _PAGINATION.search(path):
        return "url:pagination"
    query_keys = {k.lower() for k, _ in parse_qsl(parts.query)}
    if query_keys & {"s", "q", "query", "search"} and len(segments) <= 1:
        return "url:search"
    for i, seg in enumerate(segments):
        if seg.lower() in _LISTING_SEGMENTS:
            rest = segments[i + 1 :]
            # /category/politics/ is a listing; /category/politics/some-long-article-slug/ is not.
            if len(rest) <= 2 and not any(_ARTICLE_SLUG.search(r) for r in rest):
                return f"url:{seg.lower()}"
    return None


def listing_reason(signals: PageSignals, canonical: str, url: str) -> str | None:
    """Why the page is not an article, or None when it may be one (the body check comes later)."""
    if signals.ld_types & ARTICLE_TYPES or signals.og_type == "article":
        return None
    for candidate in (url, canonical):
        reason = url_listing_reason(candidate)
        if reason:
            return reason
    if signals.ld_types & {"collectionpage", "searchresultspage", "profilepage"}:
        return "jsonld:collection"
    if signals.article_elements >= _MIN_TEASERS:
        return "structure:teasers"
    # No headline link words: never over any share of the body (not counted then).
    if signals.headline_link_words:
        links = signals.headline_link_words
        # Counting stops once the body has words enough: more only lowers the share.
        body_words = signals.count_body_words(lambda words: not links > _MAX_LINK_SHARE * words)
        if body_words and links > _MAX_LINK_SHARE * body_words:
            return "structure:links"
    return None
