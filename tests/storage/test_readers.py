"""The articles dataset read straight from the files by DuckDB, Polars, pyarrow and pandas."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from storage_helpers import T0, article_row, batch

from storage.schemas import ARTICLES_SCHEMA
from storage.snapshots import commit_snapshot, compact, list_snapshots
from storage.views import connect

COLS = ["article_id", "version", "source", "title", "text", "simhash", "duplicate_of"]


def _fill(root: str, stories: dict[str, str]) -> None:
    items = list(stories.items())
    for day in range(3):
        for source in ("daily", "herald"):
            rows = [
                article_row(
                    f"https://{source}.test/{slug}",
                    text if day == 0 else f"{text} Update {day}.",
                    source=source,
                    fetched_at=T0 + timedelta(days=day, hours=i),
                )
                for i, (slug, text) in enumerate(items[day : day + 5])
            ]
            commit_snapshot(
                root, source, batch(rows), kind="crawl", extractor="t", rejected={"x": 1}
            )


def _norm(rows: list[tuple]) -> list[tuple]:
    return sorted(tuple(None if v != v else v for v in r) for r in rows)  # NaN -> None


def test_four_readers_same_rows(tmp_path: Path, stories: dict[str, str]) -> None:
    root = str(tmp_path)
    _fill(root, stories)
    compact(root, "daily")  # mixed compacted and uncompacted partitions
    base = f"{root}/articles"

    duck = duckdb.sql(
        f"select {', '.join(COLS)}, crawl_date::varchar from read_parquet('{base}/**/*.parquet', "
        "hive_partitioning = true, union_by_name = true)"
    ).fetchall()
    polars = (
        pl.scan_parquet(f"{base}/**/*.parquet", hive_partitioning=True)
        .select([*COLS, pl.col("crawl_date").cast(pl.String)])
        .collect()
        .rows()
    )
    hive = ds.HivePartitioning.discover(infer_dictionary=False)
    arrow = ds.dataset(base, format="parquet", partitioning=hive).to_table(
        columns=[*COLS, "crawl_date"]
    )
    arrow_rows = list(zip(*[arrow[c].to_pylist() for c in [*COLS, "crawl_date"]], strict=True))
    frame = pd.read_parquet(base, partitioning=hive)
    frame["duplicate_of"] = (
        frame["duplicate_of"].astype(object).where(frame["duplicate_of"].notna(), None)
    )
    pandas_rows = [
        tuple(v.item() if hasattr(v, "item") else v for v in r)
        for r in frame[[*COLS, "crawl_date"]].itertuples(index=False)
    ]
    view = connect(root).sql(f"select {', '.join(COLS)}, crawl_date::varchar from articles")

    expected = _norm(view.fetchall())
    assert len(expected) == 30  # 5 rows per source and day: every text differs by day
    assert _norm(duck) == expected
    assert _norm(polars) == expected
    assert _norm(arrow_rows) == expected
    assert _norm(pandas_rows) == expected
    assert len({r[0] for r in expected}) == 14
    # herald carries daily's texts: its rows (only) are flagged as near-duplicates.
    assert {r[2] for r in expected if r[6] is not None} == {"herald"}


def test_schema_evolution_old_and_new_files(tmp_path: Path, stories: dict[str, str]) -> None:
    root = str(tmp_path)
    items = list(stories.items())
    old = commit_snapshot(
        root,
        "daily",
        batch([article_row(f"https://daily.test/{s}", t) for s, t in items[:3]]),
        kind="crawl",
        extractor="t",
        rejected={},
    )
    # An "old" file written before `url_key` and `duplicate_of` existed.
    path = tmp_path / old.files[0].path
    old_cols = ["url_key", "duplicate_of", "simhash_ext"]
    pq.write_table(pq.read_table(path).drop_columns(old_cols), path)
    new = commit_snapshot(
        root,
        "daily",
        batch([article_row(f"https://daily.test/{s}", t) for s, t in items[:5]]),
        kind="crawl",
        extractor="t",
        rejected={},
    )
    assert (new.counts["unchanged"], new.counts["new"]) == (3, 2)  # dedup read the old file
    # A "newer" file carrying a column added later.
    path = tmp_path / new.files[0].path
    t = pq.read_table(path)
    pq.write_table(t.append_column("paywalled", pa.array([True] * t.num_rows)), path)

    con = connect(root)
    got = con.sql(
        "select url_key is null, paywalled, count(*) from articles group by all order by all"
    ).fetchall()
    assert got == [(False, True, 2), (True, None, 3)]
    assert {s.schema_version for s in list_snapshots(root)} == {1}

    files = [str(tmp_path / f.path) for s in list_snapshots(root) for f in s.files]
    unified = pa.unify_schemas([ARTICLES_SCHEMA, *[pq.read_schema(f) for f in files]])
    table = ds.dataset(files, schema=unified).to_table()
    assert table.num_rows == 5 and table["paywalled"].null_count == 3

    # Near-duplicates against old rows (64-bit fingerprints only) are still found.
    copy = commit_snapshot(
        root,
        "herald",
        batch([article_row("https://herald.test/copy", items[0][1], source="herald")]),
        kind="crawl",
        extractor="t",
        rejected={},
    )
    assert copy.counts["near_duplicates_flagged"] == 1

    compact(root, "daily")  # merging old and new files keeps both shapes of row
    after = connect(root).sql(
        "select url_key is null, paywalled, count(*) from articles where source = 'daily' "
        "group by all order by all"
    )
    assert after.fetchall() == got


def test_views_through_arrow_datasets_match(tmp_path: Path, stories: dict[str, str]) -> None:
    """The object-store path of the views (pyarrow datasets) gives the same rows."""
    from storage.pages import write_pages
    from storage.schemas import PAGES_SCHEMA

    root = str(tmp_path)
    _fill(root, stories)
    page = {n: None for n in PAGES_SCHEMA.names} | {
        "url": "https://daily.test/x",
        "url_key": "daily.test/x",
        "source": "daily",
        "crawl_id": "c1",
        "status": 200,
        "fetched_at": T0,
    }
    write_pages(root, "daily", "c1", [page])
    queries = [
        "select * exclude (crawl_date), crawl_date::varchar from articles order by all",
        "select article_id, version from latest_articles order by all",
        "select url, status, crawl_date::varchar from pages",
        "select snapshot_id, new, changed from snapshots order by 1",
    ]
    direct = connect(root)
    arrow = connect(root, via_arrow=True)
    for q in queries:
        assert arrow.sql(q).fetchall() == direct.sql(q).fetchall(), q
    assert direct.sql("select count(*) from articles").fetchall() == [(30,)]
