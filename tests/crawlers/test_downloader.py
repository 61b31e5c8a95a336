"""The download handler's cached IDNA host encoding gives what Scrapy/Twisted give uncached."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy.core.downloader._idna_patch import _install_twisted_idna_fallbacks
from twisted.internet import endpoints

from crawlers.downloader import cache_idna_bytes

HOSTS = [
    "127.0.0.1",
    "www.example.com",
    "bücher.example",  # IDNA 2008 via the idna package
    "xn--bcher-kva.example",
    "under_score.example",  # refused by idna, accepted by Scrapy's IDNA 2003 fallback
    "xn--ls8h.la",  # an emoji domain in punycode: the same fallback
]


def test_cached_idna_bytes_equal_uncached_and_refusals_still_raise() -> None:
    _install_twisted_idna_fallbacks()  # what HTTP11DownloadHandler does before we cache
    current = endpoints._idnaBytes
    uncached = getattr(current, "__wrapped__", current)  # another test may have cached it
    cached = cache_idna_bytes()
    assert cache_idna_bytes() is cached is endpoints._idnaBytes  # idempotent
    hits = cached.cache_info().hits  # type: ignore[attr-defined]
    for host in HOSTS:
        for _ in range(2):
            assert cached(host) == uncached(host)
            # ...and what a HostnameEndpoint keeps for a request to that host
            assert endpoints.HostnameEndpoint._hostAsBytesAndText(host) == (
                False,
                uncached(host),
                host,
            )
    assert cached("bücher.example") == b"xn--bcher-kva.example"
    assert cached.cache_info().hits >= hits + 3 * len(HOSTS)  # type: ignore[attr-defined]
    for _ in range(2):  # a refused name is not cached as anything: it raises every time
        with pytest.raises(UnicodeError):
            cached("bad host.example")
    assert endpoints.HostnameEndpoint._hostAsBytesAndText("bad host.example")[0] is True


# -- the response parser's head/body split ---------------------------------------------------

BODY = bytes(range(256)) * 40  # 10 KB, every byte value


def _responses() -> list[bytes]:
    return [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
        % (len(BODY), BODY),
        b"HTTP/1.0 200 OK\nServer: bare-lf\nContent-Length: 5\n\nhello",  # bare LF head
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b'HTTP/1.1 304 Not Modified\r\nETag: W/"v1"\r\n\r\nHTTP/1.1 200 OK\r\n',  # no body
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra bytes",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Type : text/html\r\n"
        b"Content-Length: 4\r\n\r\nbody",  # folded header, bad name
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\r\n",  # a body that looks like a line
    ]


def _parse(parser_cls: type, chunks: list[bytes], closing: bool = False) -> tuple[Any, ...]:
    """Feed `chunks` to a parser; what it made of them (status, headers, body, leftovers).
    `closing`: the connection is being closed (Twisted's loop stops after a line)."""
    from twisted.internet.protocol import Protocol
    from twisted.internet.testing import StringTransport
    from twisted.web._newclient import Request as TxRequest
    from twisted.web.http_headers import Headers

    finished: list[bytes] = []
    body: list[bytes] = []

    class Collect(Protocol):
        def dataReceived(self, data: bytes) -> None:
            body.append(data)

    parser = parser_cls(TxRequest(b"GET", b"/", Headers({}), None), finished.append)
    transport = StringTransport()
    parser.makeConnection(transport)
    transport.disconnecting = closing
    errors = []
    for chunk in chunks:
        try:
            parser.dataReceived(chunk)
        except Exception as exc:  # the same failure is expected of both parsers
            errors.append(type(exc).__name__)
            break
    response = getattr(parser, "response", None)
    if response is not None and not closing:  # (a closing transport cannot resume)
        response.deliverBody(Collect())
    return (
        None if response is None else (response.version, response.code, response.phrase),
        None if response is None else sorted(response.headers.getAllRawHeaders()),
        b"".join(body),
        finished,
        parser._buffer,
        parser.line_mode,
        errors,
        transport.producerState,
    )


def test_head_split_parses_every_chunking_exactly_as_twisted() -> None:
    """The parser that splits the head off a chunk gives what Twisted's line-at-a-time
    parsing gives: same status, headers (the raw head included), body, bytes left to the
    next response, for every response cut into two chunks at every byte and fed whole."""
    from twisted.protocols.basic import LineReceiver
    from twisted.web._newclient import HTTPClientParser

    from crawlers.downloader import _RawHeadParser

    class Reference(_RawHeadParser):
        def dataReceived(self, data: bytes) -> None:
            HTTPClientParser.dataReceived(self, data)

        def clearLineBuffer(self) -> bytes:
            return bytes(LineReceiver.clearLineBuffer(self))

    checked = 0
    for raw in _responses():
        cuts = range(len(raw) + 1) if len(raw) < 400 else [*range(0, 200), len(raw) // 2]
        for cut in cuts:
            chunks = [raw[:cut], raw[cut:]]
            expected = _parse(Reference, chunks)
            assert _parse(_RawHeadParser, chunks) == expected, (raw[:60], cut)
            checked += 1
        whole = _parse(_RawHeadParser, [raw])
        assert whole == _parse(Reference, [raw]) and whole[0] is not None
        closing = _parse(_RawHeadParser, [raw], closing=True)
        assert closing == _parse(Reference, [raw], closing=True) and closing[4]  # buffered
    assert checked > 600
