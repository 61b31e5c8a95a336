"""Scrapy's downloader with its per-domain concurrency limit actually enforced."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from twisted.internet.defer import Deferred


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
