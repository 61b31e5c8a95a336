"""Crawls killed with SIGKILL at random moments, then run again: every article stored once,
nothing archived fetched twice, the archive readable throughout."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from crawl_helpers import SITE, fixture_server, sitemap_source, spawn_job

from crawlers.runner import crawl_job, new_crawl_id, run_crawl
from storage.pages import list_pages_files, read_pages
from storage.warc import iter_records, list_warc_files

ARTICLES = 200
KILLS = 3


def articles_done(root: str, base: str) -> set[str]:
    table = read_pages(root, "site")
    ok = table.filter(pc.equal(table["status"], 200))
    return {u.removeprefix(base) for u in ok["url"].to_pylist() if "/gen/2026/" in u}


def start_crawl(source: Any, root: str, tmp: Path) -> subprocess.Popen[str]:
    crawl_id = new_crawl_id()
    job = crawl_job(
        source, root, crawl_id=crawl_id, result_path=str(tmp / f"{crawl_id}.json"), pages_batch=15
    )
    return spawn_job(job)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    root = str(tmp_path / "archive")
    options = fixture_server.ServerOptions(generate=ARTICLES)
    with fixture_server.FixtureServer(SITE, options) as srv:
        source = sitemap_source(
            srv.base,
            max_depth=1,
            obey_robots=True,
            concurrency_per_domain=1,
        )
        done: set[str] = set()
        for _ in range(KILLS):
            srv.mark = time.time()
            before = len(list_pages_files(root, "site"))
            proc = start_crawl(source, root, tmp_path)
            # Wait for 0..3 new pages files (0: kill during start-up or the first fetches),
            # then a random extra moment, so kills land mid-fetch, mid-write or mid-flush.
            wanted = before + rng.choice([0, 1, 2, 3])
            deadline = time.monotonic() + 60
            while len(list_pages_files(root, "site")) < wanted and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            requested = {e["path"] for e in srv.log.snapshot() if e["time"] >= srv.mark}
            assert not (done & requested), "an archived article was fetched again"
            done = articles_done(root, srv.base)
            assert len(done) < ARTICLES, "the crawl finished before it was killed"
        assert done, "no kill landed after the first pages were stored"
        srv.mark = time.time()
        final = run_crawl(source, root)
        requested = {e["path"] for e in srv.log.snapshot() if e["time"] >= srv.mark}
    assert not (done & requested)
    assert final.skipped_archived == len(done)
    table = read_pages(root, "site")
    ok = table.filter(pc.equal(table["status"], 200))
    per_article = Counter(u for u in ok["url"].to_pylist() if "/gen/2026/" in u)
    assert len(per_article) == ARTICLES  # every article stored...
    assert set(per_article.values()) == {1}  # ...exactly once in the pages index
    for warc in list_warc_files(root, "site"):  # killed crawls' WARC files still read cleanly
        for _ref, rec in iter_records(root, warc):
            assert rec.record_type in ("warcinfo", "response", "request", "metadata")
