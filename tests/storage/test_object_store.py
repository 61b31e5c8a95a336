"""The archive on an S3 API (moto server on 127.0.0.1): WARC by offset, pages, snapshots, views."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from storage_helpers import T0, article_row, batch, load_stories

from storage.fs import ArchivePathError, open_root
from storage.locks import LockTimeout, s3_lock, source_lock
from storage.pages import read_pages, write_pages
from storage.schemas import PAGES_SCHEMA
from storage.snapshots import commit_snapshot, compact, list_snapshots
from storage.views import connect
from storage.warc import WarcWriter, iter_records, read_record

pytestmark = pytest.mark.scale


def test_warc_and_pages_on_s3(s3_root) -> None:
    with WarcWriter(s3_root, "news", "c1") as w:
        refs = [
            w.write_response(
                f"http://news.test/{i}", 200, [("Content-Type", "text/html")], b"x" * i
            )
            for i in range(1, 6)
        ]
    assert not s3_root.is_local
    assert read_record(s3_root, *refs[3]).payload == b"xxxx"  # ranged read by offset
    assert [d.payload for _, d in iter_records(s3_root, refs[0].warc_file)][1:] == [
        b"x" * i for i in range(1, 6)
    ]
    page = {n: None for n in PAGES_SCHEMA.names} | {
        "url": "http://news.test/1",
        "url_key": "news.test/1",
        "source": "news",
        "crawl_id": "c1",
        "status": 200,
        "fetched_at": T0,
    }
    (path,) = write_pages(s3_root, "news", "c1", [page])
    assert s3_root.exists(path) and read_pages(s3_root).num_rows == 1


def test_snapshots_views_and_compaction_on_s3(s3_root) -> None:
    stories = load_stories()
    for i, (slug, text) in enumerate(list(stories.items())[:4]):
        row = article_row(f"https://daily.test/{slug}", text, fetched_at=T0 + timedelta(hours=i))
        commit_snapshot(s3_root, "daily", batch([row]), kind="crawl", extractor="t", rejected={})
    again = commit_snapshot(
        s3_root,
        "daily",
        batch(
            [article_row(f"https://daily.test/{next(iter(stories))}", next(iter(stories.values())))]
        ),
        kind="crawl",
        extractor="t",
        rejected={},
    )
    assert again.counts["unchanged"] == 1
    q = "select article_id, version, text from articles order by 1"
    before = connect(s3_root).sql(q).fetchall()
    assert len(before) == 4
    (info,) = compact(s3_root, "daily")
    assert len(info.replaces) == 4
    assert connect(s3_root).sql(q).fetchall() == before
    assert s3_root.glob("articles", ".parquet") == [f.path for f in info.files]
    assert len(list_snapshots(s3_root)) == 6


def test_warc_commit_makes_records_readable_before_close(s3_root) -> None:
    w = WarcWriter(s3_root, "news", "c2")
    first = w.write_response("http://news.test/a", 200, [], b"alpha")
    # An upload is invisible until it completes: commit() closes the object in progress.
    assert not s3_root.exists(first.warc_file)
    w.commit()
    assert read_record(s3_root, *first).payload == b"alpha"
    second = w.write_response("http://news.test/b", 200, [], b"beta")
    w.close()
    assert second.warc_file != first.warc_file  # the next write started a new object
    assert read_record(s3_root, *second).payload == b"beta"


def test_s3_lock_excludes_other_holders_across_clients(s3_root) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with source_lock(s3_root, "daily"):
            held.set()
            release.wait(20)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(20)
        assert s3_root.exists(".locks/commit-daily.lock")  # a lock object in the bucket
        busy = r"source 'daily' \(commit\) is locked by pid"
        with pytest.raises(LockTimeout, match=busy), source_lock(s3_root, "daily", timeout=0.5):
            pass
        with source_lock(s3_root, "other", timeout=0.5):  # other sources are not blocked
            pass
    finally:
        release.set()
        t.join(20)
    with source_lock(s3_root, "daily", timeout=5):
        pass
    assert not s3_root.exists(".locks/commit-daily.lock")


def test_s3_lock_lease_is_renewed_while_held_and_taken_over_when_stale(s3_root) -> None:
    # A live holder keeps renewing: waiting past its lease does not break its lock.
    with (
        s3_lock(s3_root, "renewed", lease=1.5),
        pytest.raises(LockTimeout),
        s3_lock(s3_root, "renewed", lease=1.5, timeout=3.5),
    ):
        pass
    # A dead holder (an object nobody renews) is taken over once its lease has run out.
    dead = json.dumps({"pid": 4242, "host": "gone", "lease": 1}).encode()
    s3_root.write_bytes_atomic(".locks/stale.lock", dead)
    t0 = time.monotonic()
    with s3_lock(s3_root, "stale", timeout=20):
        assert json.loads(s3_root.read_bytes(".locks/stale.lock"))["pid"] == os.getpid()
    assert time.monotonic() - t0 >= 0.9


def test_missing_bucket_is_a_clear_error(s3_root, s3_endpoint: str) -> None:
    with pytest.raises(ArchivePathError, match="no bucket 'no-such-bucket'"):
        open_root("s3://no-such-bucket/archive", endpoint_url=s3_endpoint)


def test_s3_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(s3_root) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    holder = {"pid": int(gone.stdout), "host": socket.gethostname(), "lease": 600}
    s3_root.write_bytes_atomic(".locks/commit-daily.lock", json.dumps(holder).encode())
    t0 = time.monotonic()
    with source_lock(s3_root, "daily", timeout=30):
        pass
    assert time.monotonic() - t0 < 10  # not the 600 s lease
