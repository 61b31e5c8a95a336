"""Child-process entry point: one Scrapy crawl of one source (`python -m crawlers.process`)."""

# The crawl process leaves pandas out (crawlers/no_pandas.py), which must happen before
# pyarrow is imported: this file's other imports come after that step.
from __future__ import annotations

import sys

if __name__ == "__main__":
    from crawlers.no_pandas import install

    install()

import gc
import json
import logging
import resource
from collections.abc import Container
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# Scrapy imports this when the crawl starts, deep in the reactor's stack: its deprecated
# class shims call inspect.stack(), which looks up the source of every frame on the stack
# (scanning all loaded modules for each). Imported here, at a shallow stack, it costs
# ~30 ms less CPU per crawl.
import scrapy.core.downloader.contextfactory  # noqa: F401 - see above
from pydispatch import dispatcher
from scrapy.signalmanager import SignalManager
from scrapy.utils.signal import send_catch_log

from crawlers.config import ResolvedSource, parse_duration
from crawlers.settings import build_settings
from crawlers.spiders import NewsSpider
from storage.locks import LockTimeout, source_lock
from storage.pages import archived_url_keys, read_pages
from storage.warc import WarcError, read_record

logger = logging.getLogger(__name__)

#: Conditional-GET validators are looked up in pages rows this recent.
VALIDATOR_LOOKBACK = timedelta(days=60)


#: pydispatch's key for receivers connected for any sender.
_ANY_SENDER = id(dispatcher.Any)


class QuietSignalManager(SignalManager):
    """Scrapy's signal manager, returning at once for a signal nobody is connected to.

    Scrapy sends ~7 signals per page (request_scheduled, request_reached_downloader,
    headers_received, bytes_received per chunk, response_downloaded, response_received,
    request_left_downloader), most with no receiver in a crawl; each send still cost
    ~2.3 us of pydispatch lookups and generators. The check reads the same four entries of
    pydispatch's connection table as `getAllReceivers` (this sender or any, this signal or
    any), so the result is what Scrapy returns: [] when none is connected.
    """

    def send_catch_log(self, signal: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
        sender = kwargs.setdefault("sender", self.sender)
        connections = dispatcher.connections
        for key in (id(sender), _ANY_SENDER):
            signals = connections.get(key)
            if signals and (signals.get(signal) or signals.get(dispatcher.Any)):
                return send_catch_log(signal, **kwargs)  # what SignalManager does
        return []


def recrawl_keys(root: str, source: ResolvedSource, now: datetime) -> Container[str]:
    """url_keys first archived (status 200) inside the source's recrawl_window."""
    if not source.recrawl_window:
        return frozenset()
    cutoff = now - timedelta(seconds=parse_duration(source.recrawl_window))
    table = read_pages(root, source.name, columns=["url_key", "status", "fetched_at"])
    table = table.filter(pc.equal(table["status"], 200))
    if table.num_rows == 0:
        return frozenset()
    first = table.group_by("url_key").aggregate([("fetched_at", "min")])
    recent = first.filter(
        pc.greater_equal(first["fetched_at_min"], pa.scalar(cutoff, first["fetched_at_min"].type))
    )
    return frozenset(recent["url_key"].to_pylist())


def conditional_validators(root: str, source: ResolvedSource, now: datetime) -> dict[str, Any]:
    """url -> ETag / Last-Modified of the latest 200 of each feed, sitemap and start page
    (not of a 200 whose body was unusable: a row with an error, such as a compression bomb,
    has no stored copy a 304 could stand for)."""
    table = read_pages(
        root,
        source.name,
        since=now - VALIDATOR_LOOKBACK,
        columns=[
            "url",
            "status",
            "depth",
            "error",
            "fetched_at",
            "warc_file",
            "warc_offset",
            "warc_length",
        ],
    )
    if table.num_rows == 0:
        return {}
    mask = pc.and_(
        pc.and_(pc.equal(table["status"], 200), pc.equal(table["depth"], 0)),
        pc.is_null(table["error"]),
    )
    rows = table.filter(mask).sort_by([("fetched_at", "descending")]).to_pylist()
    found: dict[str, Any] = {}
    for row in rows:
        if row["url"] in found or row["warc_file"] is None:
            continue
        ref = (row["warc_file"], row["warc_offset"], row["warc_length"])
        try:
            rec = read_record(root, *ref, max_payload=0)
        except WarcError as exc:
            logger.warning("validators of %s unreadable: %s", row["url"], exc)
            continue
        etag, modified = rec.header("ETag"), rec.header("Last-Modified")
        if etag or modified:
            found[row["url"]] = {"etag": etag, "last_modified": modified, "record": list(ref)}
    return found


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run one crawl described by `job` (see runner.py) and return the result dict."""
    from scrapy.crawler import CrawlerProcess

    source = ResolvedSource(**job["source"])
    root: str = job["root"]
    crawl_id: str = job["crawl_id"]
    now = datetime.now(UTC)
    settings = build_settings(
        source,
        root=root,
        crawl_id=crawl_id,
        max_pages=job.get("max_pages"),
        log_level=job.get("log_level", "WARNING"),
    )
    if job.get("warc_thread") is not None:
        settings["NEWSARCHIVE_WARC_THREAD"] = bool(job["warc_thread"])
    if job.get("warc_compress_level") is not None:
        settings["NEWSARCHIVE_WARC_COMPRESS_LEVEL"] = int(job["warc_compress_level"])
    if job.get("pages_batch"):
        settings["NEWSARCHIVE_PAGES_BATCH"] = int(job["pages_batch"])
    archived = archived_url_keys(root, source.name)
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(NewsSpider)
    # Before anything holds the crawler's signal manager (the engine, downloader and
    # scraper keep a reference); connections live in pydispatch's table either way.
    crawler.signals = QuietSignalManager(crawler)
    failures: list[str] = []
    deferred = process.crawl(
        crawler,
        source=source,
        max_pages=settings["NEWSARCHIVE_MAX_PAGES"],
        archived=archived,
        recrawl_keys=recrawl_keys(root, source, now),
        conditional=conditional_validators(root, source, now),
    )
    deferred.addErrback(lambda failure: failures.append(failure.getTraceback()))
    # Everything loaded so far (Scrapy, pyarrow, pandas, ... ~140k objects) lives as long as
    # the process: keep it out of the cyclic GC, whose full collections would otherwise
    # traverse it all again during the crawl (~0.2 ms of reactor CPU per page).
    gc.freeze()
    # Young collections every 7000 net allocations instead of 700: Scrapy allocates a few
    # hundred tracked objects per page, nearly all freed by reference counting.
    gc.set_threshold(7000, 10, 10)
    process.start()
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    counts = dict(spider.counts) if isinstance(spider, NewsSpider) else {}
    by_status = {
        key.rsplit("/", 1)[-1]: int(value)
        for key, value in stats.items()
        if key.startswith("newsarchive/status/")
    }
    refused = {
        key.rsplit("/", 1)[-1]: int(value)
        for key, value in stats.items()
        if key.startswith("newsarchive/refused/")
    }
    finish = str(stats.get("finish_reason", "unknown"))
    return {
        "crawl_id": crawl_id,
        "source": source.name,
        "finish_reason": finish,
        "pages_files": list(stats.get("newsarchive/pages_files", [])),
        "warc_files": list(stats.get("newsarchive/warc_files", [])),
        "bytes_archived": int(stats.get("newsarchive/bytes_archived", 0)),
        "status_counts": by_status,
        "fetch_errors": int(stats.get("newsarchive/fetch_errors", 0)),
        "requests_scheduled": spider.scheduled if isinstance(spider, NewsSpider) else 0,
        "dropped_offsite": counts.get("dropped_offsite", 0) + refused.get("offsite", 0),
        "dropped_non_http": counts.get("dropped_non_http", 0) + refused.get("non_http", 0),
        "refused_private": refused.get("private", 0),
        "robots_forbidden": int(stats.get("robotstxt/forbidden", 0)),
        "skipped_archived": counts.get("skipped_archived", 0),
        "dropped_circuit_open": int(stats.get("newsarchive/circuit_open/dropped", 0)),
        "circuit_open_sites": list(stats.get("newsarchive/circuit_open/sites", [])),
        "counts": counts,
        "archive_error": stats.get("newsarchive/archive_error"),
        "crawl_error": failures[0] if failures else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process image's peak resident memory in MB.

    /proc's VmHWM belongs to the memory map of this image; getrusage's ru_maxrss would also
    count the parent's memory at fork time, which Linux carries across execve."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Read the job as JSON on stdin, crawl, write the result JSON to job['result_path'].

    One crawl process per source and archive at a time: the `fetch-<source>` lock is held
    for the whole crawl (released by the kernel if the process dies). A second crawl waits
    `lock_timeout` seconds (default 0) and then exits 1 with one line naming the holder,
    having written nothing.
    """
    job = json.load(sys.stdin)
    name = ResolvedSource(**job["source"]).name  # validated before it names a lock file
    try:
        with source_lock(
            job["root"], name, purpose="fetch", timeout=float(job.get("lock_timeout") or 0)
        ):
            result = run(job)
    except LockTimeout as exc:
        print(f"crawl failed: {exc}", file=sys.stderr)
        return 1
    with open(job["result_path"], "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    if result.get("crawl_error"):
        print(f"crawl failed: {result['crawl_error']}", file=sys.stderr)
        return 1
    if result.get("archive_error"):
        print(f"crawl failed: {result['archive_error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
