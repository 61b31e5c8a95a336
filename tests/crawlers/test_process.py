"""Crawl-process helpers that read the pages index: recrawl window and conditional GET."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawl_helpers import site_source

from crawlers.process import conditional_validators, recrawl_keys
from storage.pages import write_pages
from storage.warc import WarcWriter

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
BASE = "http://127.0.0.1:8999"


def row(url: str, when: datetime, status: int | None = 200, **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "url_key": url.split("://", 1)[1],
        "source": "site",
        "crawl_id": "20261101T000000Z-aaaaaa",
        "status": status,
        "fetched_at": when,
        **extra,
    }


def test_recrawl_keys_are_articles_first_seen_inside_the_window(tmp_path: Path) -> None:
    root = str(tmp_path)
    old, recent = NOW - timedelta(days=10), NOW - timedelta(hours=20)
    write_pages(
        root,
        "site",
        "20261101T000000Z-aaaaaa",
        [
            row(BASE + "/old.html", old),
            row(BASE + "/old.html", recent),  # refetched lately, but first seen long ago
            row(BASE + "/new.html", recent),
            row(BASE + "/failed.html", recent, status=500),
        ],
    )
    source = site_source(BASE, recrawl_window="2d")
    keys = recrawl_keys(root, source, NOW)
    assert set(keys) == {"127.0.0.1:8999/new.html"}  # type: ignore[call-overload]
    assert recrawl_keys(root, site_source(BASE), NOW) == frozenset()


def test_conditional_validators_from_the_latest_stored_response(tmp_path: Path) -> None:
    root = str(tmp_path)
    with WarcWriter(root, "site", "20261101T000000Z-aaaaaa") as writer:
        old = writer.write_response(
            BASE + "/feed.xml", 200, [("ETag", '"v1"')], b"<rss/>", fetched_at=NOW
        )
        new = writer.write_response(
            BASE + "/feed.xml",
            200,
            [("ETag", '"v2"'), ("Last-Modified", "Mon, 23 Nov 2026 10:00:00 GMT")],
            b"<rss/>",
            fetched_at=NOW,
        )
    refs = [
        {"warc_file": r.warc_file, "warc_offset": r.offset, "warc_length": r.length, "depth": 0}
        for r in (old, new)
    ]
    write_pages(
        root,
        "site",
        "20261101T000000Z-aaaaaa",
        [
            row(BASE + "/feed.xml", NOW - timedelta(days=2), **refs[0]),
            row(BASE + "/feed.xml", NOW - timedelta(days=1), **refs[1]),
        ],
    )
    found = conditional_validators(root, site_source(BASE), NOW)
    assert found[BASE + "/feed.xml"]["etag"] == '"v2"'
    assert found[BASE + "/feed.xml"]["last_modified"] == "Mon, 23 Nov 2026 10:00:00 GMT"
    assert found[BASE + "/feed.xml"]["record"] == [new.warc_file, new.offset, new.length]


def test_quiet_signal_manager_sends_what_scrapys_sends() -> None:
    """Same receivers called, same results, for every way a receiver can be connected
    (this sender or any, this signal or any); nothing connected gives [] without lookups."""
    from pydispatch import dispatcher
    from scrapy.signalmanager import SignalManager

    from crawlers.process import QuietSignalManager

    class Sender:
        pass

    sender, other = Sender(), Sender()
    signal, unrelated = object(), object()
    calls: list[tuple[str, dict[str, Any]]] = []

    def receiver(**kwargs: Any) -> str:
        calls.append(("ok", kwargs))
        return "done"

    def failing(**kwargs: Any) -> None:
        calls.append(("failing", kwargs))
        raise ValueError("receiver failed")

    def outcome(manager: SignalManager) -> tuple[list[tuple[Any, Any]], list[Any]]:
        calls.clear()
        result = manager.send_catch_log(signal=signal, value=1)
        shown = [(r, v if isinstance(v, str) else type(v.value)) for r, v in result]
        return shown, list(calls)

    connections: list[tuple[Any, Any, Any]] = [
        (receiver, signal, sender),  # this sender, this signal
        (receiver, signal, dispatcher.Any),  # any sender
        (receiver, dispatcher.Any, sender),  # any signal
        (receiver, dispatcher.Any, dispatcher.Any),
        (failing, signal, sender),  # a failure is reported, not raised
        (receiver, unrelated, sender),  # another signal only: nothing to send
        (receiver, signal, other),  # another sender only: nothing to send
    ]
    for fn, sig, snd in connections:
        dispatcher.connect(fn, signal=sig, sender=snd)
        try:
            expected = outcome(SignalManager(sender))
            assert outcome(QuietSignalManager(sender)) == expected
            sent = sig in (signal, dispatcher.Any) and snd in (sender, dispatcher.Any)
            assert bool(expected[0]) is sent and len(expected[1]) == int(sent)
        finally:
            dispatcher.disconnect(fn, signal=sig, sender=snd)
    assert outcome(QuietSignalManager(sender)) == ([], [])
