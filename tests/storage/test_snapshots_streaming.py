"""Snapshot commits from staged files: streamed file by file, same snapshot as one table."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from storage_helpers import T0, article_row, batch

import storage.snapshots as snapshots
from storage.dedup import fingerprint, simhash_ext
from storage.schemas import SchemaError
from storage.snapshots import SnapshotInfo, commit_snapshot, list_snapshots
from storage.views import connect

WORDS = [
    a + b
    for a in ("har", "bud", "riv", "mar", "sto", "fes")
    for b in ("bour", "get", "er", "ket", "rm")
]


def _text(rng: random.Random, n: int = 80) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _stage(root: Path, chunks: list[list[dict[str, Any]]], name: str = "stage") -> list[str]:
    """Write each chunk as one staged articles file (as extract_batch does); root-relative."""
    (root / name).mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rows in enumerate(chunks):
        rel = f"{name}/articles-{i:05d}.parquet"
        pq.write_table(batch(rows), root / rel)
        paths.append(rel)
    return paths


def _commit(root: Path, source: str, extracted: Any, **kw: Any) -> SnapshotInfo:
    return commit_snapshot(
        str(root), source, extracted, kind="crawl", extractor="t/1", rejected={}, **kw
    )


def _versions(root: Path) -> set[tuple]:
    q = "select article_id, version, content_hash, duplicate_of, source from articles"
    return set(connect(str(root)).sql(q).fetchall())


def _herald_rows(stories: dict[str, str]) -> list[list[dict[str, Any]]]:
    """Two commits' worth of rows over three days: wire copies of stored stories (flagged
    near-duplicates), unique texts, one text under two URLs, one article changing."""
    rng = random.Random(7)
    rows = []
    for i, (slug, text) in enumerate(stories.items()):
        wire = f"WIRE - {text} Reporting by the wire desk."
        at = T0 + timedelta(hours=7 * i)
        rows.append(
            article_row(f"https://herald.test/wire/{slug}", wire, source="herald", fetched_at=at)
        )
    for i in range(24):
        text = _text(rng)
        extra: dict[str, Any] = {"simhash_ext": simhash_ext(text)} if i % 3 == 0 else {}
        at = T0 + timedelta(hours=3 * i, minutes=1)
        rows.append(
            article_row(
                f"https://herald.test/own/{i}", text, source="herald", fetched_at=at, **extra
            )
        )
    same = _text(rng)
    rows.append(article_row("https://herald.test/a", same, source="herald", fetched_at=T0))
    rows.append(
        article_row("https://herald.test/b", same, source="herald", fetched_at=T0 + timedelta(1))
    )
    changing = _text(rng)
    rows.append(article_row("https://herald.test/c", changing, source="herald", fetched_at=T0))
    rows.append(
        article_row(
            "https://herald.test/c",
            changing + " Corrected.",
            source="herald",
            fetched_at=T0 + timedelta(hours=30),
        )
    )
    # The second commit: some rows again (unchanged), one article changed once more.
    again = [
        *rows[12:20],
        article_row(
            "https://herald.test/c",
            changing + " Corrected twice.",
            source="herald",
            fetched_at=T0 + timedelta(days=2, hours=1),
        ),
    ]
    return [rows, again]


def test_files_commit_equals_table_commit(tmp_path: Path, stories: dict[str, str]) -> None:
    daily = [article_row(f"https://daily.test/{s}", t) for s, t in stories.items()]
    infos: dict[str, list[SnapshotInfo]] = {}
    for how in ("files", "table", "chunks"):
        root = tmp_path / how
        _commit(root, "daily", batch(daily))
        infos[how] = []
        for n, rows in enumerate(_herald_rows(stories)):
            rng = random.Random(n)
            rng.shuffle(rows)  # staged files are not in fetch order
            cuts = sorted({c for c in (0, 5, 6, 19, len(rows) - 3, len(rows)) if c <= len(rows)})
            chunks = [rows[a:b] for a, b in itertools.pairwise(cuts)]
            if how == "files":
                extracted: Any = _stage(root, chunks, f"stage{n}")
            elif how == "chunks":  # one table of several chunks, as concat_tables makes
                extracted = pa.concat_tables([batch(c) for c in chunks])
                assert extracted["text"].num_chunks == len(chunks)
            else:
                extracted = batch(rows)
            infos[how].append(_commit(root, "herald", extracted))
    for a, b, c in zip(infos["files"], infos["table"], infos["chunks"], strict=True):
        assert a.counts == b.counts == c.counts and a.rows == b.rows
        assert a.stats["input_rows"] == b.stats["input_rows"]
        assert [f.rows for f in a.files] == [f.rows for f in b.files]
    first = infos["files"][0].counts
    assert first["near_duplicates_flagged"] == len(stories)
    assert first["duplicates_same_source"] == 1 and first["new"] > 30
    assert infos["files"][1].counts["changed"] == 1
    assert infos["files"][1].counts["unchanged"] == 8
    got = _versions(tmp_path / "files")
    assert got == _versions(tmp_path / "table") == _versions(tmp_path / "chunks")
    assert {v for _, v, _, _, s in got if s == "herald"} == {1, 2, 3}
    q = "select url, text, simhash, simhash_ext, fetched_at, title from articles"
    files_rows = set(connect(str(tmp_path / "files")).sql(q).fetchall())
    assert files_rows == set(connect(str(tmp_path / "table")).sql(q).fetchall())
    # A table, chunked or not, is written in plan order: the same files, row for row.
    for a, b in zip(infos["table"], infos["chunks"], strict=True):
        for fa, fb in zip(a.files, b.files, strict=True):
            ta = pq.read_table(tmp_path / "table" / fa.path).drop_columns(["snapshot_id"])
            tb = pq.read_table(tmp_path / "chunks" / fb.path).drop_columns(["snapshot_id"])
            assert ta.to_pylist() == tb.to_pylist()


def test_rotation_across_files_and_days(
    tmp_path: Path, stories: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "MAX_ROWS_PER_FILE", 3)
    monkeypatch.setattr(snapshots, "ROW_GROUP_ROWS", 2)
    rng = random.Random(3)
    # 7 rows on April 1st, 5 on April 2nd, the days mixed in every staged file; each file
    # in fetch order, as extraction writes them.
    day1 = [T0 + timedelta(minutes=i) for i in range(7)]
    day2 = [T0 + timedelta(days=1, minutes=i) for i in range(5)]
    times = sorted(day1 + day2, key=lambda t: (t.minute, t.day))
    rows = [
        article_row(f"https://daily.test/{i}", _text(rng), fetched_at=at)
        for i, at in enumerate(times)
    ]
    chunks = [rows[0:5], rows[5:6], rows[6:12]]
    info = _commit(tmp_path, "daily", _stage(tmp_path, chunks))
    assert info.counts["new"] == 12
    sid = info.snapshot_id
    expected = [
        ("2026-04-01", 0, 3),
        ("2026-04-01", 1, 3),
        ("2026-04-01", 2, 1),
        ("2026-04-02", 3, 3),
        ("2026-04-02", 4, 2),
    ]
    assert [(f.path, f.rows) for f in info.files] == [
        (f"articles/source=daily/crawl_date={day}/{sid}-{n:05d}.parquet", rows)
        for day, n, rows in expected
    ]
    urls_by_day: dict[str, list[str]] = {}
    for f, (day, _, n) in zip(info.files, expected, strict=True):
        pf = pq.ParquetFile(tmp_path / f.path)
        groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
        assert groups == ([2, 1] if n == 3 else [n])
        assert f.bytes == (tmp_path / f.path).stat().st_size
        urls_by_day.setdefault(day, []).extend(pf.read(columns=["url"])["url"].to_pylist())
    # Within a day: input order (file by file).
    for day, at in (("2026-04-01", day1), ("2026-04-02", day2)):
        assert urls_by_day[day] == [r["url"] for r in rows if r["fetched_at"] in at]
    con = connect(str(tmp_path))
    assert con.sql("select count(*), count(distinct url) from articles").fetchall() == [(12, 12)]
    # No row had simhash_ext: fingerprints came from the texts, read 2 rows at a time here.
    got = con.sql("select text, simhash, simhash_ext from articles").fetchall()
    assert all((h, ext) == (fingerprint(t)[0], simhash_ext(t)) for t, h, ext in got)
    assert not list((tmp_path / ".staging").glob("snapshot-*"))


@pytest.mark.parametrize("bad", ["schema", "source", "type"])
def test_bad_file_in_the_middle_writes_nothing(
    tmp_path: Path, stories: dict[str, str], bad: str
) -> None:
    rows = [article_row(f"https://daily.test/{s}", t) for s, t in stories.items()]
    paths = _stage(tmp_path, [rows[:3], rows[3:6], rows[6:]])
    middle = tmp_path / paths[1]
    table = batch(rows[3:6])
    if bad == "schema":
        table = table.drop_columns(["content_hash"])
        match = r"articles-00001\.parquet.*content_hash"
    elif bad == "source":
        table = batch([{**r, "source": "herald"} for r in rows[3:6]])
        match = r"articles-00001\.parquet.*3 row\(s\) have a source other than 'daily'"
    else:
        table = table.set_column(
            table.schema.get_field_index("word_count"),
            "word_count",
            pa.array(["many"] * 3, pa.string()),
        )
        match = r"articles-00001\.parquet.*word_count"
    pq.write_table(table, middle)
    with pytest.raises(SchemaError, match=match):
        _commit(tmp_path, "daily", paths)
    assert list_snapshots(str(tmp_path)) == []
    assert not (tmp_path / "articles").exists()
    assert all((tmp_path / p).exists() for p in paths)  # the input is left alone
    with pytest.raises(TypeError):
        _commit(tmp_path, "daily", paths[0])


def test_failed_write_removes_its_files(tmp_path: Path, stories: dict[str, str]) -> None:
    rows = [
        article_row(f"https://daily.test/{s}", t, fetched_at=T0 + timedelta(days=i % 2))
        for i, (s, t) in enumerate(stories.items())
    ]
    paths = _stage(tmp_path, [rows[:4], rows[4:]])

    def fault(step: str) -> None:
        if step == "staged":
            raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        _commit(tmp_path, "daily", paths, fault=fault)
    assert list_snapshots(str(tmp_path)) == []
    assert not list((tmp_path / "articles").rglob("*.parquet"))
    assert not list((tmp_path / ".staging").glob("snapshot-*"))
    # The next commit of the same files works and sees everything as new.
    info = _commit(tmp_path, "daily", paths)
    assert info.counts["new"] == len(stories) and len(info.files) == 2


def test_empty_file_list_commits_counts_only(tmp_path: Path) -> None:
    info = _commit(tmp_path, "daily", [])
    assert info.files == [] and info.counts["new"] == 0 and info.stats["input_rows"] == 0
    assert [s.snapshot_id for s in list_snapshots(str(tmp_path))] == [info.snapshot_id]


def test_buffer_cap_writes_smaller_row_groups(
    tmp_path: Path, stories: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above BUFFER_BYTES buffered across partitions, the biggest buffer is written early.
    monkeypatch.setattr(snapshots, "BUFFER_BYTES", 1)
    rows = [
        article_row(f"https://daily.test/{s}", t, fetched_at=T0 + timedelta(days=i % 2))
        for i, (s, t) in enumerate(stories.items())
    ]
    paths = _stage(tmp_path, [rows[:3], rows[3:7], rows[7:]])
    info = _commit(tmp_path, "daily", paths)
    assert [f.rows for f in info.files] == [5, 5]
    for f in info.files:
        meta = pq.ParquetFile(tmp_path / f.path).metadata
        assert meta.num_row_groups > 1 and meta.num_rows == 5
    got = connect(str(tmp_path)).sql("select url from articles").fetchall()
    assert sorted(u for (u,) in got) == sorted(r["url"] for r in rows)
