"""Canonical URL keys: one key per article whatever tracking parameters or host case say."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import safe_url_string

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|yclid|igshid|"
    r"_ga|_gl|ref_src|ref|cmpid|ito|ocid|at_medium|at_campaign|smid|sr_share|share|"
    r"outputtype|amp|__twitter_impression)$",
    re.IGNORECASE,
)
# Path suffixes that render the same article in another form (AMP, print).
_VARIANT_SUFFIX = re.compile(r"/(amp|print)/?$|\.amp(?=\.html?$|$)", re.IGNORECASE)
_SESSION_PARAMS = re.compile(r"^(sid|sessionid|phpsessid|jsessionid)$", re.IGNORECASE)
_ESCAPE = re.compile(r"%[0-9a-f]{2}", re.IGNORECASE)
#: URLs `safe_url_string` returns unchanged (up to what canonicalization then folds: host
#: case, default port, empty path): http(s), plain host, RFC 3986 path and query characters,
#: every `%` an escape, no dot segment, no fragment. Most links are; they skip w3lib's
#: WHATWG parser (~9 us a URL, twice the rest of canonicalization).
_ALREADY_SAFE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?"
    r"(?:/(?:[A-Za-z0-9\-_~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2}|\.(?![./?]|$))*)?"
    r"(?:\?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?",
    re.IGNORECASE,
)


def canonicalize_url(url: str) -> str:
    """Normalize a URL: lower-case scheme/host, no default port, no fragment, no tracking
    or session parameters, sorted query, AMP/print variants folded onto the article URL.

    First in the form a request sends (w3lib's `safe_url_string`, as `scrapy.Request`
    does): IDNA host, non-ASCII and unsafe characters of path and query percent-encoded.
    So a URL found as ``/новости/`` and the same URL fetched (``/%D0%BD...``) have one
    key, and the key the spider skips by is the key the pages row stores. Escapes in the
    path are upper-cased (``%d0`` is ``%D0``, RFC 3986 6.2.2.1: WordPress writes non-Latin
    slugs in lower case, other links to them may not); the query is decoded and encoded.
    Raises ValueError for an invalid port.
    """
    url = url.strip()
    return _canonicalize(url if _ALREADY_SAFE.fullmatch(url) else safe_url_string(url))


def _canonicalize(url: str) -> str:
    """`canonicalize_url` of a URL already in request form."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = re.sub(r";jsessionid=[^/?#]*", "", parts.path, flags=re.IGNORECASE) or "/"
    path = _VARIANT_SUFFIX.sub("", path) or "/"
    if path.startswith("/amp/"):
        path = path[4:]
    if "%" in path:
        path = _ESCAPE.sub(lambda m: m.group(0).upper(), path)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAMS.match(k) and not _SESSION_PARAMS.match(k)
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def url_key(url: str) -> str:
    """The dedup key of a URL: its canonical form without the scheme and trailing slash."""
    return canonical_key(canonicalize_url(url))


def canonical_key(canon: str) -> str:
    """`url_key` of a URL that is already `canonicalize_url`'s output (not done again)."""
    key = canon.split("://", 1)[-1]
    if key.endswith("/") and "?" not in key:
        key = key.rstrip("/") or key
    return key


def article_id(key: str) -> str:
    """Stable id of an article: a short hash of its canonical URL key."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=10).hexdigest()


def same_site(host_a: str, host_b: str) -> bool:
    """True when two host names belong to the same site (ignoring a leading 'www.')."""
    a = host_a.lower().removeprefix("www.")
    b = host_b.lower().removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)
