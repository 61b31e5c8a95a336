"""NewsSpider: one generic, config-driven spider (start pages, feeds, sitemaps, links)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from w3lib.html import get_meta_refresh

from crawlers import discovery
from crawlers.config import ResolvedSource, parse_duration
from storage.urls import canonical_key, canonicalize_url, url_key

logger = logging.getLogger(__name__)

#: Scheduler priorities: discovery documents first, then articles, then navigation pages.
#: A meta refresh is followed when its delay is under this many seconds (Scrapy's default
#: METAREFRESH_MAXDELAY: longer ones reload a live page, they do not move it) and it is
#: in the page's first REFRESH_SCAN bytes (as in Scrapy's MetaRefreshMiddleware).
REFRESH_MAX_DELAY = 100.0
REFRESH_SCAN = 4096

PRIORITY = {"robots": 40, "sitemap": 30, "feed": 30, "start": 20, "article": 10, "page": 0}


@dataclass
class UrlPolicy:
    """Which URLs a source may fetch and which of them are articles (pure, no Scrapy)."""

    allowed_domains: list[str]
    article_patterns: list[re.Pattern[str]] = field(default_factory=list)
    deny_patterns: list[re.Pattern[str]] = field(default_factory=list)

    @classmethod
    def from_source(cls, source: ResolvedSource) -> UrlPolicy:
        """The source's policy; without `allowed_domains`, the hosts of its configured URLs."""
        domains = list(source.allowed_domains)
        if not domains:
            for url in (*source.start_urls, *source.feeds, *source.sitemaps):
                host = urlsplit(url).hostname
                if host and host not in domains:
                    domains.append(host)
        return cls(
            allowed_domains=[_ascii_host(d) for d in domains],
            article_patterns=[re.compile(p) for p in source.article_url_patterns],
            deny_patterns=[re.compile(p) for p in source.deny_url_patterns],
        )

    def host_allowed(self, host: str) -> bool:
        """A host is allowed when it is, or is a subdomain of, an allowed domain (ports
        ignored; internationalized names compared in their IDNA form, as requests send them)."""
        host = _ascii_host(host)
        if not self.allowed_domains:
            return True
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    def verdict(self, url: str) -> str:
        """'ok', or why the URL is dropped: 'invalid', 'non_http', 'offsite' or 'denied'."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            return "invalid"
        if parts.scheme not in ("http", "https"):
            return "non_http"
        if not host or not self.host_allowed(host):
            return "offsite"
        if _matches(self.deny_patterns, url):
            return "denied"
        return "ok"

    def is_article(self, url: str) -> bool:
        return _matches(self.article_patterns, url)


def _ascii_host(host: str) -> str:
    """A host name lower-cased, in its IDNA form (``bücher.example`` -> ``xn--bcher-kva...``)."""
    host = host.lower().strip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not a valid IDNA name: compared as written
        return host


def _matches(patterns: list[re.Pattern[str]], url: str) -> bool:
    """A URL pattern matches the URL as requested (percent-encoded) or as read: patterns
    are written as people read URLs (``/новости/``), links come in either form."""
    if not patterns:
        return False
    if any(p.search(url) for p in patterns):
        return True
    decoded = unquote(url) if "%" in url else url
    return decoded != url and any(p.search(decoded) for p in patterns)


def _join(base: str, href: str) -> str | None:
    """urljoin that returns None for hrefs Python cannot parse (e.g. 'http://[::1')."""
    try:
        return urljoin(base, discovery.clean_href(href))
    except ValueError:
        return None


def utc_now() -> datetime:
    return datetime.now(UTC)


class NewsSpider(scrapy.Spider):
    """Crawls one source: start pages, feeds and sitemaps, then links up to `max_depth`."""

    name = "news"

    def __init__(
        self,
        source: ResolvedSource,
        *,
        max_pages: int | None = None,
        archived: Container[str] = frozenset(),
        recrawl_keys: Container[str] = frozenset(),
        conditional: dict[str, dict[str, Any]] | None = None,
        now: Callable[[], datetime] = utc_now,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=self.name, **kwargs)
        self.source = source
        self.policy = UrlPolicy.from_source(source)
        self.allowed_domains = list(self.policy.allowed_domains)
        self.max_pages = max_pages if max_pages is not None else source.max_pages
        self.max_depth = source.max_depth
        self.archived = archived  # url_keys of articles stored by earlier crawls (status 200)
        self.recrawl_keys = recrawl_keys  # ... of those, first seen inside recrawl_window
        self.conditional = conditional or {}  # url -> {"etag", "last_modified", "record"}
        self.now = now
        self.sitemap_cutoff: datetime | None = None
        if source.sitemap_max_age:
            self.sitemap_cutoff = now() - timedelta(seconds=parse_duration(source.sitemap_max_age))
        # The sitemaps protocol allows 50 MB uncompressed (50,000 URLs with news and image
        # tags take 20+ MB): a sitemap may be larger than a page (download_maxsize).
        self.sitemap_maxsize = max(source.download_maxsize, discovery.MAX_DECOMPRESSED)
        self.seen: set[str] = set()  # url_keys scheduled in this run (bounded by the budget)
        self.scheduled = 0
        self.counts: Counter[str] = Counter()

    # -- requests ---------------------------------------------------------------------------

    def make_request(
        self,
        url: str,
        *,
        via: str,
        kind: str,
        depth: int,
        referrer: str | None = None,
        title_hint: str | None = None,
        published_hint: datetime | None = None,
    ) -> scrapy.Request | None:
        """A request for `url` if policy, dedup, incremental state and budget allow it."""
        url = discovery.clean_href(url)
        verdict = self.policy.verdict(url)
        if verdict != "ok":
            self.counts[f"dropped_{verdict}"] += 1
            return None
        target = canonicalize_url(url)
        key = canonical_key(target)
        if key in self.seen:
            self.counts["duplicate"] += 1
            return None
        if kind == "page" and self.policy.is_article(target):
            kind = "article"
        if kind == "article" and self.already_archived(target, article=True, key=key):
            self.seen.add(key)
            self.counts["skipped_archived"] += 1
            return None
        if self.scheduled >= self.max_pages:
            self.counts["dropped_budget"] += 1
            return None
        self.seen.add(key)
        self.scheduled += 1
        callbacks = {
            "start": self.parse_start,
            "feed": self.parse_feed,
            "sitemap": self.parse_sitemap,
        }
        headers: dict[str, str] = {}
        meta: dict[str, Any] = {
            "na_via": via,
            "na_kind": kind,
            "na_depth": depth,
            "na_referrer": referrer,
            "na_title_hint": title_hint,
            "na_published_hint": published_hint,
        }
        if kind == "sitemap":
            meta["download_maxsize"] = self.sitemap_maxsize
        previous = self.conditional.get(target) if kind in callbacks else None
        if previous:
            if previous.get("etag"):
                headers["If-None-Match"] = previous["etag"]
            if previous.get("last_modified"):
                headers["If-Modified-Since"] = previous["last_modified"]
            meta["na_previous"] = previous.get("record")
            meta["handle_httpstatus_list"] = [304]
        if referrer:
            headers["Referer"] = referrer
        meta["na_url_key"] = (target, key)  # the pages row's url_key, if the URL stays this
        return scrapy.Request(
            target,
            callback=callbacks.get(kind, self.parse_page),
            errback=self.on_error,
            headers=headers,
            meta=meta,
            priority=PRIORITY[kind],
        )

    def already_archived(
        self, url: str, *, article: bool | None = None, key: str | None = None
    ) -> bool:
        """An article URL stored by an earlier crawl and not due for a recrawl.

        `article=None` decides by `article_url_patterns`; feeds and sitemap entries pass True.
        `key` is `url_key(url)` when the caller has it already.
        """
        if not (self.policy.is_article(url) if article is None else article):
            return False
        if key is None:
            key = url_key(url)
        return key in self.archived and key not in self.recrawl_keys

    def initial_requests(self) -> Iterator[scrapy.Request]:
        """Sitemaps and feeds first (they name articles directly), then the start pages."""
        for url in self.source.sitemaps:
            if req := self.make_request(url, via="sitemap", kind="sitemap", depth=0):
                yield req
        for url in self.source.feeds:
            if req := self.make_request(url, via="feed", kind="feed", depth=0):
                yield req
        for url in self.source.start_urls:
            if req := self.make_request(url, via="start", kind="start", depth=0):
                yield req

    async def start(self) -> AsyncIterator[Any]:
        for req in self.initial_requests():
            yield req

    # -- callbacks --------------------------------------------------------------------------

    def body_of(self, response: Response) -> bytes:
        """The response body, or for a 304 the body stored by the crawl that got the 200."""
        if response.status != 304:
            return response.body
        record = response.meta.get("na_previous")
        if not record:
            return b""
        from storage.warc import read_record  # storage is a dependency of crawlers by design

        # Bounded like a download: the stored copy may be a compression bomb.
        limit = int(response.meta.get("download_maxsize") or self.source.download_maxsize)
        try:
            data = read_record(self.settings["NEWSARCHIVE_ROOT"], *record, max_payload=limit)
        except Exception as exc:  # a missing old record must not stop the crawl
            logger.warning("cannot reread %s for 304 of %s: %s", record, response.url, exc)
            return b""
        if data.truncated:
            logger.warning("stored copy of %s exceeds download_maxsize: not read", response.url)
            return b""
        self.counts["not_modified"] += 1
        response.meta["na_previous_type"] = data.content_type
        return bytes(data.payload)

    def parse_start(self, response: Response) -> Iterator[scrapy.Request]:
        body = self.body_of(response)
        depth = int(response.meta.get("na_depth", 0))
        for feed in discovery.find_feed_links(body, response.url):
            if req := self.make_request(
                feed, via="feed", kind="feed", depth=depth, referrer=response.url
            ):
                yield req
        yield from self.follow_links(response, body)

    def parse_page(self, response: Response) -> Iterator[scrapy.Request]:
        yield from self.follow_links(response, response.body)

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        body = self.body_of(response)
        depth = int(response.meta.get("na_depth", 0))
        try:
            entries = discovery.parse_feed(body, response.url)
        except discovery.DiscoveryError as exc:
            self.counts["bad_feed"] += 1
            logger.warning("feed %s not parsed: %s", response.url, exc)
            return
        for entry in entries:
            if req := self.make_request(
                entry.url,
                via="feed",
                kind="article",
                depth=depth + 1,
                referrer=response.url,
                title_hint=entry.title,
                published_hint=entry.published,
            ):
                yield req

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        body = self.body_of(response)
        depth = int(response.meta.get("na_depth", 0))
        if urlsplit(response.url).path.endswith("/robots.txt"):
            text = body.decode("utf-8", errors="replace")
            for url in discovery.parse_robots_sitemaps(text, response.url):
                if req := self.make_request(
                    url, via="sitemap", kind="sitemap", depth=depth, referrer=response.url
                ):
                    yield req
            return
        try:
            sitemap = discovery.parse_sitemap(body, response.url)
        except discovery.DiscoveryError as exc:
            self.counts["bad_sitemap"] += 1
            logger.warning("sitemap %s not parsed: %s", response.url, exc)
            return
        # Newest first: the budget (max_pages) goes to fresh news, not to a site's oldest
        # archives when its index or urlset lists those first.
        for child in discovery.newest_first(sitemap.sitemaps):
            if self._too_old(child.latest):
                self.counts["sitemap_too_old"] += 1
                continue
            if req := self.make_request(
                child.url, via="sitemap", kind="sitemap", depth=depth, referrer=response.url
            ):
                yield req
        for entry in discovery.newest_first(sitemap.urls):
            if self._too_old(entry.latest):
                self.counts["sitemap_too_old"] += 1
                continue
            if req := self.make_request(
                entry.url,
                via="sitemap",
                kind="article",
                depth=depth + 1,
                referrer=response.url,
                title_hint=entry.title,
                published_hint=entry.published,
            ):
                yield req

    def follow_links(self, response: Response, body: bytes) -> Iterator[scrapy.Request]:
        depth = int(response.meta.get("na_depth", 0))
        links = self.source.follow_links and depth < self.max_depth
        # A `<meta http-equiv="refresh">` page is a redirect (CMSes leave one where an
        # article moved): followed like an HTTP redirect, whatever the depth. A substring
        # test of the first 4 KB first: ~2.6 us per page (the whole 66 KB page: ~37 us).
        refresh = b"efresh" in body[:REFRESH_SCAN].lower()
        if not (links or refresh):
            return
        if not isinstance(response, TextResponse) or response.status == 304:
            if response.status == 304 and body:
                # The stored page with its stored Content-Type: a 304 has none, and an empty
                # 304 response's guessed encoding (cp1252) must not decode the stored body.
                stored_type = response.meta.get("na_previous_type") or "text/html"
                response = scrapy.http.HtmlResponse(
                    url=response.url,
                    body=body,
                    headers={"Content-Type": stored_type},
                    request=response.request,
                )
            else:
                return
        assert isinstance(response, TextResponse)
        if refresh and (req := self.follow_refresh(response, depth)):
            yield req
        if not links:
            return
        for href in self.extract_hrefs(response):
            if req := self.make_request(
                href, via="link", kind="page", depth=depth + 1, referrer=response.url
            ):
                yield req

    def follow_refresh(self, response: TextResponse, depth: int) -> scrapy.Request | None:
        """The target of a page's meta refresh (delay under Scrapy's default
        METAREFRESH_MAXDELAY, 100 s), requested as the page was: same discovery, depth,
        kind and hints (an article moved stays an article, a start page a start page)."""
        try:
            interval, url = get_meta_refresh(response.text[:REFRESH_SCAN], self.base_of(response))
        except ValueError:
            return None
        if not url or interval is None or interval >= REFRESH_MAX_DELAY:
            return None
        meta = response.meta
        kind: str = meta["na_kind"] if meta.get("na_kind") in ("article", "start") else "page"
        return self.make_request(
            url,
            via=meta.get("na_via") or "link",
            kind=kind,
            depth=depth,
            referrer=response.url,
            title_hint=meta.get("na_title_hint"),
            published_hint=meta.get("na_published_hint"),
        )

    @staticmethod
    def base_of(response: TextResponse) -> str:
        """The URL relative links of the page resolve against (its `<base href>` if any)."""
        try:
            base = response.xpath("//base/@href").get()
        except ValueError:  # not parseable as HTML at all
            return response.url
        return (_join(response.url, base) or response.url) if base else response.url

    @classmethod
    def extract_hrefs(cls, response: TextResponse) -> Iterable[str]:
        """Absolute URLs of `<a href>` and `<area href>` links, honouring `<base href>`."""
        try:
            hrefs = response.xpath("//a/@href | //area/@href").getall()
        except ValueError:  # not parseable as HTML at all
            return []
        base_url = cls.base_of(response)
        joined = (_join(base_url, h) for h in hrefs if h.strip())
        return [url for url in joined if url]

    def on_error(self, failure: Any) -> None:
        """Failures are archived by the WARC middleware; only count them here."""
        self.counts[f"error_{failure.type.__name__}"] += 1

    def _too_old(self, when: datetime | None) -> bool:
        return self.sitemap_cutoff is not None and when is not None and when < self.sitemap_cutoff
