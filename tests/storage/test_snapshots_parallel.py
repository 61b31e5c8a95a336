"""A commit's partitions of several row groups, cut into files encoded in parallel."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from storage_helpers import T0, article_row, batch

import storage.snapshots as snapshots
from storage.snapshots import SnapshotInfo, commit_snapshot, compact, list_snapshots
from storage.views import connect

WORDS = ["harbour", "budget", "river", "market", "storm", "festival", "council", "rail"]


def _stage(root: Path, rows: list[dict[str, Any]], per_file: int) -> list[str]:
    """The rows as staged articles files of `per_file` rows (root-relative paths)."""
    (root / "stage").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(0, len(rows), per_file):
        rel = f"stage/articles-{i:05d}.parquet"
        pq.write_table(batch(rows[i : i + per_file]), root / rel)
        paths.append(rel)
    return paths


def _rows(day1: int, day2: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    times = [T0 + timedelta(minutes=i) for i in range(day1)]
    times += [T0 + timedelta(days=1, minutes=i) for i in range(day2)]
    rng.shuffle(times)  # the days mixed in every staged file
    return [
        article_row(
            f"https://daily.test/{i}",
            f"Story {i}. " + " ".join(rng.choice(WORDS) for _ in range(60)),
            fetched_at=at,
        )
        for i, at in enumerate(times)
    ]


def _commit(root: Path, paths: list[str]) -> SnapshotInfo:
    return commit_snapshot(str(root), "daily", paths, kind="crawl", extractor="t/1", rejected={})


def _day_rows(root: Path, info: SnapshotInfo) -> dict[str, list[dict[str, Any]]]:
    """Each partition's rows, file after file in manifest order (snapshot_id dropped)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for f in info.files:
        day = f.path.split("crawl_date=")[1].split("/")[0]
        table = pq.read_table(root / f.path).drop_columns(["snapshot_id"])
        out.setdefault(day, []).extend(table.to_pylist())
    return out


@pytest.mark.parametrize("parallel", [2, 3])
def test_partitions_cut_into_parallel_files_keep_rows_and_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: int
) -> None:
    monkeypatch.setattr(snapshots, "ROW_GROUP_ROWS", 4)
    rows = _rows(day1=21, day2=4)  # day 1: 6 row groups' worth; day 2: one row group
    infos = {}
    for p in (1, parallel):
        monkeypatch.setattr(snapshots, "PARALLEL_FILES", p)
        root = tmp_path / f"p{p}"
        infos[p] = _commit(root, _stage(root, rows, per_file=6))
    one, many = infos[1], infos[parallel]
    assert one.counts == many.counts and one.rows == many.rows == 25
    assert [f.rows for f in one.files] == [21, 4]
    # Day 1 in `parallel` files of equal rows (the last one the rest), day 2 one file.
    per_file = -(-21 // parallel)
    want = [per_file] * (parallel - 1) + [21 - per_file * (parallel - 1), 4]
    assert [f.rows for f in many.files] == want
    sid = many.snapshot_id
    days = ["2026-04-01"] * parallel + ["2026-04-02"]
    assert [f.path for f in many.files] == [
        f"articles/source=daily/crawl_date={day}/{sid}-{n:05d}.parquet"
        for n, day in enumerate(days)
    ]
    # The same rows in the same order: file n holds the rows before file n+1.
    assert _day_rows(tmp_path / "p1", one) == _day_rows(tmp_path / f"p{parallel}", many)
    for f in many.files:
        meta = pq.ParquetFile(tmp_path / f"p{parallel}" / f.path).metadata
        groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        assert groups == [4] * (f.rows // 4) + ([f.rows % 4] if f.rows % 4 else [])
        assert (
            meta.num_rows == f.rows
            and f.bytes == (tmp_path / f"p{parallel}" / f.path).stat().st_size
        )
        text = meta.row_group(0).column(meta.schema.names.index("text"))
        assert text.compression == "ZSTD"
    assert not list((tmp_path / f"p{parallel}" / ".staging").glob("snapshot-*"))
    con = connect(str(tmp_path / f"p{parallel}"))
    assert con.sql("select count(*), count(distinct url) from articles").fetchall() == [(25, 25)]


def test_compaction_merges_the_parallel_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "ROW_GROUP_ROWS", 4)
    monkeypatch.setattr(snapshots, "PARALLEL_FILES", 2)
    rows = _rows(day1=13, day2=9)
    info = _commit(tmp_path, _stage(tmp_path, rows, per_file=5))
    assert [f.rows for f in info.files] == [7, 6, 5, 4]
    before = _day_rows(tmp_path, info)
    (merged,) = compact(str(tmp_path), "daily")
    assert [f.rows for f in merged.files] == [13, 9]
    assert sorted(merged.replaces) == sorted(f.path for f in info.files)
    after = {
        day: [{**r, "snapshot_id": None} for r in got]
        for day, got in _day_rows(tmp_path, merged).items()
    }
    assert after == {day: [{**r, "snapshot_id": None} for r in got] for day, got in before.items()}
    q = "select count(*), count(distinct snapshot_id) from articles"
    assert connect(str(tmp_path)).sql(q).fetchall() == [(22, 1)]


def test_encoding_error_in_a_file_thread_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "ROW_GROUP_ROWS", 4)
    monkeypatch.setattr(snapshots, "PARALLEL_FILES", 2)
    real = snapshots.ArticleFileWriter._write_group
    calls: list[int] = []

    def failing(writer: pq.ParquetWriter, table: pa.Table) -> None:
        calls.append(table.num_rows)
        if len(calls) == 3:
            raise OSError("disk on fire")
        real(writer, table)

    monkeypatch.setattr(snapshots.ArticleFileWriter, "_write_group", staticmethod(failing))
    paths = _stage(tmp_path, _rows(day1=21, day2=4), per_file=6)
    with pytest.raises(OSError, match="disk on fire"):
        _commit(tmp_path, paths)
    assert list_snapshots(str(tmp_path)) == []
    assert not list((tmp_path / "articles").rglob("*.parquet"))
    assert not list((tmp_path / ".staging").glob("snapshot-*"))
    monkeypatch.setattr(snapshots.ArticleFileWriter, "_write_group", staticmethod(real))
    info = _commit(tmp_path, paths)
    assert info.counts["new"] == 25 and len(info.files) == 3


@pytest.mark.scale
def test_parallel_files_on_an_object_store(
    s3_root: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s3 = s3_root
    monkeypatch.setattr(snapshots, "ROW_GROUP_ROWS", 4)
    rows = _rows(day1=13, day2=9)
    infos = {}
    for p in (1, 2):
        monkeypatch.setattr(snapshots, "PARALLEL_FILES", p)
        root: Any = s3 if p == 2 else str(tmp_path)
        infos[p] = commit_snapshot(
            root, "daily", batch(rows), kind="crawl", extractor="t/1", rejected={}
        )
    many = infos[2]
    assert not s3.is_local and [f.rows for f in many.files] == [7, 6, 5, 4]
    assert s3.glob("articles", ".parquet") == [f.path for f in many.files]
    got: dict[str, list[dict[str, Any]]] = {}
    for f in many.files:
        day = f.path.split("crawl_date=")[1].split("/")[0]
        with s3.open_input(f.path) as fh:
            table = pq.read_table(fh).drop_columns(["snapshot_id"])
        assert f.bytes == s3.size(f.path)
        got.setdefault(day, []).extend(table.to_pylist())
    assert got == _day_rows(tmp_path, infos[1])
    q = "select count(*), count(distinct url) from articles"
    assert connect(s3).sql(q).fetchall() == [(22, 22)]
