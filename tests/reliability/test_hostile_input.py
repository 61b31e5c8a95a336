"""Hostile and broken responses: bounded time and memory, a recorded error, no crash."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import site_source

from crawlers.runner import run_crawl
from extraction.extract import REASONS, Article, Rejection, extract_article
from extraction.options import ExtractionOptions
from storage.pages import read_pages
from storage.warc import read_record

HOSTILE = [
    "bomb.br",
    "bad-gzip.html",
    "big-headers",
    "many-headers",
    "endless-chunked",
    "endless-stream",
    "deep.html",
    "bad-utf8.html",
    "nul.html",
    "binary.html",
    "truncated.html",
    "reset.html",
]


def test_hostile_responses_are_recorded_and_bounded(server: Any, tmp_path: Path) -> None:
    starts = [f"{server.base}/hostile/{name}" for name in HOSTILE]
    starts.append(server.base + "/bomb.html")  # the gzip bomb next to the brotli one
    source = site_source(
        server.base,
        start_urls=starts,
        feeds=[],
        sitemaps=[],
        obey_robots=False,
        retry_times=1,
        retry_backoff=0.0,
        download_timeout=3.0,
        download_maxsize=2 * 1024 * 1024,  # deep.html is 1.1 MB
        article_url_patterns=["/hostile/"],
    )
    began = time.monotonic()
    result = run_crawl(source, str(tmp_path), timeout=60)
    elapsed = time.monotonic() - began
    assert result.finish_reason == "finished"
    assert elapsed < 30, elapsed  # the endless bodies stop at the size cap, not the server
    assert 0 < result.peak_rss_mb < 400  # 64 MB bombs and 2 MB of headers never inflate
    rows = read_pages(str(tmp_path), "site").to_pylist()
    by_url: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_url.setdefault(row["url"], []).append(row)
    assert set(starts) <= set(by_url)  # every hostile URL has its row(s)

    def last(name: str) -> dict[str, Any]:
        return by_url[f"{server.base}/hostile/{name}"][-1]

    # Bombs and garbage encodings: archived raw (small), flagged, never decoded in memory.
    for name in ("bomb.br", "bad-gzip.html"):
        row = last(name)
        assert row["status"] == 200 and row["error"], row
        assert row["warc_length"] < 2 * 1024 * 1024
    assert "exceeds download_maxsize" in last("bomb.br")["error"]
    assert "undecodable" in last("bad-gzip.html")["error"]
    # Endless bodies hit the size cap: a failed fetch, retried within bounds.
    for name in ("endless-chunked", "endless-stream"):
        attempts = by_url[f"{server.base}/hostile/{name}"]
        assert 1 <= len(attempts) <= 2
        assert all(r["status"] is None and r["error"] for r in attempts), attempts
    # Resets and truncated bodies: failed fetches with a reason, retried within bounds.
    for name in ("reset.html", "truncated.html"):
        attempts = by_url[f"{server.base}/hostile/{name}"]
        assert len(attempts) == 2  # retry_times=1
        assert all(r["status"] is None and r["error"] for r in attempts), attempts
    # Pages the spider must parse without crashing: archived byte for byte.
    for name in ("deep.html", "bad-utf8.html", "nul.html", "binary.html"):
        row = last(name)
        assert row["status"] == 200 and row["error"] is None, row
        rec = read_record(str(tmp_path), row["warc_file"], row["warc_offset"], row["warc_length"])
        assert rec.status == 200 and len(rec.payload) > 1000
    assert (
        b"\0"
        in read_record(
            str(tmp_path),
            *(last("nul.html")[k] for k in ("warc_file", "warc_offset", "warc_length")),
        ).payload
    )
    # Enormous headers: either archived whole or refused as a failed fetch, never a crash.
    for name in ("big-headers", "many-headers"):
        row = last(name)
        assert row["status"] == 200 or (row["status"] is None and row["error"]), row


def hostile_bodies() -> dict[str, bytes]:
    bad = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xed\xa0\x80"
    depth = 100_000
    return {
        "deep": b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body>",
        "deep-article": b"<html><body><article><p>"
        + b"Words here. " * 60
        + b"</p>"
        + b"<div><p>x" * depth
        + b"</p></div>" * depth
        + b"</article></body></html>",
        "bad-utf8": b"<html><head><meta charset='utf-8'><title>Bad "
        + bad
        + b"</title></head>"
        + (b"<body><p>Words " + bad + b" and more words.</p>") * 200,
        "nul": b"<html>\0<head><title>N\0UL</title></head><body>" + b"<p>Te\0xt.</p>\0" * 200,
        "binary": random.Random(7).randbytes(256 * 1024),
        "empty": b"",
        "unclosed": b"<html><body><p>" + b"<b><i><table><tr><td>" * 5000,
    }


@pytest.mark.parametrize("name", sorted(hostile_bodies()))
def test_extraction_of_hostile_bodies_returns_article_or_rejection(name: str) -> None:
    """The extraction entry point never raises on what the crawler archives raw."""
    result = extract_article(
        hostile_bodies()[name],
        "http://news.example/2026/01/a.html",
        fetched_at=datetime(2026, 1, 2, tzinfo=UTC),
        source="site",
        content_type="text/html; charset=utf-8",
        options=ExtractionOptions(),
    )
    assert isinstance(result, Article | Rejection)
    if isinstance(result, Rejection):
        assert result.reason in REASONS
