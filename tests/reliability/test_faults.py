"""Faults during a crawl: the site dies mid-crawl, flaky answers, a full disk."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from rel_helpers import fixture_server, run_job, site_source, sitemap_source, spawn_job

from crawlers.runner import crawl_job, run_crawl
from storage.pages import read_pages
from storage.warc import iter_records, list_warc_files, read_record

SERVER = Path(fixture_server.__file__)
ARTICLES = 120  # a dead site costs ~0.3 s per refused attempt (Twisted attempt delay)
#: Errors a dying site can cause: refused once it is gone; lost, never answered or cut short
#: when it died mid-request.
#: Every failure class a dying server can cause: refused, reset while connecting (Twisted's
#: ConnectError), lost, never answered, truncated, timed out.
NETWORK_FAILURE = re.compile(
    r"^(Download)?(Connect|ResponseNeverReceived|ResponseFailed|ResponseDataLoss|Failed"
    r"|TCPTimedOut|Timeout)\w*:"
)


def start_server(port: int = 0, generate: int = ARTICLES) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SERVER),
            "--generate",
            str(generate),
            "--realistic",
            "--port",
            str(port),
            "--slow-rate",
            "0.3",
            "--slow-seconds",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def served(base: str) -> int:
    with urllib.request.urlopen(base + "/__log__", timeout=5) as resp:
        return len(json.load(resp))


def records_readable(root: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["warc_file"] is not None:
            rec = read_record(root, row["warc_file"], row["warc_offset"], row["warc_length"])
            assert rec.target_uri == row["url"]


def test_site_killed_mid_crawl_then_back(tmp_path: Path) -> None:
    root = str(tmp_path)
    proc, base = start_server()
    port = int(base.rsplit(":", 1)[1])
    source = sitemap_source(
        base,
        concurrency_per_domain=8,
        retry_times=2,
        retry_backoff=0.01,
        max_pages=1000,
    )
    crawl_id = "c-down"
    job = crawl_job(source, root, crawl_id=crawl_id, result_path=str(tmp_path / "r.json"))
    crawl = spawn_job(job, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while served(base) < 40:  # the site dies after ~40 requests
        assert time.monotonic() < deadline and crawl.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, err = crawl.communicate(timeout=60)
    assert crawl.returncode == 0, err[-2000:]  # the run finishes
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["finish_reason"] == "finished" and result["fetch_errors"] > 0
    rows = read_pages(root, "site", crawl_id=crawl_id).to_pylist()
    attempts = Counter(r["url"] for r in rows)
    assert max(attempts.values()) <= 3  # retried within bounds (retry_times=2)
    failed = {r["url"] for r in rows if r["status"] is None}
    ok = {r["url"] for r in rows if r["status"] == 200}
    errors = [r["error"] or "" for r in rows if r["status"] is None]
    assert failed and ok and all(NETWORK_FAILURE.match(e) for e in errors), set(errors)
    assert all(attempts[u] == 3 for u in failed - ok)  # each gave up after 3 attempts
    records_readable(root, rows)
    # The site comes back on the same address: the rerun fetches what is missing, only that.
    proc, base2 = start_server(port)
    try:
        assert base2 == base
        rerun = run_crawl(source, root, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert rerun.skipped_archived == len({u for u in ok if "/gen/2026/" in u})
    table = read_pages(root, "site")
    per_article = Counter(
        r["url"] for r in table.to_pylist() if r["status"] == 200 and "/gen/2026/" in r["url"]
    )
    assert len(per_article) == ARTICLES and set(per_article.values()) == {1}


def test_flaky_answers_are_retried_and_every_attempt_recorded(server: Any, tmp_path: Path) -> None:
    starts = [f"{server.base}/hostile/flaky/{k}.html" for k in range(4)]
    source = site_source(
        server.base,
        start_urls=starts,
        feeds=[],
        sitemaps=[],
        obey_robots=False,
        retry_times=2,
        retry_backoff=0.05,
    )
    result = run_crawl(source, str(tmp_path), timeout=60)
    rows = read_pages(str(tmp_path), "site").to_pylist()
    for url in starts:
        mine = sorted((r for r in rows if r["url"] == url), key=lambda r: r["fetched_at"])
        # The reset is a failed-fetch row, unless Twisted's pool silently re-sent the GET on
        # a fresh connection (it does once when a reused connection dies before answering).
        assert [r["status"] for r in mine if r["status"] is not None] == [503, 200]
        assert all("Connection" in r["error"] for r in mine if r["status"] is None)
    assert result.status_counts == {"503": 4, "200": 4} and result.fetch_errors <= 4


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))


def test_disk_full_during_crawl_is_a_clear_error_and_nothing_torn(tmp_path: Path) -> None:
    root = str(tmp_path / "archive")
    proc, base = start_server(generate=200)
    try:
        source = sitemap_source(
            base,
        )
        job = crawl_job(
            source, root, crawl_id="c-full", result_path=str(tmp_path / "r.json"), pages_batch=20
        )
        # Writes past 400 kB fail with EFBIG, like ENOSPC.
        crawl = run_job(job, timeout=120, preexec_fn=_limit_file_size)
    finally:
        proc.kill()
        proc.wait()
    assert crawl.returncode == 1
    lines = [line for line in crawl.stderr.splitlines() if line.startswith("crawl failed:")]
    assert len(lines) == 1 and "File too large" in lines[0], crawl.stderr[-2000:]
    assert "Traceback" not in crawl.stderr
    # What readers see is whole: pages rows parse and point at complete records.
    rows = read_pages(root, "site").to_pylist()
    assert rows  # the batches written before the disk filled up are kept
    records_readable(root, rows)
    for rel in list_warc_files(root, "site"):
        for _ref, rec in iter_records(root, rel):  # the torn tail is skipped, not an error
            assert rec.record_type in ("warcinfo", "response", "request", "metadata")


def test_two_crawls_of_one_source_second_exits_clearly_nothing_twice(tmp_path: Path) -> None:
    root = str(tmp_path / "archive")
    proc, base = start_server(generate=60)
    try:
        source = sitemap_source(
            base,
            concurrency_per_domain=1,
            download_delay=0.05,  # ~3 s of crawling: the second crawl starts meanwhile
            autothrottle=False,
        )
        job = crawl_job(source, root, crawl_id="c-first", result_path=str(tmp_path / "a.json"))
        first = spawn_job(job)
        deadline = time.monotonic() + 30
        while served(base) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        job2 = crawl_job(source, root, crawl_id="c-second", result_path=str(tmp_path / "b.json"))
        second = run_job(job2)
        first.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert second.returncode == 1
    assert second.stderr.strip().startswith("crawl failed: source 'site' is locked by")
    assert "\n" not in second.stderr.strip()
    assert first.returncode == 0
    table = read_pages(root, "site")
    assert set(table["crawl_id"].to_pylist()) == {"c-first"}
    assert not list(Path(root).rglob("c-second*"))
    per_article = Counter(r for r in table["url"].to_pylist() if "/gen/2026/" in r)
    assert len(per_article) == 60 and set(per_article.values()) == {1}
