"""Downloader middlewares: WARC + pages rows, SSRF guard, Crawl-delay, Retry-After, breaker."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import count
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from scrapy.resolver import CachingHostnameResolver
from scrapy.spidermiddlewares.referer import RefererMiddleware
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object

from crawlers.config import ResolvedSource
from crawlers.downloader import RAW_HEAD
from crawlers.spiders import NewsSpider, UrlPolicy
from storage.pages import write_pages
from storage.urls import url_key
from storage.warc import RecordRef, WarcWriter

logger = logging.getLogger(__name__)

REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_ERROR_CHARS = 500


def _source(crawler: Crawler) -> ResolvedSource:
    data = crawler.settings.get("NEWSARCHIVE_SOURCE")
    if not data:
        raise NotConfigured("NEWSARCHIVE_SOURCE is not set")
    return ResolvedSource(**data)


def describe_error(exc: BaseException) -> str:
    """One line naming the failure: `TimeoutError: ...`, `DNSLookupError: ...`."""
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]


def archived_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    """Scrapy headers -> (name, value) pairs, repeats kept, in arrival order.

    Twisted has already removed the chunked framing, so Transfer-Encoding is kept under
    another name: the archived payload is the body as sent minus that framing only.
    """
    pairs: list[tuple[bytes, bytes]] = []
    # Scrapy's Headers is a dict of normalized name -> list of values; its items() looks
    # every name up again (normalizing it), reading the dict directly gives the same pairs.
    items = dict.items(headers) if isinstance(headers, dict) else headers.items()
    for name, values in items:
        key = bytes(name)
        if key.lower() == b"transfer-encoding":
            key = b"X-Archive-Orig-" + key
        for value in values:
            pairs.append((key, bytes(value)))
    return pairs


def archived_head(head: bytes) -> bytes:
    """The response head as received, for the WARC record: a Transfer-Encoding line is
    renamed like in `archived_headers` (Twisted hands over the body de-chunked)."""
    if b"ransfer-" not in head and b"RANSFER-" not in head:
        return head
    lines = head.split(b"\n")
    for i, line in enumerate(lines):
        if line[:17].lower() == b"transfer-encoding" and line[17:].lstrip(b" \t")[:1] == b":":
            lines[i] = b"X-Archive-Orig-" + line
    return b"\n".join(lines)


_DECODABLE = (b"gzip", b"x-gzip", b"deflate", b"br", b"zstd")


def decoding_error(headers: list[tuple[bytes, bytes]], body: bytes, max_size: int) -> str | None:
    """Why a Content-Encoded body cannot be decoded within `max_size` bytes, or None.

    The archive keeps the encoded bytes; this flags bombs and garbage in the pages row
    (Scrapy's own decoder then drops the response before the spider sees it).
    """
    encodings = [
        enc.strip().lower()
        for key, value in headers
        if key.lower() == b"content-encoding"
        for enc in value.split(b",")
        if enc.strip() and enc.strip().lower() != b"identity"
    ]
    data = body
    for enc in reversed(encodings):
        if enc not in _DECODABLE:
            return None  # unknown coding: stored as is, left to readers
        try:
            data = HttpCompressionMiddleware._decode(data, enc, max_size)
        except _DecompressionMaxSizeExceeded:
            return f"decoded body exceeds download_maxsize ({max_size} bytes, {enc.decode()})"
        except Exception as exc:  # any decoder failure is a property of the page
            return f"undecodable Content-Encoding {enc.decode()}: {describe_error(exc)}"
    return None


@dataclass
class Fetch:
    """What the archive needs to know about one fetch attempt (plain values, no Scrapy)."""

    url: str
    method: str
    request_headers: list[tuple[bytes, bytes]]
    request_body: bytes
    fetched_at: datetime
    status: int | None = None
    protocol: str | None = None
    response_headers: list[tuple[bytes, bytes]] | None = None
    body: bytes = b""
    ip_address: str | None = None
    error: str | None = None
    raw_head: bytes | None = None  # status line + header lines as received
    max_size: int | None = None  # the request's own download_maxsize (sitemaps: larger)


class WarcArchiveMiddleware:
    """Writes every fetch (responses of any status, and failures) to WARC and `pages` rows.

    Sits closest to the downloader, so it sees raw bodies (before decompression) and every
    redirect hop and retry. Writes run on one worker thread, off the reactor, as jobs the
    reactor hands over in batches without waiting for them (no wake-up of the event loop
    per page; it waits only when more than `MAX_QUEUED` jobs are outstanding). The worker
    writes the WARC records, then buffers the rows that point at them, and flushes pages
    rows in batches (size or age), so a killed crawl loses at most the last batch and no
    row ever points at a record that was not written.
    """

    #: Outstanding writer jobs (responses held in memory) before the reactor waits.
    MAX_QUEUED = 64

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.source = _source(crawler)
        self.root: str = settings["NEWSARCHIVE_ROOT"]
        self.crawl_id: str = settings["NEWSARCHIVE_CRAWL_ID"]
        if not self.root or not self.crawl_id:
            raise NotConfigured("NEWSARCHIVE_ROOT / NEWSARCHIVE_CRAWL_ID not set")
        self.batch_size = settings.getint("NEWSARCHIVE_PAGES_BATCH", 500)
        self.flush_seconds = settings.getfloat("NEWSARCHIVE_PAGES_FLUSH_SECONDS", 5.0)
        # False writes on the reactor thread (kept for benchmarks/crawl_throughput.py).
        self.off_thread = settings.getbool("NEWSARCHIVE_WARC_THREAD", True)
        self.max_redirects = settings.getint("REDIRECT_MAX_TIMES", 20)
        self.writer = WarcWriter(
            self.root,
            self.source.name,
            self.crawl_id,
            self.source.warc_max_size,
            redact_request_headers=not self.source.keep_auth_headers,
            compress_level=settings.getint("NEWSARCHIVE_WARC_COMPRESS_LEVEL", 3),
        )
        # One thread: WARC appends and Parquet flushes stay ordered and off the reactor.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warc")
        self.batch: list[tuple[Any, tuple[Any, ...]]] = []  # jobs not handed over yet
        self.batches: deque[tuple[Future[None], int]] = deque()  # handed over: (future, jobs)
        self.outstanding = 0  # jobs in handed-over batches not known to be done
        self.loop: asyncio.AbstractEventLoop | None = None
        self.broken = False  # set by the worker after a failed write: nothing more is written
        # Owned by the worker thread (the reactor touches them after the executor shut down):
        self.rows: list[dict[str, Any]] = []
        self.pages_files: list[str] = []
        self.last_flush = time.monotonic()
        self.bytes_archived = 0
        # Owned by the reactor thread:
        self.inflight: set[int] = set()
        self.pending: dict[int, list[dict[str, Any]]] = {}  # redirect hops awaiting chain end
        self.tokens = count(1)
        self.closing: asyncio.Future[None] | None = None
        # HTTP statuses seen, into the stats (`newsarchive/status/<code>`) when the spider
        # closes: a stats update per page costs the reactor more than a Counter.
        self.statuses: Counter[int] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcArchiveMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    # -- downloader hooks -------------------------------------------------------------------

    def process_request(self, request: Request) -> None:
        # A fresh token per download attempt; retries and redirect hops copy meta, so a
        # copied token of an earlier attempt is never in `inflight` any more.
        token = next(self.tokens)
        self.inflight.add(token)
        request.meta["na_token"] = token
        request.meta.setdefault("na_chain", token)
        request.meta["na_started"] = datetime.now(UTC)

    async def process_response(self, request: Request, response: Response) -> Response:
        self.inflight.discard(request.meta.get("na_token", -1))
        fetch = self._fetch(request)
        # When the request went out (after any slot delay), not when it was queued.
        latency = request.meta.get("download_latency")
        if isinstance(latency, int | float) and latency >= 0:
            fetch.fetched_at = datetime.now(UTC) - timedelta(seconds=latency)
        raw_head = dict.pop(response.headers, RAW_HEAD, None)
        if raw_head:
            fetch.raw_head = archived_head(raw_head[0])
        fetch.status = response.status
        fetch.protocol = response.protocol or "HTTP/1.1"
        fetch.response_headers = archived_headers(response.headers)
        fetch.body = response.body
        fetch.ip_address = str(response.ip_address) if response.ip_address else None
        row = self._row(request, fetch)
        row["content_type"] = self._header(response, b"Content-Type")
        location = self._header(response, b"Location")
        if self._will_redirect(request, response, location):
            row["final_url"] = response.urljoin(location or "")
            self.pending.setdefault(request.meta["na_chain"], []).append(row)
            await self._submit(self._archive, fetch, row, None)
        else:
            rows = self._end_chain(request, row, final_url=response.url)
            await self._submit(self._archive, fetch, row, rows)
        self.statuses[response.status] += 1
        return response

    async def process_exception(self, request: Request, exception: Exception) -> None:
        token = request.meta.get("na_token", -1)
        if token not in self.inflight:
            # Refused before any byte went out (robots, offsite, SSRF guard): not a fetch,
            # but it may end a redirect chain whose hops are waiting for their final_url.
            chain = request.meta.get("na_chain")
            if chain in self.pending:
                rows = self._finish(self.pending.pop(chain), request.url)
                await self._submit(self._emit, rows)
            return None
        self.inflight.discard(token)
        fetch = self._fetch(request)
        fetch.error = describe_error(exception)
        row = self._row(request, fetch)
        rows = self._end_chain(request, row, final_url=request.url)
        await self._submit(self._archive, fetch, row, rows)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("newsarchive/fetch_errors")
        return None

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        leftovers = [row for rows in self.pending.values() for row in rows]
        self.pending.clear()
        try:
            await self._submit(self._close, leftovers, wait=True)
        except Exception as exc:  # already reported through _fail; the writer must close
            logger.error("final archive flush failed: %s", describe_error(exc))
        finally:
            self.executor.shutdown(wait=True)
        stats = self.crawler.stats
        if stats is not None:
            for status, n in self.statuses.items():
                stats.inc_value(f"newsarchive/status/{status}", n)
            stats.set_value("newsarchive/pages_files", list(self.pages_files))
            stats.set_value("newsarchive/warc_files", list(self.writer.files))
            stats.set_value("newsarchive/bytes_archived", self.bytes_archived)

    # -- rows (reactor thread) --------------------------------------------------------------

    def _fetch(self, request: Request) -> Fetch:
        return Fetch(
            url=request.url,
            method=request.method,
            request_headers=archived_headers(request.headers),
            request_body=request.body,
            fetched_at=request.meta.get("na_started") or datetime.now(UTC),
            max_size=request.meta.get("download_maxsize"),
        )

    def _row(self, request: Request, fetch: Fetch) -> dict[str, Any]:
        """The pages row of a fetch; the worker fills in where its WARC record went."""
        meta = request.meta
        via = meta.get("na_via")
        if via is None and (
            meta.get("dont_obey_robotstxt") or urlparse_cached(request).path == "/robots.txt"
        ):
            via = "robots"  # fetched by the robots.txt middleware (or a hop), not the spider
        known = meta.get("na_url_key")  # (url, key) computed by the spider
        key = known[1] if known is not None and known[0] == request.url else url_key(request.url)
        return {
            "url": request.url,
            "final_url": None,
            "url_key": key,
            "source": self.source.name,
            "crawl_id": self.crawl_id,
            "status": fetch.status,
            "content_type": None,
            "fetched_at": fetch.fetched_at,
            "discovered_via": via,
            "depth": meta.get("na_depth"),
            "referrer": meta.get("na_referrer"),
            "warc_file": None,
            "warc_offset": None,
            "warc_length": None,
            "payload_digest": None,
            "error": fetch.error,
            "published_hint": meta.get("na_published_hint"),
            "title_hint": meta.get("na_title_hint"),
        }

    @staticmethod
    def _header(response: Response, name: bytes) -> str | None:
        """The last value of header `name` (title-case, as Scrapy's Headers keys are):
        `response.headers.get(name)` without normalizing the name again."""
        values = dict.get(response.headers, name)
        value = values[-1] if values else None
        return value.decode("latin-1") if value else None

    def _will_redirect(self, request: Request, response: Response, location: str | None) -> bool:
        """Mirror RedirectMiddleware's decision, so hop rows wait for the chain's end."""
        if response.status not in REDIRECT_CODES or not location:
            return False
        if request.meta.get("dont_redirect"):
            return False
        allowed = request.meta.get("handle_httpstatus_list", [])
        if response.status in allowed or request.meta.get("handle_httpstatus_all"):
            return False
        return int(request.meta.get("redirect_times", 0)) + 1 <= self.max_redirects

    @staticmethod
    def _finish(rows: list[dict[str, Any]], final_url: str) -> list[dict[str, Any]]:
        for row in rows:
            row["final_url"] = final_url
        return rows

    def _end_chain(
        self, request: Request, row: dict[str, Any], final_url: str
    ) -> list[dict[str, Any]]:
        hops = self.pending.pop(request.meta.get("na_chain", -1), [])
        return self._finish([*hops, row], final_url)

    async def _submit(self, fn: Any, *args: Any, wait: bool = False) -> None:
        """Run `fn(*args)` on the worker thread, in submission order.

        Jobs of one event-loop iteration go to the worker as one batch (one hand-over, one
        thread wake-up). Returns at once unless `wait` or too many jobs are outstanding. A
        failing job stops the crawl (`_fail`, on the reactor thread) and every later write.
        """
        if not self.off_thread:
            try:
                fn(*args)
            except Exception as exc:
                self.broken = True
                self._fail(exc)
                raise
            return
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        self.batch.append((fn, args))
        if wait:
            await asyncio.wrap_future(self._hand_over())
            return
        if len(self.batch) == 1:
            self.loop.call_soon(self._hand_over)
        batches = self.batches
        while True:
            while batches and batches[0][0].done():
                self.outstanding -= batches.popleft()[1]
            # Until the backlog is back under the limit, not just until the oldest batch is
            # done: every response waiting here added a job, so waiting for one batch let the
            # backlog grow by the concurrency per batch whenever the site answered faster
            # than the worker writes (2,157 bodies held, 479 MB at 20,000 fast pages).
            if self.outstanding <= self.MAX_QUEUED or not batches:
                break
            # A failed batch was reported through _fail already; it is not this page's error.
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(batches[0][0])

    def _hand_over(self) -> Future[None]:
        """Submit the jobs collected so far as one batch; the future of the last batch."""
        if self.batch:
            batch, self.batch = self.batch, []
            job = self.executor.submit(self._run_batch, batch)
            self.batches.append((job, len(batch)))
            self.outstanding += len(batch)
        return self.batches[-1][0]

    def _run_batch(self, batch: list[tuple[Any, tuple[Any, ...]]]) -> None:
        """Worker thread: every job in order; failures are reported to the reactor, and the
        last one is re-raised once the batch is done."""
        error: Exception | None = None
        for fn, args in batch:
            try:
                fn(*args)
            except Exception as exc:
                self.broken = True
                error = exc
                if self.loop is not None and not self.loop.is_closed():
                    self.loop.call_soon_threadsafe(self._fail, exc)
        if error is not None:
            raise error

    # -- archive (worker thread) ------------------------------------------------------------

    def _archive(
        self, fetch: Fetch, row: dict[str, Any], rows: list[dict[str, Any]] | None
    ) -> None:
        """Write the fetch's records, point its row at them, then buffer `rows` (chain end)."""
        if self.broken:
            return  # the crawl is stopping: nothing more is written, the row is not kept
        ref, digest = self._write_exchange(fetch)
        if ref is not None:
            self.bytes_archived += ref.length
            row["warc_file"], row["warc_offset"], row["warc_length"] = ref
        row["payload_digest"] = digest
        row["error"] = fetch.error
        row["_archived"] = True
        if rows is not None:
            self._emit(rows)

    def _write_exchange(self, fetch: Fetch) -> tuple[RecordRef | None, str | None]:
        """Response (or failure) record, then the request record."""
        if fetch.status is None:
            self.writer.write_failure(
                fetch.url, fetch.error or "unknown", fetched_at=fetch.fetched_at
            )
            self._write_request(fetch, concurrent_to=self.writer.last_record_id)
            return None, None
        fetch.error = decoding_error(
            fetch.response_headers or [], fetch.body, fetch.max_size or self.source.download_maxsize
        )
        ref = self.writer.write_response(
            fetch.url,
            fetch.status,
            fetch.response_headers or [],
            fetch.body,
            protocol=fetch.protocol or "HTTP/1.1",
            fetched_at=fetch.fetched_at,
            ip_address=fetch.ip_address,
            http_head=fetch.raw_head,
        )
        digest = self.writer.last_payload_digest
        self._write_request(fetch, concurrent_to=self.writer.last_record_id)
        return ref, digest

    def _write_request(self, fetch: Fetch, *, concurrent_to: str | None) -> None:
        """The request record of a fetch, tied to its response or failure record."""
        self.writer.write_request(
            fetch.url,
            fetch.request_headers,
            method=fetch.method,
            body=fetch.request_body,
            fetched_at=fetch.fetched_at,
            concurrent_to=concurrent_to,
        )

    def _emit(self, rows: list[dict[str, Any]]) -> None:
        """Buffer the rows whose records were written (a hop whose write failed is dropped)."""
        self.rows.extend(row for row in rows if row.pop("_archived", False))
        if (
            len(self.rows) >= self.batch_size
            or time.monotonic() - self.last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write buffered pages rows as one Parquet file."""
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.last_flush = time.monotonic()
        # Object stores: complete the WARC upload these rows point into (no-op locally).
        self.writer.commit()
        self.pages_files.extend(write_pages(self.root, self.source.name, self.crawl_id, rows))

    def _close(self, leftovers: list[dict[str, Any]]) -> None:
        """Last job: rows of unfinished redirect chains, the final flush, the WARC close."""
        try:
            self.rows.extend(row for row in leftovers if row.pop("_archived", False))
            self.flush()
        finally:
            self.writer.close()

    # -- reactor thread ---------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        """The archive cannot be written (disk full, ...): stop the crawl, report why."""
        stats = self.crawler.stats
        if stats is not None and not stats.get_value("newsarchive/archive_error"):
            stats.set_value("newsarchive/archive_error", describe_error(exc))
            logger.error("archive write failed, stopping the crawl: %s", describe_error(exc))
            engine = self.crawler.engine
            if engine is not None and engine.running:
                self.closing = asyncio.ensure_future(
                    engine.close_spider_async(reason="archive_error")
                )


def _is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return bool(addr.is_global) and not addr.is_multicast


class AddressPolicy:
    """Which IP addresses a source may connect to: public ones, plus what it allows.

    `allow_private_addresses: true` allows every address, a list allows those IPs /
    networks only (e.g. `["127.0.0.1"]`: the local site, but not 10.0.0.1 or ::1).
    """

    def __init__(self, allow: bool | list[str]) -> None:
        self.allow_all = allow is True
        self.networks = [
            ipaddress.ip_network(str(n), strict=False)
            for n in (allow if isinstance(allow, list) else [])
        ]

    def refusal(self, ip: str, host: str) -> str | None:
        """Why connecting to `ip` (an answer for `host`) is refused, or None."""
        if self.allow_all:
            return None
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return f"refused unparsable address {ip!r} for host {host!r}"
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr in net for net in self.networks):
            return None
        if not _is_public(str(addr)):
            return f"refused non-public address {ip} for host {host!r}"
        return None


class SsrfGuardMiddleware:
    """Refuses non-http(s), off-site, and (unless allowed) private/loopback/link-local targets.

    Applies to every request, redirect hops included; the host's DNS answers are checked,
    not only its name (and `GuardedResolver` checks them again at connect time, so a DNS
    answer that changes between the two checks is refused too). `allow_private_addresses`
    (true, or a list of IPs/networks) lifts the IP check, all of it or for those addresses.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.source = _source(crawler)
        self.policy = UrlPolicy.from_source(self.source)
        self.addresses = AddressPolicy(self.source.allow_private_addresses)
        self.verdicts: dict[str, str | None] = {}  # host -> refusal reason (None: ok)
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SsrfGuardMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        if parts.scheme not in ("http", "https"):
            self._refuse("non_http")
            raise IgnoreRequest(f"refused non-http(s) URL {request.url}")
        host = parts.hostname or ""
        if not self.policy.host_allowed(host) and not self._robots_redirect(request):
            if not request.meta.get("dont_obey_robotstxt"):  # robots.txt: not a URL dropped
                self._refuse("offsite")
            raise IgnoreRequest(f"refused off-site host {host!r}")
        if self.addresses.allow_all:
            return None
        if host not in self.verdicts:
            self.verdicts[host] = await self._check_host(host, parts.port)
        reason = self.verdicts[host]
        if reason:
            self._refuse("private")
            logger.warning("%s (%s)", reason, request.url)
            raise IgnoreRequest(reason)
        return None

    def _robots_redirect(self, request: Request) -> bool:
        """A redirect hop of a robots.txt fetch that began on one of the source's hosts:
        followed to any host (RFC 9309 2.3.1.2: `example.com/robots.txt` ->
        `www.example.net/robots.txt` gives example.com's rules; refusing it meant no rules
        at all). The address checks still apply."""
        meta = request.meta
        chain = meta.get("redirect_urls")
        if not chain or not meta.get("dont_obey_robotstxt") or meta.get("na_via") is not None:
            return False
        first = urlsplit(chain[0])
        return first.path == "/robots.txt" and self.policy.host_allowed(first.hostname or "")

    async def _check_host(self, host: str, port: int | None) -> str | None:
        try:
            ipaddress.ip_address(host)
            ips = [host]
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
            except OSError:
                return None  # let the download fail and be recorded as a DNS error
            ips = [str(info[4][0]) for info in infos]
        for ip in ips:
            reason = self.addresses.refusal(ip, host)
            if reason:
                return reason
        return None

    def _refuse(self, why: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"newsarchive/refused/{why}")


class _CheckedAnswers:
    """An IResolutionReceiver that passes on only the addresses the source may connect to;
    each refused one is logged. When none is left, the connection fails with
    DNSLookupError ("no results for hostname lookup"), recorded as a failed fetch."""

    def __init__(self, receiver: Any, addresses: AddressPolicy, host: str) -> None:
        self.receiver, self.addresses, self.host = receiver, addresses, host

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        reason = self.addresses.refusal(str(getattr(address, "host", "")), self.host)
        if reason:
            logger.warning("%s (at connect time)", reason)
            return
        self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:
        self.receiver.resolutionComplete()


class GuardedResolver(CachingHostnameResolver):
    """Scrapy's IPv4 + IPv6 resolver, refusing answers the source may not connect to (DNS
    rebinding). The addresses checked here are those the download connects to, so a name
    that resolved to a public address for SsrfGuardMiddleware and to a private one now is
    refused. IPv6 literals (``http://[2001:db8::1]/``) and IPv6-only hosts resolve too.
    Like Scrapy's CachingHostnameResolver it has no DNS timeout of its own: the download
    timeout bounds a slow lookup.
    """

    addresses: AddressPolicy

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.addresses = AddressPolicy(_source(crawler).allow_private_addresses)
        return resolver

    def resolveHostName(  # Twisted's IHostnameResolver
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        if not self.addresses.allow_all:
            resolutionReceiver = _CheckedAnswers(resolutionReceiver, self.addresses, hostName)
        return super().resolveHostName(
            resolutionReceiver, hostName, portNumber, addressTypes, transportSemantics
        )


def credential_env_names(source_name: str) -> dict[bytes, str]:
    """Request header -> the environment variable that holds its value for this source.

    `NEWSARCHIVE_AUTH_<SOURCE>` (Authorization) and `NEWSARCHIVE_COOKIE_<SOURCE>` (Cookie),
    with the source name upper-cased and `-` as `_`. Secrets never go into the config file.
    """
    suffix = source_name.upper().replace("-", "_")
    return {
        b"Authorization": f"NEWSARCHIVE_AUTH_{suffix}",
        b"Cookie": f"NEWSARCHIVE_COOKIE_{suffix}",
    }


class CredentialsMiddleware:
    """Adds site credentials from the environment to requests for the source's own hosts.

    Values are read once, in the crawl process, and never logged; the WARC request record
    shows them as `REDACTED` unless the source sets `keep_auth_headers`. Proxy credentials
    come the standard way (`http_proxy` / `https_proxy` with `user:pass@`, Scrapy's
    HttpProxyMiddleware) and are redacted the same way (`Proxy-Authorization`).
    """

    def __init__(self, crawler: Crawler) -> None:
        source = _source(crawler)
        self.policy = UrlPolicy.from_source(source)
        self.headers = {
            header: os.environ[var]
            for header, var in credential_env_names(source.name).items()
            if os.environ.get(var)
        }
        if not self.headers:
            raise NotConfigured  # no message: Scrapy would log a warning for every crawl
        logger.info(
            "site credentials from the environment: %s",
            ", ".join(h.decode() for h in self.headers),
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CredentialsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if not self.policy.host_allowed(urlparse_cached(request).hostname or ""):
            return None  # credentials never leave the source's own hosts
        for header, value in self.headers.items():
            if header not in request.headers:
                request.headers[header] = value
        return None


class ArchivedRedirectMiddleware:
    """A redirect into an article archived earlier, or already fetched in this crawl under
    another URL with the same url_key, is not followed.

    The spider skips archived and already-scheduled articles it discovers itself; redirect
    hops are created by RedirectMiddleware without asking it, and Scrapy's duplicate filter
    compares exact URLs only (`/r -> /story?utm_source=x` fetched /story a second time), so
    they are checked here against the same state. A hop whose key is one of its own
    chain's (`/story?utm_source=x -> /story`, http -> https) is followed.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivedRedirectMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        spider = self.crawler.spider
        if not request.meta.get("redirect_urls") or not isinstance(spider, NewsSpider):
            return None
        meta = request.meta
        article = True if meta.get("na_kind") == "article" else None
        key = url_key(request.url)
        if spider.already_archived(request.url, article=article, key=key):
            spider.counts["skipped_archived"] += 1
            raise IgnoreRequest(f"redirect target already archived: {request.url}")
        if meta.get("retry_times") or "na_kind" not in meta:
            return None  # a retry passed here on its first attempt; robots.txt fetches
        if not (article or spider.policy.is_article(request.url)):
            return None  # start pages, feeds, sitemaps: only articles are deduped
        if key in spider.seen:
            if key not in {url_key(url) for url in meta["redirect_urls"]}:
                spider.counts["duplicate"] += 1
                raise IgnoreRequest(f"redirect target already fetched in this crawl: {request.url}")
        else:
            spider.seen.add(key)  # a link to it found later is a duplicate
        return None


class PresetRefererMiddleware(RefererMiddleware):
    """Scrapy's Referer middleware, skipping requests that carry a Referer already.

    The spider sets the Referer of every request it derives from a page itself, and
    Scrapy's middleware only ever adds one with `setdefault`: its policy work (URL parsing
    and stripping, per request) would be thrown away. Redirect hops lose their Referer in
    RedirectMiddleware first, so they still get the policy's answer.
    """

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        if b"Referer" in request.headers:
            return request
        return super().get_processed_request(request, response)


class QuietLogFormatter(LogFormatter):
    """Scrapy's log formatter, without the per-response `Crawled (200) <GET ...>` DEBUG
    message when LOG_LEVEL is above DEBUG (a crawl's default is WARNING).

    Scrapy's root logger passes every level and its handler filters by LOG_LEVEL, so that
    message was formatted into a LogRecord (a stack walk for its caller included) for
    every response, only to be dropped: ~6.5 us per page. Returning None omits it, as
    Scrapy documents; at LOG_LEVEL DEBUG it is logged as before.
    """

    def __init__(self, debug: bool = True) -> None:
        self.debug = debug

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QuietLogFormatter:
        level = crawler.settings.get("LOG_LEVEL", "DEBUG")
        if isinstance(level, str):
            level = logging.getLevelName(level.upper())  # an int for every known name
        return cls(debug=not isinstance(level, int) or level <= logging.DEBUG)

    def crawled(  # type: ignore[override]  # None omits the message (Scrapy's docs, engine)
        self, request: Request, response: Response, spider: Spider
    ) -> LogFormatterResult | None:
        if not self.debug:
            return None
        return super().crawled(request, response, spider)


#: The robots.txt a site "has" while its robots.txt answers 5xx (RFC 9309 2.3.1.3).
DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class PoliteRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, plus the `Crawl-delay` it leaves unapplied, and
    RFC 9309's rule for a robots.txt answering 5xx (after its retries): the whole site is
    disallowed for this crawl. Scrapy parses the error page's body instead, which allows
    everything. 4xx (404, 410, 429, ...) still means no rules (RFC 9309 2.3.1.3);
    refused pages get no rows, so the next run asks for robots.txt again.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.crawl_delays: dict[str, float] = {}

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        await super().process_request(request)
        netloc = urlparse_cached(request).netloc
        if netloc in self.crawl_delays:
            # AutoThrottle must not shrink the delay the site asked for.
            request.meta["autothrottle_dont_adjust_delay"] = True

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            logger.warning(
                "robots.txt of %s answered %d: the site is disallowed for this crawl (RFC 9309)",
                netloc,
                response.status,
            )
            response = response.replace(body=DISALLOW_ALL)
        await super()._parse_robots(response, netloc, request)
        parser = self._parsers.get(netloc)
        getter = getattr(parser, "crawl_delay", None)
        if getter is None:
            return
        delay = getter(self._robotstxt_useragent or self._default_useragent)
        if not delay or delay <= 0:
            return
        delay = min(float(delay), 60.0)  # a hostile robots.txt cannot stall the crawl for days
        self.crawl_delays[netloc] = delay
        downloader = self.crawler.engine.downloader if self.crawler.engine else None
        if downloader is None:
            return
        key = downloader.get_slot_key(request)
        # No jitter: a randomized delay would go below what the site asked for half the time.
        downloader.per_slot_settings.setdefault(key, {}).update(delay=delay, jitter=0.0)
        slot = downloader.slots.get(key)
        if slot is not None:
            slot.delay = max(slot.delay, delay)
            slot.jitter = 0.0
        logger.info("honouring Crawl-delay %.1fs for %s", delay, netloc)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def retry_exceptions(settings: Any) -> tuple[type[BaseException], ...]:
    """The exception classes of Scrapy's RETRY_EXCEPTIONS setting (names or classes)."""
    return tuple(
        load_object(x) if isinstance(x, str) else x for x in settings.getlist("RETRY_EXCEPTIONS")
    )


class RetryPacingMiddleware:
    """Spaces retries out: Retry-After on 429/503 (pausing the whole site), else exponential
    backoff (`retry_backoff` * 2**n seconds) on retryable statuses and network errors. A
    Retry-After beyond NEWSARCHIVE_MAX_RETRY_AFTER (120 s) is not retried in this crawl.

    Sits just outside RetryMiddleware, so the retry it builds goes out after the wait.
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_wait = settings.getfloat("NEWSARCHIVE_MAX_RETRY_AFTER", 120.0)
        self.backoff = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF", 0.0)
        self.max_retries = settings.getint("RETRY_TIMES")
        self.retry_codes = {int(c) for c in settings.getlist("RETRY_HTTP_CODES")}
        self.retry_exceptions = retry_exceptions(settings)
        self.paused_until: dict[str, float] = {}  # download slot -> end of its pause (loop time)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryPacingMiddleware:
        return cls(crawler)

    def _retries_left(self, request: Request) -> bool:
        if request.meta.get("dont_retry"):
            return False
        limit = int(request.meta.get("max_retry_times", self.max_retries))
        return int(request.meta.get("retry_times", 0)) < limit

    def _backoff(self, request: Request) -> float:
        return min(self.backoff * 2 ** int(request.meta.get("retry_times", 0)), self.max_wait)

    async def process_response(self, request: Request, response: Response) -> Response:
        if response.status not in self.retry_codes or not self._retries_left(request):
            return response
        wait: float | None = None
        if response.status in (429, 503):
            raw = response.headers.get(b"Retry-After")
            wait = parse_retry_after(raw.decode("latin-1") if raw else None)
            if wait is not None and wait > self.max_wait:
                # Retrying sooner than asked would not honour it: the URL waits for the
                # next run (its row keeps the status); the site pauses for the longest wait.
                logger.info(
                    "Retry-After %.0fs for %s exceeds %.0fs: not retried in this crawl",
                    wait,
                    request.url,
                    self.max_wait,
                )
                request.meta["dont_retry"] = True
                self._pause_slot(request, self.max_wait)
                return response
            if wait is not None:
                self._pause_slot(request, wait)
        if wait is None:
            wait = self._backoff(request)
        if wait > 0:
            await asyncio.sleep(wait)
        return response

    async def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, self.retry_exceptions) and self._retries_left(request):
            wait = self._backoff(request)
            if wait > 0:
                await asyncio.sleep(wait)
        return None

    def _pause_slot(self, request: Request, wait: float) -> None:
        """Hold every other request to this site too (private Scrapy API; best effort)."""
        downloader = self.crawler.engine.downloader if self.crawler.engine else None
        try:
            key = downloader.get_slot_key(request)  # type: ignore[union-attr]
            slot = downloader.slots.get(key)  # type: ignore[union-attr]
            if slot is None:
                return
            loop = asyncio.get_running_loop()
            until = loop.time() + wait
            if slot.latercall is not None:
                if self.paused_until.get(key, 0.0) >= until:
                    return  # a longer pause asked by an earlier answer stands (Retry-After: 0)
                slot.latercall.cancel()
            self.paused_until[key] = until
            slot.latercall = loop.call_later(wait, downloader._latercall, slot)  # type: ignore[union-attr]
        except (AttributeError, RuntimeError) as exc:
            logger.debug("could not pause download slot: %s", exc)


class CircuitOpen(IgnoreRequest):
    """A request dropped before download: its site's circuit breaker is open."""


def site_of(request: Request) -> str:
    """The site a request goes to, as `scheme://host:port` (default port filled in).

    Finer than Scrapy's download slot (the host name only): two servers on one host, on
    different ports, are two sites, and one of them dying says nothing about the other.
    """
    parts = urlparse_cached(request)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname or ''}:{port}"


def _first_attempt(request: Request) -> bool:
    return not request.meta.get("retry_times")


def _is_robots_fetch(request: Request) -> bool:
    """robots.txt fetched by the robots middleware (not a sitemap the spider asked for)."""
    return request.meta.get("na_via") is None and urlparse_cached(request).path == "/robots.txt"


class CircuitBreakerMiddleware:
    """Stops fetching from a site after `circuit_breaker_failures` URLs in a row failed.

    A URL fails when its first attempt fails: a network failure (RETRY_EXCEPTIONS: refused,
    reset, DNS, timeout) or a 5xx / 429 answer. Each URL counts once (a failed retry is not
    counted again), and any answer other than 5xx / 429, a retry's too, resets the site's
    count. First attempts, not final outcomes, because Scrapy schedules a
    retry below every first attempt still waiting (RETRY_PRIORITY_ADJUST): final outcomes
    of a dead site only arrive after all its URLs were tried once, too late to save
    anything. It sits just outside RetryMiddleware and RetryPacingMiddleware (558), so it
    sees every attempt's outcome before they act on it.

    Once a site reaches the limit its circuit is open for the rest of the crawl (the next
    scheduled run tries again; there is no half-open probe): every further first attempt at
    a URL of that site is dropped with `CircuitOpen` before download, and so are those
    already waiting in a download slot (they passed process_request before the circuit
    opened). A URL already tried still gets its retries, so every URL with rows was either
    answered or tried `retry_times` + 1 times; that is at most (limit + in flight) x
    retries more attempts per opened site. Dropped requests are not fetch attempts: no WARC
    record, no pages row, so the next run does not treat them as archived. robots.txt
    fetched by the robots middleware neither counts nor resets (a failing robots.txt says
    little about the pages). One warning names the site when its circuit opens; the stats
    count the drops (`newsarchive/circuit_open/dropped`) and list the sites
    (`newsarchive/circuit_open/sites`).
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.limit = settings.getint("NEWSARCHIVE_CIRCUIT_BREAKER_FAILURES", 0)
        if self.limit <= 0:
            raise NotConfigured
        self.crawler = crawler
        self.failures: dict[str, int] = {}  # site -> URLs failed in a row
        self.opened: dict[str, str] = {}  # site -> the failure that opened its circuit
        self.network_errors = retry_exceptions(settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CircuitBreakerMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if self.opened and _first_attempt(request):
            site = site_of(request)
            if site in self.opened:
                self._count_drops(1)
                raise CircuitOpen(f"circuit open for {site}: {request.url}")
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        status = response.status
        if status >= 500 or status == 429:
            self._failed(request, f"HTTP {status}")
        elif self.failures and not _is_robots_fetch(request):
            self.failures.pop(site_of(request), None)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, self.network_errors):
            self._failed(request, describe_error(exception))
        return None

    def _failed(self, request: Request, error: str) -> None:
        if not _first_attempt(request) or _is_robots_fetch(request):
            return
        site = site_of(request)
        if site in self.opened:
            return
        n = self.failures.get(site, 0) + 1
        self.failures[site] = n
        if n < self.limit:
            return
        self.opened[site] = error
        queued = self._drop_queued(site)
        logger.warning(
            "circuit open for %s: %d URLs in a row failed (last: %s); its other URLs are "
            "not fetched in this crawl (%d were queued)",
            site,
            n,
            error,
            queued,
        )
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("newsarchive/circuit_open/sites", sorted(self.opened))

    def _drop_queued(self, site: str) -> int:
        """Fail the first attempts at `site` waiting in a download slot's queue (private
        Scrapy API, best effort: what is missed is fetched, as without the breaker)."""
        downloader = self.crawler.engine.downloader if self.crawler.engine else None
        slots = getattr(downloader, "slots", None)
        if not isinstance(slots, dict):
            return 0
        dropped = 0
        for slot in slots.values():
            queue = getattr(slot, "queue", None)
            if not queue:
                continue
            gone = [item for item in queue if _first_attempt(item[0]) and site_of(item[0]) == site]
            if not gone:
                continue
            ids = {id(item) for item in gone}
            keep = [item for item in queue if id(item) not in ids]
            queue.clear()
            queue.extend(keep)
            for request, deferred in gone:
                # It never went out: without its token WarcArchiveMiddleware takes it for a
                # request refused before download (no row), like those process_request drops.
                request.meta.pop("na_token", None)
                deferred.errback(CircuitOpen(f"circuit open for {site}: {request.url}"))
                dropped += 1
        self._count_drops(dropped)
        return dropped

    def _count_drops(self, n: int) -> None:
        if n and self.crawler.stats is not None:
            self.crawler.stats.inc_value("newsarchive/circuit_open/dropped", n)
