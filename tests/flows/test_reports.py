"""What a run tells its user about sites the circuit breaker cut off (CLI and run report)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from crawlers.runner import CrawlResult
from flows.cli import _print_crawl_results
from flows.pipeline import report_markdown


def _summary(dropped: int, sites: list[str]) -> dict[str, Any]:
    result = CrawlResult(
        crawl_id="c1",
        source="news",
        finish_reason="finished",
        pages_files=[],
        warc_files=[],
        bytes_archived=10,
        status_counts={"200": 3, "503": 10},
        fetch_errors=0,
        requests_scheduled=13 + dropped,
        dropped_offsite=0,
        dropped_non_http=0,
        refused_private=0,
        robots_forbidden=0,
        skipped_archived=0,
        counts={},
        peak_rss_mb=100.0,
        dropped_circuit_open=dropped,
        circuit_open_sites=sites,
    )
    crawl = dict(asdict(result), pages_fetched=13, problems=[])
    return {
        "source": "news",
        "ok": True,
        "crawl": crawl,
        "snapshot": {"snapshot_id": "s1", "new": 3, "changed": 0, "unchanged": 0},
        "extraction": {"articles": 3, "pages": 3, "rejected": {}},
        "durations": {"total": 1.0},
    }


def test_circuit_open_sites_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _summary(47, ["http://dead.example:80"])
    assert _print_crawl_results([summary], quiet=False) == 0
    err = capsys.readouterr().err
    assert "stopped fetching http://dead.example:80" in err
    assert "47 URLs left for the next run" in err
    report = report_markdown(summary, "crawl")
    assert "| not fetched, circuit open (http://dead.example:80): next run | 47 |" in report


def test_nothing_is_said_when_no_circuit_opened(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _summary(0, [])
    _print_crawl_results([summary], quiet=False)
    assert "circuit" not in capsys.readouterr().err
    assert "circuit" not in report_markdown(summary, "crawl")
