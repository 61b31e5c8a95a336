"""Scrapy's downloader with its per-domain concurrency limit enforced; raw response heads."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
)
from scrapy.crawler import Crawler
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress
from twisted.web._newclient import STATUS, HTTP11ClientProtocol
from twisted.web._newclient import Request as TxRequest
from twisted.web.http_headers import InvalidHeaderName
from twisted.web.iweb import IResponse

logger = logging.getLogger(__name__)


class PoliteDownloader(Downloader):
    """Counts a request against its slot's concurrency the moment it is dispatched.

    Scrapy 2.19's `Downloader._process_queue` hands each queued request to a new asyncio
    task and loops `while slot.free_transfer_slots() > 0`, but the request only enters
    `slot.transferring` once that task first runs, on a later loop iteration. With the
    asyncio reactor the loop therefore dispatched the whole slot queue at once: measured 16
    requests in flight to one host with `CONCURRENT_REQUESTS_PER_DOMAIN = 1`
    (tests/crawlers/test_politeness_concurrency.py). Reserving the transfer slot here, when
    the coroutine is created, keeps the limit; `_download` adds the same request again (a
    set) and removes it when the transfer ends, as before.
    """

    def _wait_for_download(
        self, slot: Slot, request: Request, queue_dfd: Deferred[Any]
    ) -> Coroutine[Any, Any, None]:
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)


#: The response's head as received, handed from the HTTP parser to WarcArchiveMiddleware
#: as a pseudo-header (the name as both Twisted and Scrapy key it), which removes it.
RAW_HEAD = b"X-Newsarchive-Raw-Head"


#: The end of a response head: an empty line (the parser's lines end at "\n", a "\r"
#: before it is stripped).
_EMPTY_LINE = re.compile(rb"\n\r?\n")


class _RawHeadParser(_LenientHTTPClientParser):
    """Scrapy's lenient response parser, keeping the status line and header lines as
    received: Twisted keeps only the status code, drops the reason phrase and the
    connection headers (Connection, Keep-Alive, Transfer-Encoding, Content-Length),
    canonicalizes name case and groups repeated headers by name.

    Bytes that arrive with the head are split off before Twisted's line splitting sees
    them (`dataReceived`)."""

    _na_lines: list[bytes]
    _na_tail = b""  # bytes after the head, held back while the head's lines are parsed

    def dataReceived(self, data: bytes) -> None:
        """Twisted's LineReceiver splits one line off its buffer at a time, copying the
        rest of the buffer for every line: a chunk holding a head of ~8 lines and 60 KB
        of body was copied ~8 times (~8 us per response, more on cold caches). The head,
        up to its empty line, is parsed alone while the rest waits in `_na_tail`; then
        the rest goes on exactly as Twisted would have handed it on (to the body, or
        left buffered if parsing stopped, paused or the connection is closing), and
        `clearLineBuffer` (a response without a body) returns it as Twisted would."""
        if self._busyReceiving:
            if self._na_tail:  # re-entered while a tail is held back: it goes after it
                self._na_tail += data
                return None
            return super().dataReceived(data)
        if not self.line_mode:
            return super().dataReceived(data)
        buffered = self._buffer + data
        end = _EMPTY_LINE.search(buffered)
        if end is None or end.end() == len(buffered) or end.end() > self.MAX_LENGTH:
            return super().dataReceived(data)  # (a head that long may hold too long a line)
        cut = end.end()
        self._buffer = b""
        self._na_tail = buffered[cut:]
        why = super().dataReceived(buffered[:cut])
        tail, self._na_tail = self._na_tail, b""
        if not tail:
            return why  # taken by clearLineBuffer
        transport = self.transport
        if why or self.paused or self._buffer or (transport and transport.disconnecting):
            self._buffer += tail  # where Twisted's loop stopped, the tail stays buffered
            return why
        return self.dataReceived(tail)  # the body, or the next head after a 1xx

    def clearLineBuffer(self) -> bytes:
        data = super().clearLineBuffer()
        tail, self._na_tail = self._na_tail, b""
        return data + tail

    def lineReceived(self, line: bytes) -> None:
        # Lines come without their "\n" (a "\r" before it is still there).
        if self.state == STATUS:
            self._na_lines = [line]  # a new response (after a 1xx, the real one)
        else:
            self._na_lines.append(line)
        try:
            super().lineReceived(line)
        except InvalidHeaderName:
            self._bad_header_name(line)

    def _bad_header_name(self, line: bytes) -> None:
        """The previous header's name was refused by Twisted (`Content-Type : x`, `X Foo:
        y`), which failed the whole fetch (DownloadFailedError, retried) for a page any
        browser shows. Whitespace around the name is stripped; any other bad name skips
        that header (the archive keeps its line). Then `line`, not yet handled, goes on."""
        header = b"".join(self._partialHeader or [])
        self._partialHeader = None
        name, _, value = header.partition(b":")
        stripped = name.strip(b" \t")
        try:
            if not stripped or stripped == name:
                raise InvalidHeaderName(name)
            self.headerReceived(stripped, value.strip())
        except InvalidHeaderName:
            logger.debug("skipped a response header with an invalid name: %r", name[:100])
        super().lineReceived(line)

    def allHeadersReceived(self) -> None:
        # Into the dict behind `getAllRawHeaders` (what Scrapy copies into the response's
        # headers): `addRawHeader` would replace the line breaks by spaces.
        self.headers._rawHeaders[RAW_HEAD] = [b"\n".join(self._na_lines) + b"\n"]
        super().allHeadersReceived()


class _RawHeadProtocol(_LenientHTTP11ClientProtocol):
    def request(self, request: TxRequest) -> Deferred[IResponse]:
        d = super().request(request)
        # As Scrapy does for its lenient parser: the parser exists, no byte has arrived.
        assert self._parser is not None
        self._parser.__class__ = _RawHeadParser
        return d


class _RawHeadFactory(_LenientHTTP11ClientFactory):
    def buildProtocol(self, addr: IAddress | None) -> HTTP11ClientProtocol:
        return _RawHeadProtocol(self._quiescentCallback)


#: Host names whose IDNA form is remembered (per crawl process; a source has a few hosts).
IDNA_CACHE_SIZE = 1024


def cache_idna_bytes() -> Callable[[str], bytes]:
    """Remember the IDNA encoding of host names Twisted computes for every request.

    Twisted's Agent builds a `HostnameEndpoint` per request (even when a pooled connection
    is reused), which encodes the host name with the `idna` package: ~9-12 us per request
    for the same few hosts. The function in use (Scrapy's IDNA 2003 fallback around
    Twisted's, installed by HTTP11DownloadHandler) is pure, so its results are cached; a
    name it refuses raises again each time (lru_cache keeps no exceptions). Idempotent.
    Returns the function now in use (private Twisted API: `endpoints._idnaBytes`).
    """
    current: Callable[[str], bytes] = endpoints._idnaBytes
    if not hasattr(current, "cache_info"):
        current = functools.lru_cache(maxsize=IDNA_CACHE_SIZE)(current)
        endpoints._idnaBytes = current
    return current


class ArchivingDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler whose responses carry their head as received (`RAW_HEAD`),
    so the WARC response record has the real status line and header lines (private
    Scrapy/Twisted API: the parser and factory classes of scrapy 2.19's http11 module).
    Host names' IDNA forms are cached (`cache_idna_bytes`)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)  # installs Scrapy's IDNA fallback first: it is what we cache
        self._pool._factory = _RawHeadFactory
        cache_idna_bytes()
