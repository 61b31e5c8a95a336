"""The download handler's cached IDNA host encoding gives what Scrapy/Twisted give uncached."""

from __future__ import annotations

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
