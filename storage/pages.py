"""The `pages` index: one Parquet row per fetch attempt, staged-and-moved, read back by key."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage.fs import STAGING_DIR, Root, open_root
from storage.schemas import PAGES_SCHEMA, SchemaError, conform_table

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DATE_DIR = re.compile(r"crawl_date=(\d{4}-\d{2}-\d{2})")


PagesError = SchemaError  # rows that do not fit PAGES_SCHEMA


def check_name(kind: str, value: str) -> str:
    """Refuse source names / crawl ids that could escape the archive or break partitions."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(f"invalid {kind} {value!r}: use letters, digits, '.', '_', '-'")
    return value


def _to_table(rows: Sequence[dict[str, Any]] | pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    if isinstance(rows, pa.Table):
        return conform_table(rows, schema, what)
    unknown = {k for r in rows for k in r} - set(schema.names)
    if unknown:
        raise SchemaError(f"{what}: unknown column(s) {sorted(unknown)}")
    try:
        table = pa.Table.from_pylist(list(rows), schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
        raise SchemaError(f"{what}: {e}") from e
    return conform_table(table, schema, what)


def write_parquet_staged(
    root: Root, table: pa.Table, final: str, *, staged: str | None = None, **options: Any
) -> int:
    """Write `table` under `.staging/` then move it to `final` (root-relative).

    Readers globbing the dataset tree never see a half-written file. Returns the file size.
    Object stores: written straight to `final` (an upload is visible only once complete,
    and a move would be copy + delete); a failed write is deleted again.
    """
    opts = {"compression": "zstd", **options}
    if not root.is_local:
        try:
            pq.write_table(table, root.path(final), filesystem=root.fs, **opts)
            return root.size(final)
        except BaseException:
            root.delete(final)
            raise
    staged = staged or f"{STAGING_DIR}/{uuid.uuid4().hex}.parquet"
    root.makedirs(staged.rsplit("/", 1)[0])
    try:
        pq.write_table(table, root.path(staged), filesystem=root.fs, **opts)
        root.fsync(staged)
        size = root.size(staged)
        root.move(staged, final)
    except BaseException:
        root.delete(staged)
        raise
    return size


def _existing_indexes(root: Root, source: str, crawl_id: str) -> list[int]:
    pat = re.compile(re.escape(crawl_id) + r"-(\d+)\.parquet$")
    return [
        int(m.group(1))
        for p in root.glob(f"pages/source={source}", ".parquet")
        if (m := pat.search(p.rsplit("/", 1)[-1]))
    ]


def write_pages(
    root: str | Root,
    source: str,
    crawl_id: str,
    rows: Sequence[dict[str, Any]] | pa.Table,
) -> list[str]:
    """Append pages rows of one crawl: one Parquet file per crawl_date (UTC day of
    `fetched_at`), named `<crawl_id>-<n>.parquet` with `n` continuing across calls.
    Returns the root-relative paths written (empty when there are no rows)."""
    r = open_root(root)
    check_name("source", source)
    check_name("crawl_id", crawl_id)
    table = _to_table(rows, PAGES_SCHEMA, "pages rows")
    if table.num_rows == 0:
        return []
    bad = pc.sum(pc.cast(pc.not_equal(table["source"], source), pa.int64())).as_py() or 0
    if bad:
        raise SchemaError(f"pages rows: {bad} row(s) have a source other than {source!r}")
    days = pc.strftime(table["fetched_at"], format="%Y-%m-%d")
    n = max(_existing_indexes(r, source, crawl_id), default=-1) + 1
    written = []
    for day in sorted(set(days.to_pylist())):
        part = table.filter(pc.equal(days, day))
        final = f"pages/source={source}/crawl_date={day}/{crawl_id}-{n:05d}.parquet"
        staged = f"{STAGING_DIR}/pages-{source}-{crawl_id}-{uuid.uuid4().hex[:12]}.parquet"
        write_parquet_staged(r, part, final, staged=staged)
        written.append(final)
        n += 1
    log.debug("wrote %d pages rows to %s", table.num_rows, written)
    return written


def list_pages_files(
    root: str | Root, source: str | None = None, crawl_id: str | None = None
) -> list[str]:
    r = open_root(root)
    sub = f"pages/source={check_name('source', source)}" if source else "pages"
    files = r.glob(sub, ".parquet")
    if crawl_id:
        files = [f for f in files if f.rsplit("/", 1)[-1].startswith(f"{crawl_id}-")]
    return files


def _since_dt(since: date | datetime | str | None) -> datetime | None:
    if since is None:
        return None
    if isinstance(since, str):
        since = datetime.fromisoformat(since)
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def read_pages(
    root: str | Root,
    source: str | None = None,
    crawl_id: str | None = None,
    since: date | datetime | str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Pages rows (PAGES_SCHEMA, old files conformed: missing columns read as null)."""
    r = open_root(root)
    files = list_pages_files(r, source, crawl_id)
    since_dt = _since_dt(since)
    if since_dt is not None:
        day = since_dt.astimezone(UTC).date().isoformat()
        files = [f for f in files if (m := _DATE_DIR.search(f)) is None or m.group(1) >= day]
    schema = PAGES_SCHEMA
    if columns is not None:
        schema = pa.schema([PAGES_SCHEMA.field(c) for c in columns])
    if not files:
        return schema.empty_table()
    dataset = ds.dataset([r.path(f) for f in files], schema=PAGES_SCHEMA, filesystem=r.fs)
    flt = None
    if crawl_id is not None:
        flt = ds.field("crawl_id") == crawl_id
    if since_dt is not None:
        cond = ds.field("fetched_at") >= pa.scalar(since_dt, PAGES_SCHEMA.field("fetched_at").type)
        flt = cond if flt is None else flt & cond
    return dataset.to_table(columns=list(schema.names), filter=flt)


@dataclass(frozen=True)
class ArchivedKeys:
    """Sorted, unique url_keys held as one Arrow array (no per-key Python objects).

    Membership is a binary search: O(log n) per key, ~60 bytes per key in memory.
    """

    keys: pa.Array

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        lo, hi = 0, len(self.keys)
        while lo < hi:
            mid = (lo + hi) // 2
            v = self.keys[mid].as_py()
            if v < key:
                lo = mid + 1
            else:
                hi = mid
        return lo < len(self.keys) and self.keys[lo].as_py() == key

    def contains_many(self, keys: Iterable[str]) -> list[bool]:
        """Membership of a batch of keys in one vectorized pass."""
        batch = pa.array(list(keys), pa.string())
        if len(self.keys) == 0:
            return [False] * len(batch)
        return pc.is_in(batch, value_set=self.keys).to_pylist()


def archived_url_keys(root: str | Root, source: str) -> ArchivedKeys:
    """url_keys of `source` already archived with HTTP 200 (for incremental crawls).

    Reads only the `url_key` and `status` columns of the pages files.
    """
    r = open_root(root)
    files = list_pages_files(r, source)
    if not files:
        return ArchivedKeys(pa.array([], pa.string()))
    dataset = ds.dataset([r.path(f) for f in files], schema=PAGES_SCHEMA, filesystem=r.fs)
    t = dataset.to_table(columns=["url_key"], filter=ds.field("status") == 200)
    keys = pc.unique(t["url_key"].combine_chunks())
    keys = pc.take(keys, pc.sort_indices(keys))
    return ArchivedKeys(keys)
