"""Snapshot commits: dedup semantics, versions, near-duplicate flags, manifests and views."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from storage_helpers import T0, article_row, batch

from storage.schemas import SchemaError
from storage.snapshots import commit_snapshot, list_snapshots
from storage.urls import article_id, url_key
from storage.views import connect

REJ = {"not_article": 2}


def _commit(root: Path, rows: list[dict], source: str = "daily", **kw: object):
    return commit_snapshot(
        str(root), source, batch(rows), kind="crawl", extractor="test/1", rejected=REJ, **kw
    )


def _rows(root: Path, sql: str) -> list[tuple]:
    return connect(str(root)).sql(sql).fetchall()


def test_first_commit_then_rerun_adds_nothing(tmp_path: Path, stories: dict[str, str]) -> None:
    rows = [
        article_row(f"https://daily.test/2026/04/{slug}", text)
        for slug, text in list(stories.items())[:4]
    ]
    info = _commit(tmp_path, rows, crawl_id="c1", stats={"pages": 6})
    assert re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{8}", info.snapshot_id)
    assert info.counts["new"] == 4 and info.rows == 4
    assert info.counts["rejected"] == {"not_article": 2}
    assert [f.path for f in info.files] == [
        f"articles/source=daily/crawl_date=2026-04-01/{info.snapshot_id}-00000.parquet"
    ]
    manifest = json.loads((tmp_path / "snapshots" / f"{info.snapshot_id}.json").read_text())
    assert manifest["kind"] == "crawl" and manifest["crawl_id"] == "c1"
    assert manifest["schema_version"] == 1 and manifest["stats"]["pages"] == 6
    assert manifest["files"][0]["rows"] == 4 and manifest["files"][0]["bytes"] > 0

    again = _commit(tmp_path, rows, crawl_id="c2")
    assert again.counts["new"] == 0 and again.counts["unchanged"] == 4
    assert again.files == [] and again.snapshot_id > info.snapshot_id
    assert [s.snapshot_id for s in list_snapshots(str(tmp_path))] == [
        info.snapshot_id,
        again.snapshot_id,
    ]
    assert _rows(tmp_path, "select count(*), count(distinct article_id) from articles") == [(4, 4)]
    got = _rows(tmp_path, "select snapshot_id, new, unchanged, rejected from snapshots order by 1")
    assert got == [(info.snapshot_id, 4, 0, 2), (again.snapshot_id, 0, 4, 2)]
    ids = _rows(tmp_path, "select article_id, version, url_key from articles order by url_key")
    assert all(aid == article_id(key) and v == 1 for aid, v, key in ids)


def test_tracking_and_amp_variants_are_one_row(tmp_path: Path, stories: dict[str, str]) -> None:
    text = stories["river-flood"]
    variants = [
        "https://daily.test/2026/04/river-flood",
        "https://daily.test/2026/04/river-flood?utm_source=twitter&utm_medium=social",
        "https://DAILY.test:443/2026/04/river-flood/amp#comments",
        "https://daily.test/amp/2026/04/river-flood?fbclid=abc",
    ]
    assert len({url_key(u) for u in variants}) == 1
    rows = [
        article_row(u, text, fetched_at=T0 + timedelta(minutes=i)) for i, u in enumerate(variants)
    ]
    info = _commit(tmp_path, rows)
    assert (info.counts["new"], info.counts["unchanged"]) == (1, 3)
    assert _rows(tmp_path, "select count(*) from articles") == [(1,)]


def test_same_text_two_urls_is_one_row(tmp_path: Path, stories: dict[str, str]) -> None:
    text = stories["chess-club"]
    first = _commit(
        tmp_path,
        [
            article_row("https://daily.test/2026/04/chess-club", text),
            article_row("https://daily.test/local/chess", text, fetched_at=T0 + timedelta(1)),
        ],
    )
    assert (first.counts["new"], first.counts["duplicates_same_source"]) == (1, 1)
    later = _commit(tmp_path, [article_row("https://daily.test/archive/chess-club-2", text)])
    assert later.counts["duplicates_same_source"] == 1 and later.rows == 0
    assert _rows(tmp_path, "select url from articles") == [
        ("https://daily.test/2026/04/chess-club",)
    ]


def test_corrected_article_becomes_version_two(tmp_path: Path, stories: dict[str, str]) -> None:
    url = "https://daily.test/2026/04/museum-theft"
    text = stories["museum-theft"]
    fixed = text.replace("two people", "three people")
    _commit(tmp_path, [article_row(url, text)])
    info = _commit(tmp_path, [article_row(url, fixed, fetched_at=T0 + timedelta(days=1))])
    assert (info.counts["new"], info.counts["changed"]) == (0, 1)
    got = _rows(tmp_path, "select version, text like '%three people%' from articles order by 1")
    assert got == [(1, False), (2, True)]
    latest = _rows(tmp_path, "select version, crawl_date::varchar from latest_articles")
    assert latest == [(2, "2026-04-02")]
    # The old text coming back is a new version again (history is kept in order).
    back = _commit(tmp_path, [article_row(url, text, fetched_at=T0 + timedelta(days=2))])
    assert back.counts["changed"] == 1
    assert _rows(tmp_path, "select max(version), count(*) from articles") == [(3, 3)]


def test_wire_copy_on_other_source_is_flagged(tmp_path: Path, stories: dict[str, str]) -> None:
    daily = [article_row(f"https://daily.test/2026/04/{s}", t) for s, t in stories.items()]
    _commit(tmp_path, daily)
    original = stories["factory-jobs"]
    wire = (
        "TOWNSVILLE (Wire) - "
        + original.replace("next year", "in the coming year")
        + " Reporting by the wire desk; editing by staff."
    )
    other_rows = [
        article_row("https://herald.test/news/factory-hiring", wire, source="herald"),
        article_row(
            "https://herald.test/news/own-story",
            "A herald reporter spent a week with the lighthouse keepers of the northern islands, "
            "who still row out to check the lamps when the automatic system fails in a storm. "
            "They say the work is lonely but that visitors bring fresh bread and news.",
            source="herald",
        ),
    ]
    info = _commit(tmp_path, other_rows, source="herald")
    assert info.counts["new"] == 2 and info.counts["near_duplicates_flagged"] == 1
    got = _rows(
        tmp_path,
        "select url, duplicate_of from articles where source = 'herald' order by url",
    )
    expected_of = article_id(url_key("https://daily.test/2026/04/factory-jobs"))
    assert got == [
        ("https://herald.test/news/factory-hiring", expected_of),
        ("https://herald.test/news/own-story", None),
    ]
    # The same copy far outside the time window is not searched for (bounded cost).
    late = article_row(
        "https://herald.test/news/factory-hiring-archive",
        wire + " Archived.",
        source="herald",
        fetched_at=T0 + timedelta(days=60),
    )
    assert _commit(tmp_path, [late], source="herald").counts["near_duplicates_flagged"] == 0
    # No story of the first source was flagged against another one (precision on fixtures).
    assert _rows(
        tmp_path,
        "select count(*) from articles where source = 'daily' and duplicate_of is not null",
    ) == [(0,)]


def test_bad_input_writes_nothing(tmp_path: Path, stories: dict[str, str]) -> None:
    row = article_row("https://daily.test/a", stories["heat-record"])
    with pytest.raises(SchemaError, match="source other than"):
        _commit(tmp_path, [row], source="herald")
    with pytest.raises(SchemaError, match="content_hash"):
        commit_snapshot(
            str(tmp_path),
            "daily",
            batch([row]).drop_columns(["content_hash"]),
            kind="crawl",
            extractor="x",
            rejected={},
        )
    with pytest.raises(ValueError, match="kind"):
        commit_snapshot(
            str(tmp_path), "daily", batch([row]), kind="bogus", extractor="x", rejected={}
        )
    with pytest.raises(ValueError):
        _commit(tmp_path, [row], source="../etc")
    assert list_snapshots(str(tmp_path)) == []
    assert not (tmp_path / "articles").exists()


def test_empty_archive_views(tmp_path: Path) -> None:
    con = connect(str(tmp_path / "fresh"))
    for view in ("articles", "latest_articles", "pages", "snapshots"):
        assert con.sql(f"select count(*) from {view}").fetchall() == [(0,)]
    cols = [r[0] for r in con.sql("describe articles").fetchall()]
    assert cols[:3] == ["article_id", "version", "url"] and "crawl_date" in cols
    assert "rejected" in [r[0] for r in con.sql("describe snapshots").fetchall()]


def test_numeric_source_name_stays_text(tmp_path: Path, stories: dict[str, str]) -> None:
    row = article_row("https://2024.test/a", stories["bridge-repair"], source="2024")
    _commit(tmp_path, [row], source="2024")
    got = _rows(tmp_path, "select source, typeof(source), typeof(crawl_date) from articles")
    assert got == [("2024", "VARCHAR", "DATE")]


def test_checkpoint_is_only_a_cache(tmp_path: Path, stories: dict[str, str]) -> None:
    from storage.snapshots import CHECKPOINT, committed_state, write_checkpoint

    items = list(stories.items())
    infos = [_commit(tmp_path, [article_row(f"https://daily.test/{s}", t)]) for s, t in items[:3]]
    assert write_checkpoint(str(tmp_path)) == 3
    later = _commit(tmp_path, [article_row(f"https://daily.test/{items[3][0]}", items[3][1])])
    state = committed_state(str(tmp_path))
    assert state.uncheckpointed == 1  # only the newer manifest was read on its own
    assert [s.snapshot_id for s in state.snapshots] == [i.snapshot_id for i in [*infos, later]]
    # A manifest gone from the listing is gone, whatever the checkpoint says.
    (tmp_path / infos[0].manifest_path).unlink()
    assert list_snapshots(str(tmp_path))[0].snapshot_id == infos[1].snapshot_id
    # A damaged checkpoint is ignored: the manifests are the truth.
    (tmp_path / CHECKPOINT).write_bytes(b"not parquet")
    assert len(list_snapshots(str(tmp_path))) == 3
    assert _rows(tmp_path, "select count(*) from articles") == [(3,)]


def test_fingerprint_from_extraction_or_text_agree(tmp_path: Path, stories: dict[str, str]) -> None:
    from storage.dedup import fingerprint, simhash_ext

    text = stories["school-meals"]
    given = article_row("https://daily.test/a", text, simhash_ext=simhash_ext(text))
    _commit(tmp_path / "a", [given])
    _commit(tmp_path / "b", [article_row("https://daily.test/a", text)])
    q = "select simhash, simhash_ext from articles"
    assert _rows(tmp_path / "a", q) == _rows(tmp_path / "b", q)
    fp = fingerprint(text)
    assert _rows(tmp_path / "a", q)[0][0] == fp[0]
