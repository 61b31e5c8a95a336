"""Snapshots: dedup against stored articles, versioned Parquet staged-and-moved, manifest last."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage.dedup import NEAR_DUPLICATE_THRESHOLD, NEAR_DUPLICATE_THRESHOLD_64, fingerprint
from storage.fs import STAGING_DIR, Root, open_root
from storage.locks import DEFAULT_LOCK_TIMEOUT, LockTimeout, source_lock
from storage.pages import check_name
from storage.schemas import (
    ARTICLES_SCHEMA,
    EXTRACTED_SCHEMA,
    SCHEMA_VERSION,
    SchemaError,
    conform_table,
)
from storage.urls import article_id

log = logging.getLogger(__name__)

SNAPSHOTS_DIR = "snapshots"
#: Parquet cache of all manifests (not a `.json`, so never taken for a manifest).
CHECKPOINT = f"{SNAPSHOTS_DIR}/checkpoint.parquet"
#: Rewrite the checkpoint when this many manifests are not in it yet.
CHECKPOINT_EVERY = 200
ARTICLES_DIR = "articles"
COMMIT_KINDS = ("crawl", "reextract")
#: Staged files and temp manifests older than this belong to a dead process.
STALE_SECONDS = 3600.0
DEFAULT_TARGET_FILE_SIZE = 128 * 1024**2
#: A file below this fraction of the target size is "small" and gets merged by `compact`.
SMALL_FILE_FRACTION = 0.5
#: Rows per row group: ~8k articles of a few KB of text each make row groups of tens of MB,
#: big enough for zstd and column scans, small enough to skip by statistics.
ROW_GROUP_ROWS = 8192
#: A row group is written early when its rows reach this many bytes (very long texts).
ROW_GROUP_BYTES = 128 * 1024**2
#: Rows buffered for row groups across all partitions of a commit: above this, the biggest
#: buffer is written as a (smaller) row group.
BUFFER_BYTES = 256 * 1024**2
MAX_ROWS_PER_FILE = 500_000
#: A commit cuts a crawl_date partition of several row groups into up to this many files
#: (one per core, at most 4), whose row groups are encoded in parallel: zstd level 9 of the
#: text is most of a commit's time, and pyarrow encodes one file's row groups one by one.
PARALLEL_FILES = max(1, min(4, os.cpu_count() or 1))
#: Near-duplicate flags need enough text for SimHash to mean anything.
MIN_WORDS_FOR_NEAR_DUPLICATE = 20
#: The only columns the dedup index reads: never the text.
INDEX_COLUMNS = (
    "article_id",
    "version",
    "content_hash",
    "simhash",
    "simhash_ext",
    "source",
    "duplicate_of",
    "published_at",
    "fetched_at",
)
#: What dedup plans from: never the text (read only for a row that lacks `simhash_ext`).
PLAN_COLUMNS = [
    "url_key",
    "content_hash",
    "fetched_at",
    "word_count",
    "published_at",
    "simhash",
    "simhash_ext",
    "source",
]
#: Near-duplicates are searched among stored articles published (else fetched) within this
#: many days of the new one: syndicated copies appear within days, and the window keeps the
#: brute-force comparison bounded as the archive grows.
NEAR_DUPLICATE_WINDOW_DAYS = 14
#: Near-duplicate search, stage 1: candidates must be within this many of the first 64 bits.
#: A pair at the 256-bit threshold (76) differs in ~19 +- 3.2 of them (hypergeometric), so
#: 28 keeps >= 99.8% of true near-duplicates while dropping ~80% of unrelated articles
#: before the full 256-bit comparison.
PREFILTER_64 = 28
#: Stage 2, on the first 128 bits: ~38 +- 3.7 for a pair at the threshold, so 50 keeps
#: 99.97% of them and ~1% of unrelated pairs (Binomial(128, 1/2)).
PREFILTER_128 = 50
_DICT_COLUMNS = ("source", "language", "sitename", "extractor", "snapshot_id", "warc_file")
_NO_STATS_COLUMNS = ("text", "description", "title", "authors", "categories", "tags", "image")
_DATE_DIR = re.compile(r"crawl_date=(\d{4}-\d{2}-\d{2})")

#: A commit's input: one table, or the root-relative paths of staged EXTRACTED_SCHEMA files.
Extracted: TypeAlias = pa.Table | Sequence[str]
#: Called with a step name ("staged", "moved", "manifest") so tests can crash a commit there.
FaultHook = Callable[[str], None]


class SnapshotError(RuntimeError):
    """A snapshot could not be committed (nothing of it is visible to readers)."""


@dataclass(frozen=True)
class FileEntry:
    path: str  # root-relative
    rows: int
    bytes: int


def _zero_counts() -> dict[str, Any]:
    return {
        "new": 0,
        "changed": 0,
        "unchanged": 0,
        "duplicates_same_source": 0,
        "near_duplicates_flagged": 0,
        "rejected": {},
    }


@dataclass
class SnapshotInfo:
    """One committed snapshot: the parsed manifest."""

    snapshot_id: str
    source: str
    kind: str
    created_at: str
    schema_version: int
    extractor: str | None
    crawl_id: str | None
    files: list[FileEntry] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=_zero_counts)
    stats: dict[str, Any] = field(default_factory=dict)
    replaces: list[str] = field(default_factory=list)  # compaction: files superseded

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def manifest_path(self) -> str:
        return f"{SNAPSHOTS_DIR}/{self.snapshot_id}.json"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SnapshotInfo:
        counts = _zero_counts()
        counts.update(d.get("counts") or {})
        return cls(
            snapshot_id=str(d["snapshot_id"]),
            source=str(d["source"]),
            kind=str(d["kind"]),
            created_at=str(d["created_at"]),
            schema_version=int(d.get("schema_version", 1)),
            extractor=d.get("extractor"),
            crawl_id=d.get("crawl_id"),
            files=[FileEntry(str(f["path"]), int(f["rows"]), int(f["bytes"])) for f in d["files"]],
            counts=counts,
            stats=dict(d.get("stats") or {}),
            replaces=[str(p) for p in d.get("replaces") or []],
        )


def new_snapshot_id(now: datetime | None = None) -> str:
    """Sortable id: `YYYYMMDDTHHMMSSffffffZ-<8 hex>` (UTC time of the commit)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"


# -- reading committed state ---------------------------------------------------------------
def _read_checkpoint(r: Root) -> dict[str, str]:
    """snapshot_id -> manifest JSON from the checkpoint (empty if there is none)."""
    if not r.exists(CHECKPOINT):
        return {}
    try:
        t = pq.read_table(io.BytesIO(r.read_bytes(CHECKPOINT)))
        return dict(zip(t["snapshot_id"].to_pylist(), t["manifest"].to_pylist(), strict=True))
    except (pa.ArrowException, OSError, KeyError) as e:
        log.warning("ignoring unreadable snapshot checkpoint %s: %s", CHECKPOINT, e)
        return {}


def write_checkpoint(root: str | Root) -> int:
    """Fold every manifest into one Parquet file so readers need one read instead of one per
    manifest. Only a cache: manifests stay the truth (a reader uses a checkpoint entry only
    for a manifest it has listed), so concurrent writers cannot make it wrong."""
    r = open_root(root)
    snaps = list_snapshots(r)
    table = pa.table(
        {
            "snapshot_id": pa.array([s.snapshot_id for s in snaps], pa.string()),
            "manifest": pa.array(
                [json.dumps(s.to_dict(), sort_keys=True) for s in snaps], pa.large_string()
            ),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    r.write_bytes_atomic(CHECKPOINT, buf.getvalue())
    return len(snaps)


def _refresh_checkpoint(r: Root) -> None:
    # A cache: failing to write it must not fail the commit that already happened.
    try:
        n = write_checkpoint(r)
        log.info("snapshot checkpoint now holds %d manifests", n)
    except Exception as e:  # any failure here only costs speed later
        log.warning("could not write the snapshot checkpoint: %s", e)


def _list_snapshots_counted(r: Root) -> tuple[list[SnapshotInfo], int]:
    names = r.glob(SNAPSHOTS_DIR, ".json")
    cached = _read_checkpoint(r) if len(names) > 1 else {}
    out = []
    misses = 0
    for path in names:
        sid = path.rsplit("/", 1)[-1].removesuffix(".json")
        try:
            raw = cached.get(sid)
            if raw is None:
                misses += 1
                raw = r.read_bytes(path).decode("utf-8")
            out.append(SnapshotInfo.from_dict(json.loads(raw)))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            log.warning("ignoring unreadable snapshot manifest %s: %s", path, e)
    out.sort(key=lambda s: s.snapshot_id)
    return out, misses


def list_snapshots(root: str | Root) -> list[SnapshotInfo]:
    """Every committed snapshot, oldest first. A manifest that cannot be parsed is skipped
    with a warning (manifests are written atomically, so this means outside damage)."""
    return _list_snapshots_counted(open_root(root))[0]


@dataclass(frozen=True)
class CommittedState:
    """What readers may see: files named by manifests minus files replaced by compaction."""

    snapshots: list[SnapshotInfo]
    live: list[FileEntry]
    replaced: frozenset[str]
    named: frozenset[str]  # every file any manifest names (live or replaced)
    uncheckpointed: int = 0  # manifests read one by one (not in the checkpoint)

    def live_paths(self, source: str | None = None) -> list[str]:
        return [f.path for f in self.live if source is None or _source_of(f.path) == source]


def _source_of(path: str) -> str | None:
    m = re.search(r"source=([^/]+)/", path)
    return m.group(1) if m else None


def committed_state(root: str | Root, *, check_exists: bool = True) -> CommittedState:
    """Committed, not-replaced data files; with `check_exists`, only files present on disk."""
    r = open_root(root)
    snaps, misses = _list_snapshots_counted(r)
    replaced = frozenset(p for s in snaps for p in s.replaces)
    named = frozenset(f.path for s in snaps for f in s.files)
    present = set(r.glob(ARTICLES_DIR, ".parquet")) if check_exists else None
    live = []
    seen: set[str] = set()
    for s in snaps:
        for f in s.files:
            if f.path in replaced or f.path in seen:
                continue
            if present is not None and f.path not in present:
                log.warning("committed file is missing from the archive: %s", f.path)
                continue
            seen.add(f.path)
            live.append(f)
    return CommittedState(snaps, live, replaced, named, misses)


def read_dedup_index(root: str | Root, state: CommittedState | None = None) -> pa.Table:
    """Key columns of every stored article version (never the text), oldest file first."""
    r = open_root(root)
    state = state or committed_state(r)
    schema = pa.schema([ARTICLES_SCHEMA.field(c) for c in INDEX_COLUMNS])
    paths = [r.path(f.path) for f in state.live]
    if not paths:
        return schema.empty_table()
    dataset = ds.dataset(paths, schema=schema, filesystem=r.fs, format="parquet")
    return dataset.to_table(columns=list(INDEX_COLUMNS))


# -- cleanup -------------------------------------------------------------------------------
def _cleanup_source_locked(r: Root, source: str, state: CommittedState) -> list[str]:
    removed = []
    for path in r.glob(f"{ARTICLES_DIR}/source={source}", ".parquet"):
        if path not in state.named or path in state.replaced:
            r.delete(path)
            removed.append(path)
    for path in r.listdir(STAGING_DIR):
        if path.rsplit("/", 1)[-1].startswith(f"snapshot-{source}-"):
            r.delete_dir(path)
            removed.append(path)
    return removed


def _cleanup_stale(r: Root, max_age: float) -> list[str]:
    """Staged pages files and temp manifests left by dead processes (by age)."""
    removed = []
    now = time.time()
    candidates = [p for p in r.listdir(STAGING_DIR) if p.endswith(".parquet")]
    candidates += [p for p in r.listdir(SNAPSHOTS_DIR) if p.endswith(".tmp")]
    for path in candidates:
        mtime = r.mtime(path)
        if mtime is not None and now - mtime > max_age:
            r.delete(path)
            removed.append(path)
    return removed


def cleanup_orphans(
    root: str | Root,
    source: str | None = None,
    *,
    max_age: float = STALE_SECONDS,
    _locked: bool = False,
) -> list[str]:
    """Remove what a crashed run left: data files no manifest names, files a committed
    compaction replaced, staging dirs. Each source is cleaned under its commit lock; a source
    being committed right now by another process is skipped. Returns the removed paths."""
    r = open_root(root)
    if source is not None:
        sources = [check_name("source", source)]
    else:
        found = {p.rsplit("=", 1)[-1] for p in r.listdir(ARTICLES_DIR)}
        found |= {
            m.group(1)
            for p in r.listdir(STAGING_DIR)
            if (m := re.match(r"snapshot-(.+)-\d{8}T\d+Z-[0-9a-f]+$", p.rsplit("/", 1)[-1]))
        }
        sources = sorted(found)
    removed = _cleanup_stale(r, max_age)
    for s in sources:
        if _locked:
            removed += _cleanup_source_locked(r, s, committed_state(r, check_exists=False))
            continue
        try:
            with source_lock(r, s, timeout=0):
                removed += _cleanup_source_locked(r, s, committed_state(r, check_exists=False))
        except LockTimeout:
            log.info("source %r is being committed by another process; not cleaned now", s)
    if removed:
        log.info("removed %d leftover file(s) of crashed runs: %s", len(removed), removed[:10])
    return removed


# -- writing -------------------------------------------------------------------------------
def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """zstd, dictionaries for low-cardinality columns, no min/max statistics on long text.

    zstd level 9 with 4 MiB data pages: ~5% smaller than level 6 with 1 MiB pages on
    article text for ~1.6x the (small) write cost; see benchmarks/query_speed.py.
    """
    names = set(schema.names)
    return {
        "compression": "zstd",
        "compression_level": 9,
        "data_page_size": 4 * 1024**2,
        "row_group_size": ROW_GROUP_ROWS,
        "use_dictionary": [c for c in _DICT_COLUMNS if c in names],
        "write_statistics": [c for c in schema.names if c not in _NO_STATS_COLUMNS],
    }


@dataclass
class _OpenPart:
    """The file being written of one crawl_date partition, and its unwritten row group."""

    day: str
    limit: int  # rows per file in this partition
    files: int = 0  # files opened so far in this partition
    writer: pq.ParquetWriter | None = None
    io: ThreadPoolExecutor | None = None  # the open file's writing thread
    slot: int = -1  # the open file's entry in `ArticleFileWriter._written`
    file_rows: int = 0  # rows in the open file, buffered ones included
    buffer: list[pa.Table] = field(default_factory=list)
    buffered_rows: int = 0
    buffered_bytes: int = 0
    rows: int = 0  # rows given to this partition so far


class ArticleFileWriter:
    """Streams the rows of one snapshot into its files: one `ParquetWriter` per crawl_date
    partition, a new file every `rows_per_file` rows, row groups of `ROW_GROUP_ROWS` rows
    (fewer when `ROW_GROUP_BYTES` is reached first, or when `BUFFER_BYTES` across partitions
    forces the biggest buffer out), written with `parquet_options`.

    Local roots stage the files under `.staging/` and `finish` moves them into `articles/`
    (named in (day, file) order); object stores have no rename, so there each file is
    written straight to its final key (an upload is visible only once complete, and readers
    see only files a manifest names). `abort` removes everything written. With `expected`
    rows per day, a partition's file is closed as soon as its last row arrives.

    Each file's row groups are encoded in a thread of its own, in order (pyarrow releases
    the GIL while it compresses), so the caller prepares the next rows meanwhile and row
    groups of different files are encoded at the same time. With `expected` rows and
    `parallel` > 1, a partition that needs several row groups is cut into up to `parallel`
    files of equal rows (never more files than it has row groups), so that its row groups
    are encoded in parallel; file n still holds the rows before file n+1. In flight at
    most: `parallel` + 1 row groups (one encoding per thread, one waiting behind its
    file's), or one with `parallel` = 1, besides the one being buffered. A write error is
    raised by the next call (`write`, `finish`).
    """

    def __init__(
        self,
        r: Root,
        source: str,
        snapshot_id: str,
        rows_per_file: int,
        expected: Mapping[str, int] | None = None,
        parallel: int = 1,
    ) -> None:
        if rows_per_file <= 0:
            raise ValueError("rows_per_file must be positive")
        self.r = r
        self.source = source
        self.snapshot_id = snapshot_id
        self.rows_per_file = rows_per_file
        self.expected = dict(expected or {})
        self.parallel = max(1, parallel)
        self.direct = not r.is_local
        self.staging = f"{STAGING_DIR}/snapshot-{source}-{snapshot_id}"
        self._parts: dict[str, _OpenPart] = {}
        # (day, n-th file of the day, written path, rows); recorded before writing, so a
        # failed upload is deleted by `abort` too.
        self._written: list[tuple[str, int, str, int]] = []
        self._writers: list[pq.ParquetWriter] = []  # every file opened (closed or not)
        self._opened = 0
        self._moved: list[str] = []
        self._buffered = 0
        # (task, file slot, is a row group) of the row groups and closes in flight.
        self._pending: list[tuple[Future[None], int, bool]] = []
        # One row group encoding per core and one waiting; one at a time without `parallel`.
        self._max_groups = self.parallel + 1 if self.parallel > 1 else 1
        self._threads: list[ThreadPoolExecutor] = []
        if not self.direct:
            r.makedirs(self.staging)

    def _file_rows(self, day: str) -> int:
        """Rows per file of partition `day`: `rows_per_file`, or fewer to cut a partition of
        several row groups into up to `parallel` files of equal rows."""
        rows = self.expected.get(day)
        if self.parallel == 1 or not rows:
            return self.rows_per_file
        files = min(self.parallel, -(-rows // ROW_GROUP_ROWS))
        return min(self.rows_per_file, -(-rows // files))

    def write(self, day: str, table: pa.Table) -> None:
        """Append rows of partition `day` (in order)."""
        part = self._parts.get(day)
        if part is None:
            part = self._parts[day] = _OpenPart(day, self._file_rows(day))
        start = 0
        while start < table.num_rows:
            room = min(
                part.limit - part.file_rows,
                ROW_GROUP_ROWS - part.buffered_rows,
                table.num_rows - start,
            )
            piece = table.slice(start, room)
            start += room
            part.buffer.append(piece)
            part.buffered_rows += room
            part.file_rows += room
            part.rows += room
            size = piece.nbytes  # of the slice only
            part.buffered_bytes += size
            self._buffered += size
            if part.buffered_rows >= ROW_GROUP_ROWS or part.buffered_bytes >= ROW_GROUP_BYTES:
                self._flush(part)
            if part.file_rows >= part.limit:
                self._close(part)
        if self.expected.get(day) == part.rows:
            self._close(part)
        while self._buffered > BUFFER_BYTES:
            self._flush(max(self._parts.values(), key=lambda p: p.buffered_bytes))

    def _submit(self, part: _OpenPart, fn: Callable[..., None], *args: Any, group: bool) -> None:
        """Run `fn` in the open file's thread (a finished task's error is raised here). A
        row group waits while `_max_groups` are in flight, or two of its own file."""
        self._reap()
        while group:
            groups = [f for f, _, g in self._pending if g]
            own = [f for f, slot, g in self._pending if g and slot == part.slot]
            if len(groups) < self._max_groups and len(own) < 2:
                break
            wait(own if len(own) >= 2 else groups, return_when=FIRST_COMPLETED)
            self._reap()
        assert part.io is not None
        self._pending.append((part.io.submit(fn, *args), part.slot, group))

    def _reap(self) -> None:
        """Forget the finished tasks; raise the first error among them."""
        done = [t for t in self._pending if t[0].done()]
        if done:
            self._pending = [t for t in self._pending if not t[0].done()]
            for f, _, _ in done:
                f.result()

    def _flush(self, part: _OpenPart) -> None:
        """Write the partition's buffer as one row group (opening a file if needed)."""
        if not part.buffer:
            return
        table = pa.concat_tables(part.buffer)
        if part.writer is None:
            n = self._opened
            self._opened += 1
            if self.direct:
                path = f"{ARTICLES_DIR}/source={self.source}/crawl_date={part.day}/"
                path += f"{self.snapshot_id}-{n:05d}.parquet"
            else:
                path = f"{self.staging}/{n:05d}.parquet"
            part.slot = len(self._written)
            self._written.append((part.day, part.files, path, 0))
            part.files += 1
            opts = parquet_options(table.schema)
            del opts["row_group_size"]
            part.writer = pq.ParquetWriter(
                self.r.path(path), table.schema, filesystem=self.r.fs, **opts
            )
            self._writers.append(part.writer)
            part.io = ThreadPoolExecutor(1, thread_name_prefix="snapshot-write")
            self._threads.append(part.io)
        self._submit(part, self._write_group, part.writer, table, group=True)
        self._buffered -= part.buffered_bytes
        part.buffer, part.buffered_rows, part.buffered_bytes = [], 0, 0

    @staticmethod
    def _write_group(writer: pq.ParquetWriter, table: pa.Table) -> None:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def _close_file(self, writer: pq.ParquetWriter, path: str) -> None:
        writer.close()
        self.r.fsync(path)

    def _wait(self) -> None:
        """Wait for every task in flight (the first error is raised)."""
        pending, self._pending = self._pending, []
        for f, _, _ in pending:
            f.result()

    def _stop_io(self) -> None:
        """Wait for the writing threads to be idle and end them (errors are not raised)."""
        for f, _, _ in self._pending:
            with contextlib.suppress(Exception):
                f.result()
        self._pending = []
        for thread in self._threads:
            thread.shutdown(wait=True)
        self._threads = []

    def _close(self, part: _OpenPart) -> None:
        """Finish the partition's open file in its thread (the next rows start a new one)."""
        self._flush(part)
        if part.writer is None:
            return
        day, k, path, _ = self._written[part.slot]
        self._written[part.slot] = (day, k, path, part.file_rows)
        self._submit(part, self._close_file, part.writer, path, group=False)
        assert part.io is not None
        part.io.shutdown(wait=False)  # its thread ends after the close
        part.writer, part.io = None, None
        part.file_rows = 0

    def finish(self, fault: FaultHook | None = None) -> list[FileEntry]:
        """Close every file, then move the staged ones into place; returns the files in
        (day, file) order. On failure, everything written is removed and the error raised."""
        try:
            for part in self._parts.values():
                self._close(part)
            self._wait()
            self._stop_io()
            if fault:
                fault("staged")
            entries = []
            for n, (day, _, path, rows) in enumerate(sorted(self._written)):
                size = self.r.size(path)
                final = path
                if not self.direct:
                    final = f"{ARTICLES_DIR}/source={self.source}/crawl_date={day}/"
                    final += f"{self.snapshot_id}-{n:05d}.parquet"
                    self.r.move(path, final)
                    self._moved.append(final)
                entries.append(FileEntry(final, rows, size))
        except Exception:
            self.abort()
            raise
        if not self.direct:
            self.r.delete_dir(self.staging)
        if fault:
            fault("moved")
        return entries

    def abort(self) -> None:
        """Remove what this writer wrote (best effort; a crash instead leaves it to
        `cleanup_orphans` on the next run)."""
        self._stop_io()
        for writer in self._writers:
            with contextlib.suppress(Exception):
                writer.close()
        for part in self._parts.values():
            part.writer, part.io = None, None
        paths = set(self._moved) | ({w[2] for w in self._written} if self.direct else set())
        for path in paths:
            with contextlib.suppress(Exception):
                self.r.delete(path)
        if not self.direct:
            try:
                self.r.delete_dir(self.staging)
            except OSError:
                log.warning("could not remove staging dir %s", self.staging)


def write_article_files(
    r: Root,
    parts: list[tuple[str, pa.Table]],
    source: str,
    snapshot_id: str,
    rows_per_file: int,
    fault: FaultHook | None,
) -> list[FileEntry]:
    """Write whole tables, one per crawl_date partition, as the files of a snapshot
    (`ArticleFileWriter`: staged then moved, object stores straight to the final key)."""
    writer = ArticleFileWriter(r, source, snapshot_id, rows_per_file)
    try:
        for day, part in parts:
            writer.write(day, part)
    except Exception:
        writer.abort()
        raise
    return writer.finish(fault)


def write_manifest(r: Root, info: SnapshotInfo) -> None:
    """The commit point: write the manifest atomically. If that fails, the snapshot's data
    files are removed again (they were never visible to readers)."""
    data = json.dumps(info.to_dict(), indent=2, sort_keys=True).encode("utf-8")
    try:
        r.write_bytes_atomic(info.manifest_path, data)
    except Exception:
        for f in info.files:
            r.delete(f.path)
        raise


@dataclass
class _Plan:
    take: list[int] = field(default_factory=list)  # row indices of `extracted` to write
    ids: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    # (rows, 4) uint64: the 256-bit fingerprint of each row to write (one array, not tuples).
    fingerprints: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.uint64))
    duplicate_of: list[str | None] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=_zero_counts)


def _plan_batch(
    batch: pa.Table,
    source: str,
    index: pa.Table,
    threshold: int = NEAR_DUPLICATE_THRESHOLD,
    window_days: float = NEAR_DUPLICATE_WINDOW_DAYS,
    texts: Callable[[list[int]], list[str]] | None = None,
) -> _Plan:
    """Decide per extracted row: unchanged, same-source duplicate, new, or next version.
    `batch` needs the PLAN_COLUMNS only; `texts(rows)` gives the text of rows that lack
    `simhash_ext` (default: `batch["text"]`)."""
    keys = batch["url_key"].to_pylist()
    ids = [article_id(k) for k in keys]
    hashes = batch["content_hash"].to_pylist()
    fetched = pc.cast(batch["fetched_at"], pa.int64()).to_pylist()
    words = batch["word_count"].to_pylist()

    # Only the stored rows that concern this batch become Python objects.
    own = index.filter(
        pc.is_in(index["article_id"], value_set=pa.array(sorted(set(ids)), pa.string()))
    )
    # Per article: (version, content_hash, fetched_at) of its newest version, and every
    # (article, text) ever stored, so a re-run of an older fetch is not a "revert".
    latest: dict[str, tuple[int, str, int]] = {}
    known: set[tuple[str, str]] = set()
    for aid, ver, h, at in zip(
        own["article_id"].to_pylist(),
        own["version"].to_pylist(),
        own["content_hash"].to_pylist(),
        pc.cast(own["fetched_at"], pa.int64()).to_pylist(),
        strict=True,
    ):
        known.add((aid, h))
        if aid not in latest or ver > latest[aid][0]:
            latest[aid] = (ver, h, at)
    same_src = index.filter(
        pc.and_(
            pc.equal(index["source"], source),
            pc.is_in(index["content_hash"], value_set=pa.array(sorted(set(hashes)), pa.string())),
        )
    )
    hash_owner: dict[str, str] = {}
    for aid, h in zip(
        same_src["article_id"].to_pylist(), same_src["content_hash"].to_pylist(), strict=True
    ):
        hash_owner.setdefault(h, aid)

    plan = _Plan()
    # Oldest fetch first, so versions follow the order the texts were seen.
    for i in sorted(range(batch.num_rows), key=lambda j: (fetched[j], keys[j])):
        aid, h = ids[i], hashes[i]
        prev = latest.get(aid)
        if prev is not None and (prev[1] == h or ((aid, h) in known and fetched[i] <= prev[2])):
            # Same as the newest version, or an older fetch of a text already stored.
            plan.counts["unchanged"] += 1
            continue
        owner = hash_owner.get(h)
        if owner is not None and owner != aid and (prev is None or fetched[i] <= prev[2]):
            # Another article of this source has this text: a new URL for it, or an older
            # fetch of this article replayed. (A *newer* fetch turning into that text is a
            # real change of this article and becomes its next version.)
            plan.counts["duplicates_same_source"] += 1
            continue
        version = 1 if prev is None else prev[0] + 1
        plan.counts["new" if prev is None else "changed"] += 1
        latest[aid] = (version, h, fetched[i])
        known.add((aid, h))
        hash_owner.setdefault(h, aid)
        plan.take.append(i)
        plan.ids.append(aid)
        plan.versions.append(version)
    plan.fingerprints = _fingerprints(batch, plan.take, texts)
    when = pc.coalesce(batch["published_at"], batch["fetched_at"])
    times = pc.cast(when, pa.int64()).to_pylist()
    plan.duplicate_of = _near_duplicates(
        plan.fingerprints,
        plan.ids,
        [words[i] for i in plan.take],
        [times[i] for i in plan.take],
        source,
        index,
        threshold,
        window_days,
    )
    plan.counts["near_duplicates_flagged"] = sum(d is not None for d in plan.duplicate_of)
    return plan


def _fingerprints(
    batch: pa.Table, rows: list[int], texts: Callable[[list[int]], list[str]] | None = None
) -> np.ndarray:
    """Full 256-bit fingerprints of the given rows as a (rows, 4) uint64 matrix: from
    `simhash` + `simhash_ext` when extraction supplied them, else computed from the text
    (`texts(rows)`, else `batch`)."""
    out = np.zeros((len(rows), 4), dtype=np.uint64)
    if not rows:
        return out
    sub = batch.select(["simhash", "simhash_ext"]).take(pa.array(rows, pa.int64()))
    ext, has_ext = _ext_lanes(sub["simhash_ext"])
    out[:, 0] = sub["simhash"].to_numpy().astype(np.uint64)
    out[:, 1:] = ext
    # Rows lacking `simhash_ext`: their texts in input order, a slice at a time (a staged
    # file is then read about once, and never are all the texts in memory together).
    lacking = np.flatnonzero(~has_ext)
    lacking = lacking[np.argsort(np.asarray(rows)[lacking], kind="stable")]
    for start in range(0, len(lacking), ROW_GROUP_ROWS):
        ks = lacking[start : start + ROW_GROUP_ROWS].tolist()
        need = [rows[k] for k in ks]
        if texts is not None:
            got = texts(need)
        else:
            got = batch["text"].take(pa.array(need, pa.int64())).to_pylist()
        for k, text in zip(ks, got, strict=True):
            out[k] = fingerprint(text)
    return out


def _ext_lanes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`simhash_ext` as an (N, 3) uint64 matrix plus a validity mask (old rows lack it)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    lanes = np.zeros((n, 3), dtype=np.uint64)
    if n == 0 or arr.null_count == n:
        return lanes, np.zeros(n, dtype=bool)
    buf = arr.buffers()[1]
    assert buf is not None
    raw = np.frombuffer(buf, dtype="<u8")[arr.offset * 3 : (arr.offset + n) * 3]
    lanes[:] = raw.reshape(n, 3)
    valid = arr.is_valid().to_numpy(zero_copy_only=False).astype(bool)
    return lanes, valid


def _ext_array(lanes: np.ndarray) -> pa.Array:
    """(N, 3) uint64 lanes as the `simhash_ext` column (24 little-endian bytes per row)."""
    data = np.ascontiguousarray(lanes, dtype="<u8").tobytes()
    return pa.Array.from_buffers(pa.binary(24), len(lanes), [None, pa.py_buffer(data)])


def _near_duplicates(
    prints: np.ndarray | list[tuple[int, ...]],
    ids: list[str],
    words: list[int],
    times: list[int],
    source: str,
    index: pa.Table,
    threshold: int,
    window_days: float,
) -> list[str | None]:
    """For each new fingerprint, the original article_id (following duplicate_of) of the
    closest stored article of another source within `threshold` of 256 bits and the time
    window, else None. A copy of the row's own article (syndicated earlier) does not count.
    Stored rows without `simhash_ext` are compared on 64 bits (scaled threshold)."""
    out: list[str | None] = [None] * len(prints)
    if len(prints) == 0 or index.num_rows == 0:
        return out
    is_other = pc.not_equal(index["source"], source).to_numpy(zero_copy_only=False)
    if not is_other.any():
        return out
    when_all = pc.cast(pc.coalesce(index["published_at"], index["fetched_at"]), pa.int64())
    when_all_np = when_all.to_numpy(zero_copy_only=False)
    # Positions of other sources' rows, ordered by time: the window is then one slice.
    pos = np.flatnonzero(is_other)
    pos = pos[np.argsort(when_all_np[pos], kind="stable")]
    when_np = when_all_np[pos]
    lane0 = index["simhash"].to_numpy().astype(np.uint64)[pos]
    ext_all, has_ext_all = _ext_lanes(index["simhash_ext"])
    # One contiguous array per lane: the cascade below gathers lane by lane.
    lane1, lane2, lane3 = (np.ascontiguousarray(ext_all[pos, k]) for k in range(3))
    has_ext = has_ext_all[pos]
    resolved = pc.coalesce(index["duplicate_of"], index["article_id"]).combine_chunks()
    window = int(window_days * 86_400 * 1_000_000)  # microseconds, like the timestamps
    xor_buf = np.empty(len(pos), dtype=np.uint64)
    cnt_buf = np.empty(len(pos), dtype=np.uint8)
    mask_buf = np.empty(len(pos), dtype=bool)
    for i, fp in enumerate(prints):
        if words[i] < MIN_WORDS_FOR_NEAR_DUPLICATE:
            continue
        lo = int(np.searchsorted(when_np, times[i] - window, side="left"))
        hi = int(np.searchsorted(when_np, times[i] + window, side="right"))
        if lo >= hi:
            continue
        fp_np = np.array(fp, dtype=np.uint64)
        # Stage 1 on the first 64 bits only (preallocated buffers: no per-row allocation
        # of window-sized arrays); stage 2 (all 256 bits) on what passes.
        w = hi - lo
        np.bitwise_xor(lane0[lo:hi], fp_np[0], out=xor_buf[:w])
        np.bitwise_count(xor_buf[:w], out=cnt_buf[:w])
        np.less_equal(cnt_buf[:w], PREFILTER_64, out=mask_buf[:w])
        local = np.flatnonzero(mask_buf[:w])
        if local.size == 0:
            continue
        cand = local + lo
        d0c = cnt_buf[local].astype(np.int32)
        he = has_ext[cand]
        # Rows stored without simhash_ext: 64 bits only, threshold scaled to 64 bits.
        old, old_dist = cand[~he], d0c[~he] * threshold // NEAR_DUPLICATE_THRESHOLD_64
        new, d = cand[he], d0c[he]
        # Stage 2 on 128 bits, stage 3 on all 256: each lane gathered only for survivors.
        d = d + np.bitwise_count(lane1[new] ^ fp_np[1])
        m = d <= PREFILTER_128
        new, d = new[m], d[m]
        d = d + np.bitwise_count(lane2[new] ^ fp_np[2]) + np.bitwise_count(lane3[new] ^ fp_np[3])
        cand, dist = np.concatenate([new, old]), np.concatenate([d, old_dist])
        keep = dist <= threshold
        cand, dist = cand[keep], dist[keep]
        # Closest first (ties: the earliest stored); skip copies of this very article.
        for j in cand[np.lexsort((cand, dist))].tolist():
            orig = resolved[int(pos[j])].as_py()
            if orig != ids[i]:
                out[i] = orig
                break
    return out


def _take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table.take(rows)` without first concatenating the chunks of a many-chunk table
    (what `Table.take` does: a copy of every column, text included)."""
    batches = table.to_batches()
    if len(batches) <= 1:
        return table.take(pa.array(rows, pa.int64()))
    starts = np.cumsum([0, *(b.num_rows for b in batches)])
    which = np.searchsorted(starts, rows, side="right") - 1
    order = np.argsort(which, kind="stable")  # positions in `rows`, grouped by batch
    cuts = np.flatnonzero(np.diff(which[order])) + 1
    pieces = []
    for sel in np.split(order, cuts):
        if len(sel):
            c = int(which[sel[0]])
            pieces.append(batches[c].take(pa.array(rows[sel] - starts[c], pa.int64())))
    grouped = pa.Table.from_batches(pieces, schema=table.schema).combine_chunks()
    back = np.empty(len(order), dtype=np.int64)
    back[order] = np.arange(len(order))
    return grouped.take(pa.array(back))


class _Inputs:
    """A commit's input as parts read one at a time: one in-memory table, or staged files."""

    def __init__(self, r: Root, extracted: Extracted) -> None:
        self.r = r
        self.table: pa.Table | None = None
        self.paths: list[str] = []
        if isinstance(extracted, pa.Table):
            self.table = conform_table(extracted, EXTRACTED_SCHEMA, "extracted articles")
        elif isinstance(extracted, str | bytes):
            raise TypeError("extracted must be a table or a list of staged file paths")
        else:
            self.paths = [str(p) for p in extracted]

    def __len__(self) -> int:
        return 1 if self.table is not None else len(self.paths)

    def read(self, i: int, columns: list[str] | None = None) -> pa.Table:
        """Part `i`, conformed to EXTRACTED_SCHEMA (a `SchemaError` names the file)."""
        if self.table is not None:
            return self.table if columns is None else self.table.select(columns)
        path = self.paths[i]
        with self.r.open_input(path) as f:
            table = pq.ParquetFile(f).read(columns=columns)
        if columns is not None:
            return table
        return conform_table(table, EXTRACTED_SCHEMA, f"extracted articles ({path})")

    def texts(self, parts: np.ndarray, rows: np.ndarray) -> list[str]:
        """The `text` of the given (part, row) cells, in that order: one read per part."""
        out: list[str] = [""] * len(parts)
        for p in np.unique(parts).tolist():
            sel = np.flatnonzero(parts == p)
            got = _take_rows(self.read(p, ["text"]), rows[sel]).column("text").to_pylist()
            for k, text in zip(sel.tolist(), got, strict=True):
                out[k] = text
        return out


def _check_source(table: pa.Table, source: str, what: str) -> None:
    if table.num_rows:
        wrong = pc.sum(pc.cast(pc.not_equal(table["source"], source), pa.int64())).as_py()
        if wrong:
            raise SchemaError(f"{what}: {wrong} row(s) have a source other than {source!r}")


def _computed_columns(plan: _Plan) -> dict[str, pa.Array]:
    """The columns storage adds to the planned rows (in plan order), as Arrow arrays."""
    return {
        "article_id": pa.array(plan.ids, pa.string()),
        "version": pa.array(plan.versions, pa.int32()),
        # Lane 0 of the same fingerprint, so `simhash` and `simhash_ext` agree.
        "simhash": pa.array(plan.fingerprints[:, 0], pa.uint64()),
        "simhash_ext": _ext_array(plan.fingerprints[:, 1:]),
        "duplicate_of": pa.array(plan.duplicate_of, pa.string()),
    }


def _write_planned(
    writer: ArticleFileWriter,
    inputs: _Inputs,
    take: np.ndarray,
    computed: Mapping[str, pa.Array],
    part_of: np.ndarray,
    row_of: np.ndarray,
    days: pa.Array,
    snapshot_id: str,
) -> None:
    """Write the planned rows (`take`: input rows in plan order) part by part: within a
    partition, rows come in input-part order and, within a part, in plan order
    ((fetched_at, url_key))."""
    parts = part_of[take]
    order = np.argsort(parts, kind="stable")  # plan positions grouped by part, in plan order
    cuts = np.flatnonzero(np.diff(parts[order])) + 1
    for ks in np.split(order, cuts):
        table = inputs.read(int(parts[ks[0]]))
        for start in range(0, len(ks), ROW_GROUP_ROWS):
            kc = pa.array(ks[start : start + ROW_GROUP_ROWS])
            rows = _take_rows(table, row_of[take[kc.to_numpy()]])
            cols = []
            for f in ARTICLES_SCHEMA:
                if f.name == "snapshot_id":
                    cols.append(pa.array([snapshot_id] * len(kc), pa.string()))
                elif f.name in computed:
                    cols.append(computed[f.name].take(kc))
                else:
                    cols.append(rows.column(f.name))
            out = pa.Table.from_arrays(cols, schema=ARTICLES_SCHEMA)
            chunk_days = days.take(kc)
            chunk_set = sorted(set(chunk_days.to_pylist()))
            if len(chunk_set) == 1:  # one day: the rows as they are (a filter copies them)
                writer.write(chunk_set[0], out)
                continue
            for day in chunk_set:
                writer.write(day, out.filter(pc.equal(chunk_days, day)))
        del table


def commit_snapshot(
    root: str | Root,
    source: str,
    extracted: Extracted,
    *,
    kind: str,
    extractor: str,
    rejected: Mapping[str, int],
    stats: Mapping[str, Any] | None = None,
    crawl_id: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    near_duplicate_threshold: int = NEAR_DUPLICATE_THRESHOLD,
    near_duplicate_window_days: float = NEAR_DUPLICATE_WINDOW_DAYS,
    fault: FaultHook | None = None,
) -> SnapshotInfo:
    """Dedup `extracted` (EXTRACTED_SCHEMA: one table, or the root-relative paths of staged
    Parquet files) against what is stored and commit the new and changed articles as one
    snapshot: files staged, moved into `articles/`, manifest last.

    Staged files are read one at a time, twice: every column once to check it and keep the
    few columns dedup plans from (never the text), then again to write the planned rows, so
    memory does not grow with their number. Within a crawl_date partition, rows are written
    in input order (file by file) and, within one file or table, in (fetched_at, url_key)
    order.

    A snapshot with nothing new still gets a manifest (its counts matter). Raises
    `SchemaError` for bad input (any file: wrong columns, nulls, another source) and
    `LockTimeout` when the source stays locked; in both cases nothing is written.
    """
    r = open_root(root)
    check_name("source", source)
    if kind not in COMMIT_KINDS:
        raise ValueError(f"snapshot kind must be one of {COMMIT_KINDS}, not {kind!r}")
    bad_reasons = [k for k, v in rejected.items() if not isinstance(v, int) or v < 0]
    if bad_reasons:
        raise ValueError(f"rejected counts must be non-negative integers: {bad_reasons}")
    inputs = _Inputs(r, extracted)
    # Check every part and keep its planning columns; nothing is written before this ends.
    light_parts = []
    for i in range(len(inputs)):
        part = inputs.read(i)
        what = (
            "extracted articles"
            if inputs.table is not None
            else f"extracted articles ({inputs.paths[i]})"
        )
        _check_source(part, source, what)
        light_parts.append(part.select(PLAN_COLUMNS))
        del part
    light_schema = pa.schema([EXTRACTED_SCHEMA.field(c) for c in PLAN_COLUMNS])
    light = pa.concat_tables(light_parts) if light_parts else light_schema.empty_table()
    sizes = [t.num_rows for t in light_parts]
    part_of = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    row_of = np.concatenate(
        [np.arange(n, dtype=np.int64) for n in sizes] or [np.zeros(0, np.int64)]
    )
    del light_parts

    def texts(rows: list[int]) -> list[str]:
        idx = np.asarray(rows, dtype=np.int64)
        return inputs.texts(part_of[idx], row_of[idx])

    t0 = time.perf_counter()
    with source_lock(r, source, timeout=lock_timeout):
        cleanup_orphans(r, source, _locked=True)
        state = committed_state(r)
        index = read_dedup_index(r, state)
        t_index = time.perf_counter() - t0
        plan = _plan_batch(
            light, source, index, near_duplicate_threshold, near_duplicate_window_days, texts
        )
        snapshot_id = new_snapshot_id()
        files: list[FileEntry] = []
        counts = plan.counts
        input_rows = light.num_rows
        take = np.asarray(plan.take, dtype=np.int64)
        days = pc.strftime(light["fetched_at"].take(take), format="%Y-%m-%d").combine_chunks()
        computed = _computed_columns(plan)
        del plan, light  # only what the write needs stays (no per-row Python objects)
        if len(take):
            expected = Counter(days.to_pylist())
            writer = ArticleFileWriter(
                r, source, snapshot_id, MAX_ROWS_PER_FILE, expected, PARALLEL_FILES
            )
            try:
                _write_planned(writer, inputs, take, computed, part_of, row_of, days, snapshot_id)
            except Exception:
                writer.abort()
                raise
            files = writer.finish(fault)
        counts["rejected"] = {str(k): int(v) for k, v in sorted(rejected.items())}
        info = SnapshotInfo(
            snapshot_id=snapshot_id,
            source=source,
            kind=kind,
            created_at=datetime.now(UTC).isoformat(),
            schema_version=SCHEMA_VERSION,
            extractor=extractor,
            crawl_id=crawl_id,
            files=files,
            counts=counts,
            stats={
                **dict(stats or {}),
                "input_rows": input_rows,
                "index_rows": index.num_rows,
                "index_seconds": round(t_index, 3),
                "commit_seconds": round(time.perf_counter() - t0, 3),
            },
        )
        write_manifest(r, info)
        if fault:
            fault("manifest")
    if state.uncheckpointed >= CHECKPOINT_EVERY:
        _refresh_checkpoint(r)
    log.info(
        "snapshot %s of %s: %d new, %d changed, %d unchanged, %d same-source duplicates",
        snapshot_id,
        source,
        counts["new"],
        counts["changed"],
        counts["unchanged"],
        counts["duplicates_same_source"],
    )
    return info


# -- compaction ----------------------------------------------------------------------------
def _partition_of(path: str) -> str:
    m = _DATE_DIR.search(path)
    return m.group(1) if m else ""


def compact(
    root: str | Root,
    source: str | None = None,
    *,
    target_file_size: int = DEFAULT_TARGET_FILE_SIZE,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    fault: FaultHook | None = None,
) -> list[SnapshotInfo]:
    """Merge the small files of each (source, crawl_date) partition into files of about
    `target_file_size` bytes, as one snapshot of kind `compact` per source whose manifest
    lists the files it replaces. Rows (snapshot_id included) are unchanged; the replaced
    files are deleted once the manifest is committed."""
    r = open_root(root)
    if target_file_size <= 0:
        raise ValueError("target_file_size must be positive")
    if source is not None:
        sources = [check_name("source", source)]
    else:
        sources = sorted({s.source for s in list_snapshots(r)})
    results = []
    for src in sources:
        with source_lock(r, src, timeout=lock_timeout):
            cleanup_orphans(r, src, _locked=True)
            state = committed_state(r)
            small: dict[str, list[FileEntry]] = {}
            for f in state.live:
                if _source_of(f.path) == src and f.bytes < target_file_size * SMALL_FILE_FRACTION:
                    small.setdefault(_partition_of(f.path), []).append(f)
            groups = {day: fs for day, fs in small.items() if len(fs) > 1}
            if not groups:
                log.info("compact %s: nothing to merge", src)
                continue
            snapshot_id = new_snapshot_id()
            files: list[FileEntry] = []
            replaces: list[str] = []
            for day, entries in sorted(groups.items()):
                paths = [e.path for e in entries]
                schemas = [pq.read_schema(r.path(p), filesystem=r.fs) for p in paths]
                schema = pa.unify_schemas([ARTICLES_SCHEMA, *schemas])
                dataset = ds.dataset(
                    [r.path(p) for p in paths], schema=schema, filesystem=r.fs, format="parquet"
                )
                rows_in = sum(e.rows for e in entries)
                per_row = max(1.0, sum(e.bytes for e in entries) / max(1, rows_in))
                rows_per_file = max(1, int(target_file_size / per_row))
                # Streamed batch by batch (file order kept), not the partition in one table.
                writer = ArticleFileWriter(r, src, snapshot_id, rows_per_file, {day: rows_in})
                try:
                    read = 0
                    for batch in dataset.to_batches(
                        batch_size=ROW_GROUP_ROWS, batch_readahead=1, fragment_readahead=1
                    ):
                        read += batch.num_rows
                        writer.write(day, pa.Table.from_batches([batch]))
                    if read != rows_in:
                        raise SnapshotError(
                            f"compact {src}/{day}: read {read} rows, manifests say {rows_in}"
                        )
                except Exception:
                    writer.abort()
                    raise
                files += writer.finish(fault)
                replaces += paths
            info = SnapshotInfo(
                snapshot_id=snapshot_id,
                source=src,
                kind="compact",
                created_at=datetime.now(UTC).isoformat(),
                schema_version=SCHEMA_VERSION,
                extractor=None,
                crawl_id=None,
                files=files,
                replaces=sorted(replaces),
                stats={
                    "files_in": len(replaces),
                    "files_out": len(files),
                    "rows": sum(f.rows for f in files),
                    "bytes_in": sum(e.bytes for g in groups.values() for e in g),
                    "bytes_out": sum(f.bytes for f in files),
                    "target_file_size": target_file_size,
                },
            )
            write_manifest(r, info)
            if fault:
                fault("manifest")
            for p in replaces:
                r.delete(p)
            results.append(info)
            log.info("compact %s: %d files -> %d", src, len(replaces), len(files))
    if results:
        _refresh_checkpoint(r)
    return results


def snapshot_rows(snaps: Iterable[SnapshotInfo]) -> list[dict[str, Any]]:
    """Manifests flattened to one row each (the `snapshots` view)."""
    rows = []
    for s in snaps:
        c = s.counts
        rej = c.get("rejected") or {}
        rows.append(
            {
                "snapshot_id": s.snapshot_id,
                "source": s.source,
                "kind": s.kind,
                "created_at": datetime.fromisoformat(s.created_at),
                "schema_version": s.schema_version,
                "extractor": s.extractor,
                "crawl_id": s.crawl_id,
                "files": len(s.files),
                "rows": s.rows,
                "bytes": s.bytes,
                "new": int(c.get("new", 0)),
                "changed": int(c.get("changed", 0)),
                "unchanged": int(c.get("unchanged", 0)),
                "duplicates_same_source": int(c.get("duplicates_same_source", 0)),
                "near_duplicates_flagged": int(c.get("near_duplicates_flagged", 0)),
                "rejected": int(sum(rej.values())),
                "rejected_by_reason": json.dumps(rej, sort_keys=True),
                "replaces": len(s.replaces),
            }
        )
    return rows


SNAPSHOTS_VIEW_SCHEMA = pa.schema(
    [
        ("snapshot_id", pa.string()),
        ("source", pa.string()),
        ("kind", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("schema_version", pa.int32()),
        ("extractor", pa.string()),
        ("crawl_id", pa.string()),
        ("files", pa.int64()),
        ("rows", pa.int64()),
        ("bytes", pa.int64()),
        ("new", pa.int64()),
        ("changed", pa.int64()),
        ("unchanged", pa.int64()),
        ("duplicates_same_source", pa.int64()),
        ("near_duplicates_flagged", pa.int64()),
        ("rejected", pa.int64()),
        ("rejected_by_reason", pa.string()),
        ("replaces", pa.int64()),
    ]
)
