"""A crawl into an object store (moto's S3 server) killed with SIGKILL mid-way, then run
again: no pages row points at a WARC object that was never completed, every article is
stored once, nothing archived is fetched twice."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pytest
from crawl_helpers import SITE, fixture_server, sitemap_source, spawn_job

from crawlers.runner import child_env, crawl_job, new_crawl_id, run_crawl
from storage.fs import open_root
from storage.pages import list_pages_files, read_pages
from storage.warc import read_record

pytestmark = [pytest.mark.scale, pytest.mark.slow]

ARTICLES = 120
AWS = {
    "AWS_ACCESS_KEY_ID": "resume-test",
    "AWS_SECRET_ACCESS_KEY": "resume-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _ok_rows(root: Any) -> list[dict[str, Any]]:
    table = read_pages(root, "site")
    ok = table.filter(pc.equal(table["status"], 200))
    return ok.select(["url", "warc_file", "warc_offset", "warc_length"]).to_pylist()


def test_sigkill_of_a_crawl_into_s3_then_rerun(
    tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    bucket = "resume-s3-kill"
    pafs.S3FileSystem(
        endpoint_override=s3_endpoint, region="us-east-1", allow_bucket_creation=True
    ).create_dir(bucket)
    uri = f"s3://{bucket}/archive?endpoint_url={s3_endpoint}"
    root = open_root(uri)
    options = fixture_server.ServerOptions(generate=ARTICLES)
    with fixture_server.FixtureServer(SITE, options) as srv:
        source = sitemap_source(srv.base, concurrency_per_domain=2)
        crawl_id = new_crawl_id()
        job = crawl_job(
            source, uri, crawl_id=crawl_id, result_path=str(tmp_path / "r.json"), pages_batch=10
        )
        proc = spawn_job(job, env={**child_env(), **AWS})
        # Killed after its second pages flush: WARC objects completed before each flush, one
        # upload in progress (its records fetched but not yet pointed at by any row).
        deadline = time.monotonic() + 90
        while len(list_pages_files(root, "site")) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the crawl wrote no pages files"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = _ok_rows(root)
        done = {r["url"] for r in rows if "/gen/2026/" in r["url"]}
        assert 0 < len(done) < ARTICLES, "the kill must land mid-crawl"
        # Every row the killed crawl left points at a record that reads back by offset.
        for row in rows:
            record = read_record(root, row["warc_file"], row["warc_offset"], row["warc_length"])
            assert record.target_uri == row["url"]
        srv.mark = time.time()
        final = run_crawl(source, uri)
        requested = {srv.base + e["path"] for e in srv.log.snapshot() if e["time"] >= srv.mark}
    assert not (done & requested), "an archived article was fetched again"
    assert final.skipped_archived == len(done)
    rows = _ok_rows(root)
    per_article = Counter(r["url"] for r in rows if "/gen/2026/" in r["url"])
    assert len(per_article) == ARTICLES  # every article stored...
    assert set(per_article.values()) == {1}  # ...exactly once
    for row in rows:
        read_record(root, row["warc_file"], row["warc_offset"], row["warc_length"])
