"""Crash safety: a commit killed between its steps leaves nothing visible, the next run cleans."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from storage_helpers import T0, article_row, batch

from storage.locks import LockTimeout, source_lock
from storage.snapshots import cleanup_orphans, commit_snapshot, compact, list_snapshots
from storage.views import connect

CHILD = textwrap.dedent(
    """
    import os, sys
    import pyarrow.parquet as pq
    from storage.snapshots import commit_snapshot, compact

    root, source, data, crash_at, timeout = sys.argv[1:6]

    def fault(step):
        if step == crash_at:
            os._exit(137)  # like SIGKILL: no cleanup, no finally blocks

    if data == "compact":
        compact(root, source, fault=fault)
    else:
        info = commit_snapshot(
            root, source, pq.read_table(data), kind="crawl", extractor="t", rejected={},
            fault=fault, lock_timeout=float(timeout),
        )
        print(info.snapshot_id, info.counts["new"])
    """
)


def _run_child(
    root: Path, source: str, data: str, crash_at: str = "", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(root), source, data, crash_at, str(timeout)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _stories_batch(tmp_path: Path, stories: dict[str, str], source: str, name: str) -> str:
    rows = [
        article_row(
            f"https://{source}.test/2026/04/{slug}",
            text,
            source=source,
            fetched_at=T0 + timedelta(minutes=i),
        )
        for i, (slug, text) in enumerate(stories.items())
    ]
    path = tmp_path / f"{name}.parquet"
    pq.write_table(batch(rows), path)
    return str(path)


@pytest.mark.parametrize("crash_at", ["staged", "moved"])
def test_kill_before_manifest_leaves_nothing_visible(
    tmp_path: Path, stories: dict[str, str], crash_at: str
) -> None:
    root = tmp_path / "archive"
    data = _stories_batch(tmp_path, stories, "daily", "b")
    proc = _run_child(root, "daily", data, crash_at)
    assert proc.returncode == 137, proc.stderr
    assert list_snapshots(str(root)) == []
    leftovers = list(root.rglob("*.parquet"))
    assert leftovers  # the crash really left files behind (staged or moved)
    if crash_at == "moved":
        assert any("articles" in p.parts for p in leftovers)
    assert connect(str(root)).sql("select count(*) from articles").fetchall() == [(0,)]

    # The next run removes the leftovers and commits everything exactly once.
    proc = _run_child(root, "daily", data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == str(len(stories))
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    (snap,) = list_snapshots(str(root))
    assert files == [f.path for f in snap.files]
    con = connect(str(root))
    assert con.sql("select count(*), count(distinct article_id) from articles").fetchall() == [
        (len(stories), len(stories))
    ]


def test_kill_after_compaction_manifest_keeps_results(
    tmp_path: Path, stories: dict[str, str]
) -> None:
    root = tmp_path / "archive"
    for i, (slug, text) in enumerate(stories.items()):
        commit_snapshot(
            str(root),
            "daily",
            batch([article_row(f"https://daily.test/{slug}", text)]),
            kind="crawl",
            extractor="t",
            rejected={},
        )
        if i == 3:
            break
    query = "select article_id, version, snapshot_id, text from articles order by 1"
    before = connect(str(root)).sql(query).fetchall()
    proc = _run_child(root, "daily", "compact", "manifest")
    assert proc.returncode == 137, proc.stderr
    # Manifest committed, replaced files not yet deleted: readers still see each row once.
    assert len(list(root.rglob("*.parquet"))) == 5
    assert connect(str(root)).sql(query).fetchall() == before
    removed = cleanup_orphans(str(root))
    assert len(removed) == 4
    assert connect(str(root)).sql(query).fetchall() == before


def test_two_sources_commit_concurrently(tmp_path: Path, stories: dict[str, str]) -> None:
    root = tmp_path / "archive"
    items = list(stories.items())
    procs = []
    for source in ("daily", "herald"):
        script = textwrap.dedent(
            f"""
            import sys
            from datetime import timedelta
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from storage_helpers import T0, article_row, batch
            from storage.snapshots import commit_snapshot
            items = {items!r}
            for i in range(0, len(items), 2):
                rows = [
                    article_row(f"https://{source}.test/{{slug}}/{{j}}", f"{source} {{j}} " + text,
                                source={source!r}, fetched_at=T0 + timedelta(days=i))
                    for j, (slug, text) in enumerate(items[i:i + 2])
                ]
                commit_snapshot({str(root)!r}, {source!r}, batch(rows), kind="crawl",
                                extractor="t", rejected={{}})
            """
        )
        procs.append(subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    snaps = list_snapshots(str(root))
    assert len(snaps) == 10
    con = connect(str(root))
    got = con.sql("select source, count(*) from articles group by 1 order by 1").fetchall()
    assert got == [("daily", 10), ("herald", 10)]
    files = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}
    assert files == {f.path for s in snaps for f in s.files}


def test_same_source_waits_then_errors_clearly(tmp_path: Path, stories: dict[str, str]) -> None:
    root = tmp_path / "archive"
    data = _stories_batch(tmp_path, stories, "daily", "b")
    with source_lock(str(root), "daily"):
        proc = _run_child(root, "daily", data, timeout=0.5)
        assert proc.returncode != 0
        assert "source 'daily' is locked by another commit" in proc.stderr
        assert f"pid {os.getpid()}" in proc.stderr
    assert list_snapshots(str(root)) == []

    # A waiting committer proceeds as soon as the holder lets go.
    lock = source_lock(str(root), "daily")
    lock.__enter__()
    threading.Timer(1.0, lambda: lock.__exit__(None, None, None)).start()
    t0 = time.monotonic()
    proc = _run_child(root, "daily", data, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 >= 0.9
    assert len(list_snapshots(str(root))) == 1


def test_lock_timeout_in_process(tmp_path: Path) -> None:
    with (
        source_lock(str(tmp_path), "daily"),
        pytest.raises(LockTimeout, match="gave up after"),
        source_lock(str(tmp_path), "daily", timeout=0.1),
    ):
        pass
    with source_lock(str(tmp_path), "daily", timeout=0.1), source_lock(str(tmp_path), "other"):
        pass  # different sources do not block each other


def test_compact_leaves_query_results_unchanged(tmp_path: Path, stories: dict[str, str]) -> None:
    root = str(tmp_path)
    items = list(stories.items())
    for day in range(2):
        for slug, text in items[:4]:
            url = f"https://daily.test/{slug}"
            t = text if day == 0 else text + " Updated."
            commit_snapshot(
                root,
                "daily",
                batch([article_row(url, t, fetched_at=T0 + timedelta(days=day))]),
                kind="crawl",
                extractor="t",
                rejected={},
            )
    commit_snapshot(
        root,
        "herald",
        batch([article_row("https://herald.test/x", items[5][1], source="herald")]),
        kind="crawl",
        extractor="t",
        rejected={},
    )
    queries = [
        "select * exclude (crawl_date), crawl_date::varchar from articles order by all",
        "select article_id, version, text from latest_articles order by all",
        "select source, crawl_date::varchar, count(*) from articles group by all order by all",
    ]
    before = [connect(root).sql(q).fetchall() for q in queries]
    assert len(list(tmp_path.rglob("*.parquet"))) == 9
    (info,) = compact(root, "daily")
    assert info.kind == "compact" and len(info.replaces) == 8 and len(info.files) == 2
    assert info.stats["rows"] == 8
    assert sorted(p.name for p in tmp_path.rglob("*.parquet") if "daily" in str(p)) == sorted(
        f.path.rsplit("/", 1)[-1] for f in info.files
    )
    assert [connect(root).sql(q).fetchall() for q in queries] == before
    kinds = connect(root).sql("select kind, count(*) from snapshots group by 1 order by 1")
    assert kinds.fetchall() == [("compact", 1), ("crawl", 9)]
    assert compact(root, "daily") == []  # nothing small left to merge
    # Dedup still works against compacted files.
    again = commit_snapshot(
        root,
        "daily",
        batch([article_row(f"https://daily.test/{items[0][0]}", items[0][1] + " Updated.")]),
        kind="crawl",
        extractor="t",
        rejected={},
    )
    assert again.counts["unchanged"] == 1
