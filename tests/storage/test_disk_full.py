"""Disk full (a file-size limit on a child process): clear error, nothing half-written visible."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from storage.snapshots import list_snapshots
from storage.views import connect
from storage.warc import iter_records, read_record

# RLIMIT_FSIZE makes the kernel refuse writes past a size (EFBIG), like a full disk would
# refuse them with ENOSPC, without root or a special file system.
PRELUDE = """
import os, resource, signal, sys, json
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get an OSError instead of being killed
def limit(n):
    resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
"""

WARC_CHILD = PRELUDE + textwrap.dedent(
    """
    from storage.warc import WarcWriter
    root = sys.argv[1]
    limit(6000)
    w = WarcWriter(root, "news", "c1")
    good = []
    try:
        for i in range(100):
            body = os.urandom(700).hex().encode()  # incompressible
            good.append(tuple(w.write_response(f"http://news.test/{i}", 200, [], body)))
    except OSError as e:
        print(json.dumps({"error": str(e), "good": good}))
        sys.exit(3)
    """
)

COMMIT_CHILD = PRELUDE + textwrap.dedent(
    """
    import pyarrow.parquet as pq
    from storage.snapshots import commit_snapshot
    root, data, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    table = pq.read_table(data)
    limit(n)
    try:
        commit_snapshot(root, "daily", table, kind="crawl", extractor="t", rejected={})
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(3)
    """
)


def test_warc_write_fails_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WARC_CHILD, str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 3, proc.stderr
    out = json.loads(proc.stdout)
    assert "File too large" in out["error"] or "No space" in out["error"]
    good = [tuple(g) for g in out["good"]]
    assert good  # some records fitted
    warc = good[0][0]
    # The failed record was truncated away: the file ends exactly after the last good one.
    assert (tmp_path / warc).stat().st_size == good[-1][1] + good[-1][2]
    scanned = [ref for ref, d in iter_records(str(tmp_path), warc) if d.record_type == "response"]
    assert [tuple(r) for r in scanned] == good
    assert read_record(str(tmp_path), *good[-1]).status == 200


def test_commit_on_full_disk_leaves_nothing(tmp_path: Path) -> None:
    import os

    import pyarrow.parquet as pq
    from storage_helpers import article_row, batch

    rows = [
        article_row(f"https://daily.test/{i}", " ".join(os.urandom(8).hex() for _ in range(300)))
        for i in range(40)
    ]
    data = tmp_path / "batch.parquet"
    pq.write_table(batch(rows), data)
    root = tmp_path / "archive"
    proc = subprocess.run(
        [sys.executable, "-c", COMMIT_CHILD, str(root), str(data), "50000"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 3, proc.stderr
    assert "error:" in proc.stderr
    assert list_snapshots(str(root)) == []
    assert list(root.rglob("*.parquet")) == []  # nothing staged or moved is left
    assert connect(str(root)).sql("select count(*) from articles").fetchall() == [(0,)]
    # With room again, the same batch commits in full.
    proc = subprocess.run(
        [sys.executable, "-c", COMMIT_CHILD, str(root), str(data), str(10**9)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert connect(str(root)).sql("select count(*) from articles").fetchall() == [(40,)]
