"""Scrapy settings for one crawl of one source, built from its validated config."""

from __future__ import annotations

from typing import Any

from scrapy.settings import default_settings

from crawlers.config import ResolvedSource

#: Our downloader middlewares. Scrapy calls process_request from low to high numbers and
#: process_response / process_exception from high to low, so the WARC archive (990) sees
#: every raw response first (before decompression, redirects and retries act on it), and
#: every failure of the download itself.
DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    "crawlers.middlewares.PoliteRobotsTxtMiddleware": 100,
    "crawlers.middlewares.CredentialsMiddleware": 560,
    "crawlers.middlewares.RetryPacingMiddleware": 555,
    # Outside RetryMiddleware (550) and RetryPacing: sees every attempt before they act.
    "crawlers.middlewares.CircuitBreakerMiddleware": 558,
    "crawlers.middlewares.ArchivedRedirectMiddleware": 970,
    "crawlers.middlewares.SsrfGuardMiddleware": 980,
    "crawlers.middlewares.WarcArchiveMiddleware": 990,
}

#: Scrapy components a crawl never uses. They are left out of the `*_BASE` settings rather
#: than set to None in the overrides: Scrapy imports every class an override names, even a
#: disabled one (the remote control alone imports aiohttp, the cookies middleware
#: tldextract and requests: ~0.2 s of start-up CPU per crawl), and each middleware left in
#: costs CPU on every page. Credentials come from CredentialsMiddleware (no spider
#: http_user), cookies and meta refresh are off, there is no HTTP cache, nobody reads the
#: downloader/* stats, the spider keeps its own depth (`na_depth`; DEPTH_LIMIT is 0) and
#: builds every request's meta afresh (MetaCopyDetection only warns about copied meta).
UNUSED_COMPONENTS = frozenset(
    {
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware",  # PoliteRobotsTxt
        # SsrfGuardMiddleware applies the same allowed_domains policy to every request and
        # redirect hop, and lets a robots.txt redirect leave the site (RFC 9309).
        "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware",
        "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
        "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware",
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
        "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware",
        "scrapy.downloadermiddlewares.stats.DownloaderStats",
        "scrapy.spidermiddlewares.referer.RefererMiddleware",  # PresetRefererMiddleware
        "scrapy.spidermiddlewares.depth.DepthMiddleware",
        "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware",
        "scrapy.extensions.telnet.TelnetConsole",
        "scrapy.extensions.remote_control.RemoteControl",
        "scrapy.extensions.memusage.MemoryUsage",
        "scrapy.extensions.memdebug.MemoryDebugger",
        "scrapy.extensions.feedexport.FeedExporter",
        "scrapy.extensions.spiderstate.SpiderState",
        "scrapy.extensions.closespider.CloseSpider",
    }
)


#: Our spider middlewares (Scrapy's Referer middleware, minus work thrown away).
SPIDER_MIDDLEWARES: dict[str, int | None] = {
    "crawlers.middlewares.PresetRefererMiddleware": 700,
}


def _base(name: str) -> dict[str, int]:
    """Scrapy's default `<name>_BASE` components without the unused ones."""
    defaults: dict[str, int] = getattr(default_settings, f"{name}_BASE")
    return {k: v for k, v in defaults.items() if k not in UNUSED_COMPONENTS}


def build_settings(
    source: ResolvedSource,
    *,
    root: str,
    crawl_id: str,
    result_path: str | None = None,
    max_pages: int | None = None,
    log_level: str = "WARNING",
) -> dict[str, Any]:
    """The Scrapy settings dict for one crawl; `NEWSARCHIVE_*` keys carry our own options."""
    budget = max_pages if max_pages is not None else source.max_pages
    return {
        "BOT_NAME": "newsarchive",
        "USER_AGENT": source.user_agent,
        "ROBOTSTXT_OBEY": source.obey_robots,
        "CONCURRENT_REQUESTS": max(16, source.concurrency_per_domain),
        "CONCURRENT_REQUESTS_PER_DOMAIN": source.concurrency_per_domain,
        # Scrapy 2.19's own downloader lets a slot's whole queue out at once (asyncio reactor).
        "DOWNLOADER": "crawlers.downloader.PoliteDownloader",
        # Responses carry their status line and headers as received, for the WARC record.
        "DOWNLOAD_HANDLERS": {
            "http": "crawlers.downloader.ArchivingDownloadHandler",
            "https": "crawlers.downloader.ArchivingDownloadHandler",
        },
        # Scrapy starts this many asyncio tasks per callback output, even an empty one (100
        # cost ~30% of crawl CPU). We yield only requests, which Scrapy schedules without
        # awaiting anything, so one task does the same work: an output costs ~17 us instead
        # of ~28 us at 4, each request in it ~1.6 us more (every scheduled request is yielded
        # once and every fetch has one output, so a net ~8 us per page in any crawl shape).
        "CONCURRENT_ITEMS": 1,
        # Scrapy re-parses the source of a generator callback for every response (its cache
        # is keyed by the short-lived bound method): ~0.3 ms of reactor CPU per page.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "DOWNLOAD_DELAY": source.download_delay,
        "AUTOTHROTTLE_ENABLED": source.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(source.download_delay, 0.0),
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(source.concurrency_per_domain),
        "DOWNLOAD_TIMEOUT": source.download_timeout,
        "DOWNLOAD_MAXSIZE": source.download_maxsize,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": source.retry_times > 0,
        "RETRY_TIMES": source.retry_times,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "REDIRECT_MAX_TIMES": 10,
        "METAREFRESH_ENABLED": False,
        "COOKIES_ENABLED": False,
        "HTTPERROR_ALLOW_ALL": False,
        "DEPTH_LIMIT": 0,  # depth is the spider's own (feeds/sitemaps do not add to it)
        "DOWNLOADER_MIDDLEWARES_BASE": _base("DOWNLOADER_MIDDLEWARES"),
        "DOWNLOADER_MIDDLEWARES": DOWNLOADER_MIDDLEWARES,
        "SPIDER_MIDDLEWARES_BASE": _base("SPIDER_MIDDLEWARES"),
        "SPIDER_MIDDLEWARES": SPIDER_MIDDLEWARES,
        "EXTENSIONS_BASE": _base("EXTENSIONS"),
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,  # no listening ports in a crawl process
        "TWISTED_DNS_RESOLVER": "crawlers.middlewares.GuardedResolver",  # answers checked (SSRF)
        "LOG_LEVEL": log_level,
        # No per-page "Crawled (200)" DEBUG record built only to be dropped (LOG_LEVEL).
        "LOG_FORMATTER": "crawlers.middlewares.QuietLogFormatter",
        "LOG_ENABLED": True,
        "STATS_DUMP": False,
        "MEMUSAGE_ENABLED": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        # Breadth-first: the budget is spent near the start pages, not down a deep trap.
        "DEPTH_PRIORITY": 0,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "NEWSARCHIVE_SOURCE": source.model_dump(mode="json"),
        "NEWSARCHIVE_ROOT": root,
        "NEWSARCHIVE_CRAWL_ID": crawl_id,
        "NEWSARCHIVE_RESULT_PATH": result_path,
        "NEWSARCHIVE_MAX_PAGES": budget,
        "NEWSARCHIVE_PAGES_BATCH": 500,
        "NEWSARCHIVE_PAGES_FLUSH_SECONDS": 5.0,
        "NEWSARCHIVE_WARC_THREAD": True,
        # ISA-L gzip level (0-3). Level 2 would compress a 64 KB news page in 85 instead of
        # 128 us of CPU (~0.4% of an end-to-end crawl) for members 1.1% larger: the archive
        # is kept for good, so the smaller one.
        "NEWSARCHIVE_WARC_COMPRESS_LEVEL": 3,
        "NEWSARCHIVE_MAX_RETRY_AFTER": 120.0,
        "NEWSARCHIVE_RETRY_BACKOFF": source.retry_backoff,
        "NEWSARCHIVE_CIRCUIT_BREAKER_FAILURES": source.circuit_breaker_failures,
    }
