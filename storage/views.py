"""DuckDB views over the archive: committed articles, latest versions, pages, snapshots."""

from __future__ import annotations

import logging

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from storage.fs import Root, open_root
from storage.schemas import ARTICLES_SCHEMA, PAGES_SCHEMA
from storage.snapshots import (
    SNAPSHOTS_VIEW_SCHEMA,
    CommittedState,
    committed_state,
    snapshot_rows,
)

log = logging.getLogger(__name__)

VIEWS = ("articles", "latest_articles", "pages", "snapshots")
_SNAPSHOTS_TABLE = "_newsarchive_snapshots"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _duck_type(t.value_type) + "[]"
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return "BLOB"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    simple = {
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint64(): "UBIGINT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if t in simple:
        return simple[t]
    raise TypeError(f"no DuckDB type for {t}")


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _empty_select(schema: pa.Schema, extra: dict[str, str]) -> str:
    cols = [f"NULL::{_duck_type(f.type)} AS {f.name}" for f in schema]
    cols += [f"NULL::{t} AS {name}" for name, t in extra.items()]
    return f"SELECT {', '.join(cols)} WHERE false"


def _files_select(paths: list[str]) -> str:
    listing = ", ".join(_quote(p) for p in paths)
    # Explicit partition types: a source named "2024" must stay a string.
    return (
        f"SELECT * FROM read_parquet([{listing}], union_by_name = true, hive_partitioning = true,"
        " hive_types = {'source': VARCHAR, 'crawl_date': DATE})"
    )


def articles_sql(root: str | Root, state: CommittedState | None = None) -> str:
    """The SELECT behind the `articles` view: committed, not-replaced files only."""
    r = open_root(root)
    state = state or committed_state(r)
    files = [r.local_path(p) for p in state.live_paths()]
    if not files:
        return _empty_select(ARTICLES_SCHEMA, {"crawl_date": "DATE"})
    return _files_select(files)


def _arrow_dataset(r: Root, paths: list[str], schema: pa.Schema, base: str) -> ds.Dataset:
    """A pyarrow dataset over explicit files, with the crawl_date partition parsed from the
    path: DuckDB scans it through the root's own filesystem (S3 without httpfs)."""
    part = ds.partitioning(pa.schema([("crawl_date", pa.date32())]), flavor="hive")
    full = pa.schema([*schema, pa.field("crawl_date", pa.date32())])
    return ds.dataset(
        [r.path(p) for p in paths],
        schema=full,
        filesystem=r.fs,
        format="parquet",
        partitioning=part,
        partition_base_dir=r.path(base),
    )


def connect(
    root: str | Root,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    via_arrow: bool | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views `articles`, `latest_articles`, `pages` and
    `snapshots` over the archive (works on an empty archive too). Timestamps display in UTC.

    Local roots: DuckDB reads the Parquet files itself. Other roots (or `via_arrow=True`):
    the views scan pyarrow datasets on the root's filesystem, so object stores work with
    the same credentials and without DuckDB's httpfs extension.
    The file lists are fixed when the views are created: reconnect to see later commits.
    """
    r = open_root(root)
    arrow = (not r.is_local) if via_arrow is None else via_arrow
    con = con if con is not None else duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    # Library connections print nothing of their own (CLI output must stay clean JSON/CSV).
    con.sql("SET enable_progress_bar = false")
    state = committed_state(r)
    articles = state.live_paths()
    pages = r.glob("pages", ".parquet")
    if arrow and articles:
        con.register(
            "_newsarchive_articles", _arrow_dataset(r, articles, ARTICLES_SCHEMA, "articles")
        )
        con.sql("CREATE OR REPLACE VIEW articles AS SELECT * FROM _newsarchive_articles")
    else:
        con.sql(f"CREATE OR REPLACE VIEW articles AS {articles_sql(r, state)}")
    con.sql(
        "CREATE OR REPLACE VIEW latest_articles AS SELECT * FROM articles "
        "QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY version DESC) = 1"
    )
    if arrow and pages:
        con.register("_newsarchive_pages", _arrow_dataset(r, pages, PAGES_SCHEMA, "pages"))
        con.sql("CREATE OR REPLACE VIEW pages AS SELECT * FROM _newsarchive_pages")
    else:
        pages_sql = (
            _files_select([r.local_path(p) for p in pages])
            if pages
            else _empty_select(PAGES_SCHEMA, {"crawl_date": "DATE"})
        )
        con.sql(f"CREATE OR REPLACE VIEW pages AS {pages_sql}")
    snaps = pa.Table.from_pylist(snapshot_rows(state.snapshots), schema=SNAPSHOTS_VIEW_SCHEMA)
    con.register(_SNAPSHOTS_TABLE, snaps)
    con.sql(f"CREATE OR REPLACE VIEW snapshots AS SELECT * FROM {_SNAPSHOTS_TABLE}")
    return con
