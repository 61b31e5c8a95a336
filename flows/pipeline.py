"""Prefect flows: crawl -> extract -> commit snapshot, reextract from stored WARC, compact.

Tasks are thin shells over the stage functions and pass small manifests (root-relative
paths, counts) — never HTML or tables. Page selections and extracted batches travel as
Parquet files under the archive's `.staging/` directory (outside every dataset tree).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import prefect.runtime as prefect_runtime
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from crawlers.config import ResolvedSource, load_config
from extraction.options import ExtractionOptions
from flows.prestart import CRAWL_SOURCES_PARALLEL, absolute_root
from flows.prestart import pool_size as _pool_size
from flows.prestart import start_pool as _start_pool
from flows.progress import Progress, recent_pages_files, report, watch_crawl

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

    from crawlers.runner import CrawlProcess
    from storage.fs import Root

logger = logging.getLogger(__name__)

#: Pages per extraction task: big enough that Prefect's per-task overhead is noise.
DEFAULT_BATCH_PAGES = 2000
#: Pages per pool task: small, so that no worker idles long at the end of a flow batch
#: (the next flow batch starts only when this one is done; its last `workers * 100` pages
#: go in quarter-size tasks, see `extraction.batch._batches`), and large enough that the
#: ~1 ms each task costs the parent (IPC, threads, futures) and ~0.5 ms the worker stay
#: small.
POOL_BATCH_PAGES = 100
#: A flow's extraction pool is replaced after this many pages per worker (flat memory).
#: Measured: a worker's RSS is ~151 MB from its first 500 pages on and stays within
#: 151.1-151.6 MB through 20,000 generated pages (one worker) and 10,000 each (two), so
#: a replacement (a drain, then spawn + imports) is only paid by runs above that.
POOL_PAGES_PER_WORKER = 20_000
#: Root-relative staging area of flow runs (inside `.staging/`, which no dataset glob reads).
FLOW_STAGING = ".staging/flows"
#: Staging dirs of flow runs older than this are leftovers of dead runs.
STALE_STAGING_SECONDS = 24 * 3600.0
#: A crawl's template models are learned from the source's pages stored before the run plus
#: the first this-many pages of the crawl (status 200, in the order its pages files were
#: written): fixed once the crawl has flushed them, so extraction can start during the crawl
#: and the snapshot is the same whether it did or not.
TEMPLATE_CRAWL_PAGES = 400
#: Extraction tasks in flight at once over the flow's pool: two keep its workers busy from
#: one pages file to the next.
EXTRACT_IN_FLIGHT = 2
#: Seconds between looks for new pages files while a crawl runs (object stores: fewer LISTs).
POLL_SECONDS = 0.5
POLL_SECONDS_REMOTE = 5.0
#: Columns the extraction stage reads from a pages row.
_PAGE_COLUMNS = [
    "url",
    "final_url",
    "url_key",
    "source",
    "crawl_id",
    "status",
    "content_type",
    "fetched_at",
    "warc_file",
    "warc_offset",
    "warc_length",
    "published_hint",
    "title_hint",
]


#: Crawls the caller started already, by source name (see `started_crawls`).
_STARTED_CRAWLS: ContextVar[dict[str, CrawlProcess] | None] = ContextVar(
    "newsarchive_started_crawls", default=None
)
#: Extraction pools the caller started already, by source name (see `started_pools`).
_STARTED_POOLS: ContextVar[dict[str, ProcessPoolExecutor] | None] = ContextVar(
    "newsarchive_started_pools", default=None
)


class RunFailed(RuntimeError):
    """A flow finished but one or more sources failed; the message names them."""


# -- helpers (no Prefect state, no data crossing task boundaries) --------------------------


def _say(message: str, *args: Any) -> None:
    """Progress line: to the run's Prefect logger (UI) and to the stdlib logger (terminal)."""
    logger.info(message, *args)
    # Outside a run context (a plain function call) only the stdlib logger gets it.
    with contextlib.suppress(Exception):
        get_run_logger().info(message, *args)


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a dataclass / pydantic result (small values only)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@contextmanager
def _timed(durations: dict[str, float], stage: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        durations[stage] = round(durations.get(stage, 0.0) + time.monotonic() - start, 3)


def resolve_source(source: str | ResolvedSource, config_path: str) -> ResolvedSource:
    """A ResolvedSource as given, or looked up by name in the config file."""
    if isinstance(source, ResolvedSource):
        return source
    return load_config(config_path).source(source)


def _write_staged(r: Root, table: pa.Table, rel: str) -> None:
    """Write a staging file (read back once or twice by this run, then removed). On a local
    root without compression, dictionary pages or statistics: they cost more than twice the
    CPU of the rest of the write and of the read (500 extracted articles: 6.8 -> 2.0 ms to
    write, 4.1 -> 1.5 ms to read) for ~3x the bytes; on an object store the default
    compression, as there the bytes cost more than the CPU."""
    if r.is_local:
        options: dict[str, Any] = {"compression": "none", "use_dictionary": False}
    else:
        options = {}
    pq.write_table(table, r.path(rel), filesystem=r.fs, write_statistics=False, **options)


def _read_staged(r: Root, rel: str) -> pa.Table:
    with r.open_input(rel) as f:
        return pq.ParquetFile(f).read()


def _run_key(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


# -- tasks --------------------------------------------------------------------------------


@contextmanager
def started_crawls(crawls: dict[str, CrawlProcess]) -> Iterator[None]:
    """Hand crawls the caller started already (`crawlers.runner.start_crawl`, by source name)
    to the flows run inside this block: the first attempt of that source's `crawl_task`
    waits for it instead of starting another (e.g. the CLI starts the crawl while its Prefect
    server boots). A crawl no task took is the caller's to close."""
    token = _STARTED_CRAWLS.set(crawls)
    try:
        yield
    finally:
        _STARTED_CRAWLS.reset(token)


@contextmanager
def started_pools(pools: dict[str, ProcessPoolExecutor]) -> Iterator[None]:
    """Hand extraction pools the caller started already (`flows.prestart.start_pool`, by
    source name) to the `crawl_source` runs inside this block: the run of that source uses
    it (and shuts it down) instead of starting its own, if its size is the run's (e.g. the
    CLI starts it while its Prefect server boots). A pool no run took is the caller's to
    shut down."""
    token = _STARTED_POOLS.set(pools)
    try:
        yield
    finally:
        _STARTED_POOLS.reset(token)


def _started_pool(source: str, workers: int | None) -> ProcessPoolExecutor | None:
    """The pool the caller started for `source` (taken once), if it has the run's size."""
    pools = _STARTED_POOLS.get() or {}
    pool = pools.get(source)
    if pool is None or getattr(pool, "_max_workers", None) != _pool_size(workers):
        return None
    return pools.pop(source)


def _started_crawl(source: ResolvedSource, root: str, max_pages: int | None) -> str | None:
    """crawl_id of a crawl the caller started for exactly this source, root and budget."""
    crawl = (_STARTED_CRAWLS.get() or {}).get(source.name)
    if crawl is None or (crawl.source, crawl.root, crawl.max_pages) != (source, root, max_pages):
        return None
    return crawl.crawl_id


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE, task_run_name="crawl")
def crawl_task(source: ResolvedSource, root: str, max_pages: int | None) -> dict[str, Any]:
    """Run Scrapy for one source in a child process; a fresh crawl_id per attempt (the first
    attempt takes over a crawl the caller started, see `started_crawls`)."""
    from crawlers.runner import start_crawl

    started = _STARTED_CRAWLS.get() or {}
    if _started_crawl(source, root, max_pages) is not None:
        crawl = started.pop(source.name)  # taken once: a retry starts a fresh crawl
        _say("%s: crawl %s (started before the flow)", source.name, crawl.crawl_id)
    else:
        crawl = start_crawl(source, root, max_pages=max_pages)
        _say("%s: crawl %s started", source.name, crawl.crawl_id)
    with crawl, watch_crawl(root, source.name, crawl.crawl_id, since=crawl.started):
        result = crawl.wait()
    _say(
        "%s: crawl %s fetched %d pages %s, %d WARC bytes (%s)",
        source.name,
        result.crawl_id,
        result.pages_fetched,
        dict(result.status_counts),
        result.bytes_archived,
        result.finish_reason,
    )
    return dict(_plain(result), pages_fetched=result.pages_fetched)


@task(cache_policy=NO_CACHE, task_run_name="plan-batches")
def plan_batches(
    root: str,
    staging: str,
    *,
    source: str | None = None,
    crawl_id: str | None = None,
    since: str | None = None,
    latest_only: bool = False,
    batch_pages: int = DEFAULT_BATCH_PAGES,
    learn_templates: bool = True,
    extra_crawl_ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Select the fetched pages to extract and write them in batches of page rows (no HTML).

    `extra_crawl_ids`: earlier crawls of `source` to extract along with `crawl_id`."""
    from storage.fs import open_root
    from storage.pages import read_pages

    r = open_root(root)
    pages = read_pages(r, source=source, crawl_id=crawl_id, since=since, columns=_PAGE_COLUMNS)
    if extra_crawl_ids and source is not None:
        extra = [
            read_pages(r, source=source, crawl_id=c, columns=_PAGE_COLUMNS) for c in extra_crawl_ids
        ]
        pages = pa.concat_tables([pages, *extra])
    keep = pc.and_(pc.equal(pages["status"], 200), pc.is_valid(pages["warc_file"]))
    pages = pages.filter(pc.fill_null(keep, False))
    if latest_only and pages.num_rows:
        # Reextract: one row per (source, url_key), the most recent fetch.
        pages = pages.sort_by([("fetched_at", "descending")])
        seen: set[tuple[str, str]] = set()
        idx = []
        for i, pair in enumerate(
            zip(pages["source"].to_pylist(), pages["url_key"].to_pylist(), strict=True)
        ):
            if pair not in seen:
                seen.add(pair)
                idx.append(i)
        pages = pages.take(pa.array(idx, pa.int64()))
    _remove_stale_staging(r)
    r.makedirs(staging)
    templates_file = None
    if learn_templates and pages.num_rows:
        # Template blocks are learned from the source's whole stored history, not just this
        # crawl: an incremental crawl of a few pages is too small a sample.
        from extraction.batch import learn_templates as learn

        history = pages if crawl_id is None else read_pages(r, source=source)
        models = learn(root, history)
        templates_file = f"{staging}/templates.json"
        blob = json.dumps({name: m.to_json() for name, m in models.items()})
        r.write_bytes_atomic(templates_file, blob.encode("utf-8"))
    batches: list[dict[str, Any]] = []
    # One source per batch, so that rejections are counted per source and each commit
    # reads only its own source's files.
    for name in sorted(set(pages["source"].to_pylist())):
        of_source = pages.filter(pc.equal(pages["source"], name))
        for start in range(0, of_source.num_rows, max(1, batch_pages)):
            part = of_source.slice(start, batch_pages)
            n = len(batches)
            rel = f"{staging}/pages-{n:05d}.parquet"
            _write_staged(r, part, rel)
            batches.append(
                {
                    "pages_file": rel,
                    "pages": part.num_rows,
                    "n": n,
                    "source": name,
                    "templates_file": templates_file,
                }
            )
    return batches


@task(cache_policy=NO_CACHE, task_run_name="uncommitted-crawls")
def uncommitted_crawl_ids(root: str, source: str) -> list[str]:
    """Crawl ids with pages files of `source` that no snapshot manifest names (a run killed
    between its crawl and its commit). Their pages must be extracted by the next run: the
    incremental crawler skips archived URLs and would never offer them again."""
    from storage.pages import list_pages_files
    from storage.snapshots import list_snapshots

    crawled = {
        f.rsplit("/", 1)[-1].removesuffix(".parquet").rsplit("-", 1)[0]
        for f in list_pages_files(root, source)
    }
    committed: set[str] = set()
    for snap in list_snapshots(root):
        if snap.source == source:
            committed.update(c for c in [snap.crawl_id, *snap.stats.get("crawl_ids", [])] if c)
    return sorted(crawled - committed)


def _remove_stale_staging(r: Any, max_age: float = STALE_STAGING_SECONDS) -> None:
    """Remove staging dirs of flow runs that died (older than `max_age`); live runs are
    younger by far, since a run's staging dir lives from planning to commit."""
    now = time.time()
    for path in r.listdir(FLOW_STAGING):
        mtime = r.mtime(path)
        if mtime is not None and now - mtime > max_age:
            logger.info("removing staging files of a dead run: %s", path)
            r.delete_dir(path)


@task(cache_policy=NO_CACHE, task_run_name="extract-batch-{batch[n]}")
def extract_batch(
    root: str,
    staging: str,
    batch: dict[str, Any],
    options: ExtractionOptions,
    workers: int | None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Extract one batch of pages (each worker reads its own WARC records); `executor`: a
    process pool the flow reuses over its batches."""
    from extraction.batch import extract_pages
    from extraction.template import TemplateModel
    from storage.fs import open_root

    r = open_root(root)
    pages = _read_staged(r, batch["pages_file"])
    templates = None
    if batch.get("templates_file"):
        blob = json.loads(r.read_bytes(batch["templates_file"]))
        templates = {name: TemplateModel.from_json(text) for name, text in blob.items()}
    result = extract_pages(
        root,
        pages,
        options,
        workers=workers,
        templates=templates,
        executor=executor,
        batch_size=POOL_BATCH_PAGES,
    )
    rel = f"{staging}/articles-{batch['n']:05d}.parquet"
    _write_staged(r, result.articles, rel)
    return {
        "articles_file": rel,
        "source": batch["source"],
        "pages": pages.num_rows,
        "articles": result.articles.num_rows,
        "rejected": dict(result.rejected),
        "errors": list(result.errors)[:20],
        "n_errors": len(result.errors),
    }


@task(cache_policy=NO_CACHE, task_run_name="commit-{source}")
def commit_task(
    root: str,
    staging: str,
    source: str,
    articles_files: list[str],
    *,
    kind: str,
    extractor: str,
    rejected: dict[str, int],
    stats: dict[str, Any],
    crawl_id: str | None = None,
) -> dict[str, Any]:
    """Dedup the staged articles of one source against the archive and commit a snapshot.
    The staged files go to `commit_snapshot` as paths: it reads them one at a time, so the
    commit never holds the run's texts (only its dedup plan grows with the articles)."""
    from storage.snapshots import commit_snapshot

    info = commit_snapshot(
        root,
        source,
        articles_files,
        kind=kind,
        extractor=extractor,
        rejected=rejected,
        stats=stats,
        crawl_id=crawl_id,
    )
    return _snapshot_row(info)


@task(cache_policy=NO_CACHE, task_run_name="crawl-problems")
def crawl_problems(root: str, source: str, crawl_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """Fetches of this crawl that got no response or a server error (URL and reason)."""
    from storage.pages import read_pages

    pages = read_pages(root, source=source, crawl_id=crawl_id, columns=["url", "status", "error"])
    bad = pc.or_(pc.is_null(pages["status"]), pc.greater_equal(pages["status"], 500))
    problems = pages.filter(pc.fill_null(bad, True))
    return [
        {"url": row["url"], "status": row["status"], "error": (row["error"] or "")[:200]}
        for row in problems.slice(0, limit).to_pylist()
    ] + ([{"more": problems.num_rows - limit}] if problems.num_rows > limit else [])


@task(cache_policy=NO_CACHE, task_run_name="cleanup-staging")
def cleanup_staging(root: str, staging: str) -> None:
    """Remove this run's staging files (they are copies; the archive keeps everything)."""
    from storage.fs import open_root

    open_root(root).delete_dir(staging)


@task(cache_policy=NO_CACHE, task_run_name="compact")
def compact_task(root: str, source: str | None) -> list[dict[str, Any]]:
    from storage.snapshots import compact as compact_sources

    return [_snapshot_row(info) for info in compact_sources(root, source)]


def _snapshot_row(info: Any) -> dict[str, Any]:
    """A snapshot manifest flattened like the `snapshots` view (JSON-friendly)."""
    from storage.snapshots import snapshot_rows

    row = snapshot_rows([info])[0]
    row["created_at"] = info.created_at
    return row


# -- shared extraction path ---------------------------------------------------------------


def _extract_pooled(
    root: str,
    staging: str,
    batches: list[dict[str, Any]],
    options: ExtractionOptions,
    workers: int | None,
    pool: ProcessPoolExecutor | None,
    done: Callable[[dict[str, Any]], None],
) -> None:
    """Run `extract_batch` over `batches` with one pool, replaced after
    `POOL_PAGES_PER_WORKER` pages per worker (keeps worker memory flat); shuts it down."""
    size = _pool_size(workers)
    pool = pool or _start_pool(workers)
    used = 0
    try:
        for b in batches:
            # A worker that died breaks the pool for good (extract_pages reran its batches).
            if used >= POOL_PAGES_PER_WORKER * size or getattr(pool, "_broken", False):
                pool.shutdown()
                pool, used = _start_pool(workers), 0
            done(extract_batch(root, staging, b, options, workers, pool))
            used += int(b["pages"])
    finally:
        # Not waiting for the workers to exit (~0.5 s): the commit runs meanwhile.
        pool.shutdown(wait=False)


def _extract_and_commit(
    root: str,
    staging: str,
    batches: list[dict[str, Any]],
    sources: list[str],
    *,
    kind: str,
    options: ExtractionOptions,
    workers: int | None,
    stats: dict[str, Any],
    durations: dict[str, float],
    pool: ProcessPoolExecutor | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Extract all batches (submitted to the flow's task runner), then commit per source.

    `pool`: a started process pool (see `_start_pool`) to use; it is shut down here."""
    total = sum(int(b["pages"]) for b in batches)
    label = sources[0] if len(sources) == 1 else "all sources"
    key = f"extract {label}"
    report(
        Progress(key, f"{key}: 0/{total} pages", 0, total, "pages"),
        f"{label}: extracting {total} pages",
    )
    results: list[dict[str, Any]] = []
    started = time.monotonic()

    def done(res: dict[str, Any]) -> None:
        results.append(res)
        n = sum(r["pages"] for r in results)
        rate = n / max(time.monotonic() - started, 1e-6)
        eta = (total - n) / rate if rate else 0.0
        report(
            Progress(
                key,
                f"{key}: {n}/{total} pages",
                n,
                total,
                "pages",
                done=n >= total,
                rate=f"{rate:.1f} pages/s",
            ),
            f"{label}: extracted {n}/{total} pages ({rate:.1f} pages/s, ETA {eta:.0f}s)",
        )

    with _timed(durations, "extract"):
        if workers == 1:
            # Each task extracts inline; the task runner (e.g. Dask) gives the parallelism.
            futures = [extract_batch.submit(root, staging, b, options, 1) for b in batches]
            for future in as_completed(futures):
                done(future.result())
        else:
            # Each batch fans out over one local process pool, reused over the batches (a
            # spawn pool costs seconds to start); batches run one after another so that two
            # pools never compete for the same cores.
            _extract_pooled(root, staging, batches, options, workers, pool, done)
    results.sort(key=lambda r: r["articles_file"])
    return _commit_extracted(
        root,
        staging,
        results,
        sources,
        kind=kind,
        options=options,
        stats=stats,
        durations=durations,
    )


def _commit_extracted(
    root: str,
    staging: str,
    results: list[dict[str, Any]],
    sources: list[str],
    *,
    kind: str,
    options: ExtractionOptions,
    stats: dict[str, Any],
    durations: dict[str, float],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Commit one snapshot per source from the extract_batch `results` (articles in the
    order given), then remove the staging files."""
    from extraction.options import extractor_id

    rejected: Counter[str] = Counter()
    rejected_by_source: dict[str, Counter[str]] = {s: Counter() for s in sources}
    for res in results:
        rejected.update(res["rejected"])
        rejected_by_source.setdefault(res["source"], Counter()).update(res["rejected"])
    extraction = {
        "pages": sum(r["pages"] for r in results),
        "articles": sum(r["articles"] for r in results),
        "rejected": dict(rejected),
        "errors": [e for r in results for e in r["errors"]][:20],
        "n_errors": sum(r["n_errors"] for r in results),
    }
    _say(
        "extracted %d articles from %d pages, rejected %s",
        extraction["articles"],
        extraction["pages"],
        dict(rejected) or "none",
    )
    snapshots = []
    with _timed(durations, "commit"):
        for source in sources:
            info = commit_task(
                root,
                staging,
                source,
                [r["articles_file"] for r in results if r["source"] == source],
                kind=kind,
                extractor=extractor_id(options),
                rejected=dict(rejected_by_source[source]),
                stats={**stats, "durations": dict(durations)},
                crawl_id=stats.get("crawl_id"),
            )
            snapshots.append(info)
    cleanup_staging(root, staging)
    return snapshots, extraction


# -- a crawl run's extraction: pages file by pages file, during the crawl and after it -----


def _file_order(pages_file: str) -> tuple[str, int]:
    """(crawl_id, n) of a pages file `<crawl_id>-<n>.parquet`: n counts the crawl's writes."""
    name = pages_file.rsplit("/", 1)[-1].removesuffix(".parquet")
    crawl_id, _, n = name.rpartition("-")
    return (crawl_id, int(n)) if n.isdigit() else (name, -1)


def _read_page_rows(r: Any, pages_files: list[str], crawl_id: str | None = None) -> pa.Table:
    """Extraction's columns of pages files (in the order given): rows with status 200 and a
    WARC record (of `crawl_id` only, when given)."""
    from storage.schemas import PAGES_SCHEMA

    if not pages_files:
        return pa.schema([PAGES_SCHEMA.field(c) for c in _PAGE_COLUMNS]).empty_table()
    dataset = ds.dataset([r.path(f) for f in pages_files], schema=PAGES_SCHEMA, filesystem=r.fs)
    flt = None if crawl_id is None else ds.field("crawl_id") == crawl_id
    table = dataset.to_table(columns=_PAGE_COLUMNS, filter=flt)
    keep = pc.and_(pc.equal(table["status"], 200), pc.is_valid(table["warc_file"]))
    return table.filter(pc.fill_null(keep, False))


@task(cache_policy=NO_CACHE, task_run_name="learn-templates-{key}")
def learn_templates_task(root: str, staging: str, pages_files: list[str], key: str) -> str | None:
    """Learn the template models from the pages rows of `pages_files` (the source's history
    and a staged sample of the crawl); write them under `staging` and return that path."""
    from extraction.batch import learn_templates
    from storage.fs import open_root

    r = open_root(root)
    pages = _read_page_rows(r, pages_files)
    if not pages.num_rows:
        return None
    models = learn_templates(root, pages)
    path = f"{staging}/templates-{key}.json"
    blob = json.dumps({name: m.to_json() for name, m in models.items()})
    r.write_bytes_atomic(path, blob.encode("utf-8"))
    return path


class _RunExtraction:
    """The extraction of one crawl_source run, one extract_batch task per pages file.

    While the crawl runs, `step()` looks for the pages files it has flushed and extracts
    them as soon as the crawl's template models are fixed (`TEMPLATE_CRAWL_PAGES`); after
    it, `finish()` extracts the rest. Results are kept per (pages file, template key) and
    put together in the crawl's file order, so the snapshot gets the same rows in the same
    order whether extraction overlapped the crawl or not. A retried crawl (a new crawl_id)
    changes the key: what was extracted with the old one is extracted again.
    """

    def __init__(
        self,
        root: str,
        staging: str,
        source: str,
        options: ExtractionOptions,
        workers: int | None,
        pool: ProcessPoolExecutor | None,
        history: list[str],
        uncommitted: list[str],
    ) -> None:
        from storage.fs import open_root

        self.root, self.staging, self.source = root, staging, source
        self.r = open_root(root)
        self.options, self.workers, self.pool = options, workers, pool
        self.history = set(history)  # the source's pages files when the run started
        self.history_list = sorted(history)
        # Files of earlier runs' uncommitted crawls: extracted with this one.
        self.backlog = sorted(
            (f for f in history if _file_order(f)[0] in set(uncommitted)), key=_file_order
        )
        self.in_flight = EXTRACT_IN_FLIGHT if pool is not None else 1 << 30
        self.files: dict[str, list[str]] = {}  # crawl_id -> its new pages files, by n
        self.prefix: dict[str, tuple[int, list[pa.Table]]] = {}  # crawl_id -> files read, rows
        self.templates: dict[str, str | None] = {}  # template key -> templates file
        self.key: str | None = None  # the template key extraction runs with now
        self.todo: list[str] = []  # pages files to extract with `key`, in order
        self.results: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.submitted_at: dict[tuple[str, str], float] = {}
        self.running: dict[PrefectFuture[Any], tuple[str, str]] = {}
        self.pool_of: dict[PrefectFuture[Any], ProcessPoolExecutor | None] = {}
        # Replaced pools whose last tasks still run: shut down once those are done.
        self.retired: list[ProcessPoolExecutor] = []
        self.final = False  # every file to extract is known (`finish`)
        self.finished: queue.SimpleQueue[PrefectFuture[Any]] = queue.SimpleQueue()
        self.batches = 0
        self.pool_pages = 0
        self.started: float | None = None
        self.durations: dict[str, float] = {}
        # Wall-clock start (less a margin for a crawl the caller started before the run).
        self.wall_start = datetime.now(UTC) - timedelta(minutes=10)

    # -- what is there ---------------------------------------------------------------------

    def scan(self) -> None:
        """Note the pages files written since the run started (this run's crawls): in the
        partitions of the run's days only (`recent_pages_files`), not all of history."""
        known = {f for files in self.files.values() for f in files}
        for f in recent_pages_files(self.r, self.source, self.wall_start):
            if f not in self.history and f not in known:
                self.files.setdefault(_file_order(f)[0], []).append(f)
        for files in self.files.values():
            files.sort(key=_file_order)

    def _contiguous(self, crawl_id: str) -> list[str]:
        """The crawl's files numbered 0, 1, 2, ... without a gap: no earlier one can follow."""
        out = []
        for i, f in enumerate(self.files.get(crawl_id, [])):
            if _file_order(f)[1] != i:
                break
            out.append(f)
        return out

    # -- the template models ---------------------------------------------------------------

    def fix_templates(self, crawl_id: str, *, complete: bool) -> bool:
        """Fix the template models of `crawl_id` once its first TEMPLATE_CRAWL_PAGES pages
        (all of them, when `complete`) are flushed; True once they are."""
        key = crawl_id if self.options.use_template else "none"  # "none": nothing to redo
        if key != self.key:
            self.todo = []  # queued for the models of another crawl
        if key not in self.templates:
            if not self.options.use_template:
                self.templates[key] = None
            else:
                files = self.files.get(crawl_id, []) if complete else self._contiguous(crawl_id)
                read, parts = self.prefix.get(crawl_id, (0, []))
                parts += [_read_page_rows(self.r, [f], crawl_id) for f in files[read:]]
                self.prefix[crawl_id] = (len(files), parts)
                if sum(t.num_rows for t in parts) < TEMPLATE_CRAWL_PAGES and not complete:
                    return False
                self.templates[key] = self._learn(crawl_id, parts)
        self.key = key
        return True

    def _learn(self, crawl_id: str, parts: list[pa.Table]) -> str | None:
        """The source's history before the run + the crawl's first pages -> templates file."""
        with _timed(self.durations, "plan"):
            sample = f"{self.staging}/template-sample-{crawl_id}.parquet"
            table = pa.concat_tables(parts) if parts else _read_page_rows(self.r, [])
            self.r.makedirs(self.staging)
            _write_staged(self.r, table.slice(0, TEMPLATE_CRAWL_PAGES), sample)
            return learn_templates_task(
                self.root, self.staging, [*self.history_list, sample], crawl_id
            )

    # -- extraction ------------------------------------------------------------------------

    def want(self, files: list[str]) -> None:
        """Extract these files with the current template key (unless done or under way)."""
        assert self.key is not None
        busy = {f for f, k in self.running.values() if k == self.key}
        queued = set(self.todo)
        for f in files:
            if (f, self.key) not in self.results and f not in busy and f not in queued:
                self.todo.append(f)
                queued.add(f)

    def _pool_worn(self) -> bool:
        if self.pool is None:
            return False
        size = _pool_size(self.workers)
        return self.pool_pages >= POOL_PAGES_PER_WORKER * size or getattr(
            self.pool, "_broken", False
        )

    def _replace_pool(self) -> None:
        """Start the next pool now (its workers spawn and import while the old one's last
        tasks run); new tasks go to it, the old one is shut down once its tasks are done."""
        assert self.pool is not None
        self.retired.append(self.pool)
        self.pool, self.pool_pages = _start_pool(self.workers), 0
        self._shut_retired()

    def _shut_retired(self) -> None:
        """Shut down (not waiting for the workers to exit) the retired pools no running
        task uses any more."""
        busy = {id(p) for p in self.pool_of.values() if p is not None}
        for pool in [p for p in self.retired if id(p) not in busy]:
            self.retired.remove(pool)
            pool.shutdown(wait=False)

    def pump(self) -> None:
        """Submit queued files while fewer than `in_flight` tasks run."""
        while self.todo and len(self.running) < self.in_flight:
            if self._pool_worn():  # broken (a worker died) or worn and not replaced yet
                self._replace_pool()
            assert self.key is not None
            f = self.todo.pop(0)
            pages = _read_page_rows(self.r, [f], _file_order(f)[0])
            if not pages.num_rows:
                self.results[(f, self.key)] = None  # no page to extract (errors, 404s, ...)
                continue
            n, self.batches = self.batches, self.batches + 1
            rel = f"{self.staging}/pages-{n:05d}.parquet"
            self.r.makedirs(self.staging)
            _write_staged(self.r, pages, rel)
            batch = {
                "pages_file": rel,
                "pages": pages.num_rows,
                "n": n,
                "source": self.source,
                "templates_file": self.templates[self.key],
            }
            if self.started is None:
                self.started = time.monotonic()
            future = extract_batch.submit(
                self.root, self.staging, batch, self.options, self.workers, self.pool
            )
            future.add_done_callback(self.finished.put)
            self.running[future] = (f, self.key)
            self.pool_of[future] = self.pool
            self.submitted_at[(f, self.key)] = time.monotonic()
            self.pool_pages += pages.num_rows
            if self._pool_worn() and (self.todo or not self.final):
                # Its last task is in: the next pool starts now, not after a drain (not
                # when nothing is left to give it).
                self._replace_pool()

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        """Results of the tasks that ended within `timeout` seconds (a failed task raises)."""
        out = []
        try:
            future = self.finished.get(timeout=timeout)
            while True:
                f, key = self.running.pop(future)
                self.pool_of.pop(future, None)
                self._shut_retired()
                result = future.result()
                self.results[(f, key)] = result
                if key == self.key:
                    out.append(result)
                future = self.finished.get_nowait()
        except queue.Empty:
            pass
        return out

    def template_fingerprints(self) -> dict[str, str]:
        """source -> fingerprint of the template model the run extracted with (provenance)."""
        from extraction.template import TemplateModel

        path = self.templates.get(self.key or "")
        if not path:
            return {}
        blob = json.loads(self.r.read_bytes(path))
        return {name: TemplateModel.from_json(text).fingerprint() for name, text in blob.items()}

    def pages_done(self) -> int:
        return sum(r["pages"] for (_, k), r in self.results.items() if r and k == self.key)

    def step(self, timeout: float) -> list[dict[str, Any]]:
        """While the crawl runs: take in its new pages files, extract what may be."""
        self.scan()
        if self.files:
            latest = max(self.files)  # crawl ids sort by start time: the attempt running now
            if self.fix_templates(latest, complete=False):
                self.want(self.files[latest] + self.backlog)
        self.pump()
        return self.collect(timeout)

    def finish(
        self, crawl_id: str, earlier: list[str], on_result: Callable[[dict[str, Any]], None]
    ) -> list[dict[str, Any]]:
        """After the crawl: extract every pages file of `crawl_id` and of the `earlier`
        uncommitted crawls not yet extracted; all results in file order."""
        from storage.pages import list_pages_files

        self.scan()
        self.fix_templates(crawl_id, complete=True)
        self.final = True
        order = list(self.files.get(crawl_id, []))
        for c in earlier:
            order += sorted(list_pages_files(self.r, self.source, c), key=_file_order)
        self.want(order)
        key = self.key
        assert key is not None
        while any((f, key) not in self.results for f in order):
            self.pump()
            for result in self.collect(POLL_SECONDS):
                on_result(result)
        return [r for f in order if (r := self.results[(f, key)]) is not None]

    def during(self, until: float) -> int:
        """Pages whose extraction (with the final template models) began before `until`."""
        return sum(
            r["pages"]
            for fk, r in self.results.items()
            if r and fk[1] == self.key and self.submitted_at.get(fk, until + 1) <= until
        )

    def stop(self) -> None:
        """Give up (the crawl failed): cancel queued pool work, wait for running tasks."""
        self.todo = []
        for pool in [*self.retired, *([self.pool] if self.pool is not None else [])]:
            pool.shutdown(cancel_futures=True)
        for future in list(self.running):
            with contextlib.suppress(Exception):
                future.wait()
        self.running.clear()
        self.pool_of.clear()
        self._shut_retired()


# -- flows --------------------------------------------------------------------------------


@flow(name="crawl-source", log_prints=False)
def crawl_source(
    source: str | ResolvedSource,
    root: str = "archive",
    max_pages: int | None = None,
    config_path: str = "config/sources.yaml",
    options: ExtractionOptions | None = None,
    workers: int | None = None,
    batch_pages: int = DEFAULT_BATCH_PAGES,
    crawl_retries: int = 2,
    extract_during_crawl: bool = True,
) -> dict[str, Any]:
    """Crawl one source, extract the pages of this crawl (while the crawl runs, from the
    pages files it flushes, unless `extract_during_crawl` is False), commit a snapshot.

    `batch_pages` is kept for callers; a crawl's extraction tasks are its pages files."""
    from storage.fs import open_root
    from storage.pages import list_pages_files

    resolved = resolve_source(source, config_path)
    root = absolute_root(root)
    options = options or ExtractionOptions()
    durations: dict[str, float] = {}
    started = time.monotonic()
    # The extraction workers start (spawn, imports) while the crawl child starts, unless
    # the caller started them already (`started_pools`).
    pool = None
    if workers != 1:
        pool = _started_pool(resolved.name, workers) or _start_pool(workers)
    staging = f"{FLOW_STAGING}/{_run_key(resolved.name)}"
    _remove_stale_staging(open_root(root))
    # The source's pages before this run (a crawl the caller started for it is this run's).
    adopted = _started_crawl(resolved, root, max_pages)
    history = [f for f in list_pages_files(root, resolved.name) if _file_order(f)[0] != adopted]
    uncommitted = [c for c in uncommitted_crawl_ids(root, resolved.name) if c != adopted]
    run = _RunExtraction(root, staging, resolved.name, options, workers, pool, history, uncommitted)
    label = resolved.name
    key = f"extract {label}"
    total: list[int | None] = [None]  # known once the crawl is over

    def show(_result: dict[str, Any] | None = None) -> None:
        n = run.pages_done()
        rate = n / max(time.monotonic() - (run.started or time.monotonic()), 1e-6)
        of = f"/{total[0]}" if total[0] is not None else ""
        report(
            Progress(
                key,
                f"{key}: {n}{of} pages",
                n,
                total[0],
                "pages",
                done=total[0] is not None and n >= total[0],
                rate=f"{rate:.1f} pages/s",
            ),
            f"{label}: extracted {n}{of} pages ({rate:.1f} pages/s)",
        )

    overlap = extract_during_crawl and pool is not None
    poll = POLL_SECONDS_REMOTE if "://" in root else POLL_SECONDS
    try:
        with _timed(durations, "crawl"):
            future = crawl_task.with_options(retries=crawl_retries).submit(
                resolved, root, max_pages
            )
            crawl_over = threading.Event()
            future.add_done_callback(lambda _f: crawl_over.set())
            while not crawl_over.is_set():
                if overlap:
                    if run.step(poll):
                        show()
                else:
                    crawl_over.wait(poll)
            crawl = future.result()
        crawl_end = time.monotonic()
        # Earlier runs killed before their commit, and failed attempts of this one.
        earlier = [c for c in uncommitted_crawl_ids(root, resolved.name) if c != crawl["crawl_id"]]
        if earlier:
            _say("%s: also extracting uncommitted earlier crawls %s", resolved.name, earlier)
        crawl["problems"] = crawl_problems(root, resolved.name, crawl["crawl_id"])
        with _timed(durations, "extract_after_crawl"):
            results = run.finish(crawl["crawl_id"], earlier, lambda _r: show())
        total[0] = sum(r["pages"] for r in results)
        show()
        durations.update(run.durations)
        durations["extract"] = round(time.monotonic() - (run.started or crawl_end), 3)
    except BaseException:
        run.stop()
        with contextlib.suppress(Exception):
            open_root(root).delete_dir(staging)
        raise
    finally:
        for pool in [*run.retired, *([run.pool] if run.pool is not None else [])]:
            # Idempotent; not waiting for the workers to exit (~0.5 s): the commit runs
            # meanwhile (after a failure, `run.stop()` waited for them).
            pool.shutdown(wait=False)
    stats = {
        "crawl_id": crawl["crawl_id"],
        "crawl_ids": [crawl["crawl_id"], *earlier],
        "pages_fetched": crawl["pages_fetched"],
        "status_counts": crawl["status_counts"],
        "bytes_archived": crawl["bytes_archived"],
        "templates": run.template_fingerprints(),
    }
    snapshots, extraction = _commit_extracted(
        root,
        staging,
        results,
        [resolved.name],
        kind="crawl",
        options=options,
        stats=stats,
        durations=durations,
    )
    extraction["during_crawl"] = run.during(crawl_end)
    durations["total"] = round(time.monotonic() - started, 3)
    summary = {
        "source": resolved.name,
        "ok": True,
        "flow_run_id": str(prefect_runtime.flow_run.id),
        "crawl": crawl,
        "extraction": extraction,
        "snapshot": snapshots[0],
        "durations": durations,
    }
    publish_report(summary, kind="crawl")
    if _deployment_run():
        # A scheduled run (`newsarchive serve` or a worker): one line in the runner's output,
        # where the CLI would otherwise print its summary.
        snap = snapshots[0]
        print(
            f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {resolved.name}: {crawl['pages_fetched']}"
            f" pages, {snap['new']} new, {snap['changed']} changed, {snap['unchanged']}"
            f" unchanged; snapshot {snap['snapshot_id']} ({durations['total']:.1f}s)",
            flush=True,
        )
    return summary


def _deployment_run() -> bool:
    """Whether this flow run was started from a deployment (a schedule, `newsarchive serve`,
    a worker). Read from the run's context: `prefect.runtime.deployment.id` asks the API for
    the flow run every time (~25 ms of CPU and a round trip at the end of every crawl)."""
    from prefect.context import FlowRunContext

    run = getattr(FlowRunContext.get(), "flow_run", None)
    if run is None:
        return bool(prefect_runtime.deployment.id)
    return run.deployment_id is not None


@task(cache_policy=NO_CACHE, task_run_name="source-{source.name}")
def _source_run(
    source: ResolvedSource,
    root: str,
    max_pages: int | None,
    workers: int | None,
    crawl_retries: int,
) -> dict[str, Any]:
    """One source's crawl as its own (sub)flow run; failures become a summary, not a crash."""
    state = crawl_source(
        source,
        root,
        max_pages,
        workers=workers,
        crawl_retries=crawl_retries,
        return_state=True,
    )
    if state.is_completed():
        return state.result()
    try:
        state.result(raise_on_failure=True)
        message = state.message or state.name
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
    return {"source": source.name, "ok": False, "error": message}


@flow(
    name="crawl-sources",
    # Prefect's generic TaskRunner typing does not accept a concrete runner instance.
    task_runner=cast("TaskRunner[Any]", ThreadPoolTaskRunner(max_workers=CRAWL_SOURCES_PARALLEL)),
)
def crawl_sources(
    names: list[str] | None = None,
    root: str = "archive",
    max_pages: int | None = None,
    config_path: str = "config/sources.yaml",
    sources: list[ResolvedSource] | None = None,
    workers: int | None = None,
    crawl_retries: int = 2,
) -> list[dict[str, Any]]:
    """Crawl several sources (all when `names` is empty) in parallel sub-flow runs.

    Sources fail independently: the result lists one summary per source with `ok`.
    """
    resolved = sources or load_config(config_path).resolved(names or None)
    root = absolute_root(root)
    futures = [_source_run.submit(s, root, max_pages, workers, crawl_retries) for s in resolved]
    return [f.result() for f in futures]


@flow(name="reextract")
def reextract(
    root: str = "archive",
    source: str | None = None,
    since: str | None = None,
    options: ExtractionOptions | None = None,
    workers: int | None = None,
    batch_pages: int = DEFAULT_BATCH_PAGES,
) -> list[dict[str, Any]]:
    """Extract again from stored WARC only (no network): one snapshot per source, kind
    'reextract', built from the latest successful fetch of every stored URL."""
    options = options or ExtractionOptions()
    root = absolute_root(root)
    durations: dict[str, float] = {}
    started = time.monotonic()
    staging = f"{FLOW_STAGING}/{_run_key('reextract')}"
    with _timed(durations, "plan"):
        batches = plan_batches(
            root,
            staging,
            source=source,
            since=since,
            latest_only=True,
            batch_pages=batch_pages,
            learn_templates=options.use_template,
        )
    # Only sources with stored pages get a snapshot (nothing selected: no empty snapshot).
    sources = sorted({b["source"] for b in batches})
    _say("reextract: %d pages in %d batches, sources %s", _count(batches), len(batches), sources)
    snapshots, extraction = _extract_and_commit(
        root,
        staging,
        batches,
        sources,
        kind="reextract",
        options=options,
        workers=workers,
        stats={"since": since, "pages_selected": _count(batches)},
        durations=durations,
    )
    durations["total"] = round(time.monotonic() - started, 3)
    summary = {
        "source": source or "all",
        "ok": True,
        "extraction": extraction,
        "snapshots": snapshots,
        "durations": durations,
    }
    publish_report(summary, kind="reextract")
    return snapshots


@flow(name="compact")
def compact(root: str = "archive", source: str | None = None) -> list[dict[str, Any]]:
    """Merge each source's small article files into fewer, larger ones (a 'compact' snapshot)."""
    rows = compact_task(absolute_root(root), source)
    publish_report({"source": source or "all", "snapshots": rows}, kind="compact")
    return rows


def _count(batches: list[dict[str, Any]]) -> int:
    return sum(int(b["pages"]) for b in batches)


# -- reporting ----------------------------------------------------------------------------


def report_markdown(summary: dict[str, Any], kind: str) -> str:
    """The run report (pages by status, articles new/changed/unchanged/rejected, bytes, time)."""
    lines = [f"# {kind}: {summary.get('source', '')}", ""]
    crawl = summary.get("crawl")
    if crawl:
        lines += [
            f"Crawl `{crawl.get('crawl_id')}` ({crawl.get('finish_reason')}),"
            f" {crawl.get('bytes_archived', 0):,} bytes archived to WARC.",
            "",
            "| status | pages |",
            "|---|---:|",
        ]
        for status, count in sorted(crawl.get("status_counts", {}).items()):
            lines.append(f"| {status} | {count} |")
        if crawl.get("fetch_errors"):
            lines.append(f"| error (no response) | {crawl['fetch_errors']} |")
        if crawl.get("dropped_circuit_open"):
            sites = ", ".join(crawl.get("circuit_open_sites") or [])
            dropped = crawl["dropped_circuit_open"]
            lines.append(f"| not fetched, circuit open ({sites}): next run | {dropped} |")
        lines.append("")
        problems = [p for p in crawl.get("problems", []) if "url" in p]
        if problems:
            lines += ["| failed fetch | status | error |", "|---|---|---|"]
            lines += [f"| {p['url']} | {p['status'] or ''} | {p['error']} |" for p in problems]
            lines.append("")
    snaps = summary.get("snapshots") or ([summary["snapshot"]] if summary.get("snapshot") else [])
    if snaps:
        lines += ["| snapshot | source | new | changed | unchanged |", "|---|---|---:|---:|---:|"]
        for s in snaps:
            lines.append(
                f"| {s.get('snapshot_id')} | {s.get('source')} | {s.get('new', '')} |"
                f" {s.get('changed', '')} | {s.get('unchanged', '')} |"
            )
        lines.append("")
    extraction = summary.get("extraction", {})
    rejected = extraction.get("rejected", {})
    lines += [
        f"Extracted {extraction.get('articles', 0)} articles from"
        f" {extraction.get('pages', 0)} pages.",
        "",
        "| rejected because | pages |",
        "|---|---:|",
        *(f"| {reason} | {n} |" for reason, n in sorted(rejected.items())),
        "",
        "| stage | seconds |",
        "|---|---:|",
        *(f"| {stage} | {secs:.2f} |" for stage, secs in summary.get("durations", {}).items()),
    ]
    if extraction.get("n_errors"):
        lines += ["", f"{extraction['n_errors']} extraction errors, first ones:", ""]
        lines += [f"- {e}" for e in extraction.get("errors", [])]
    return "\n".join(lines) + "\n"


def publish_report(summary: dict[str, Any], kind: str) -> None:
    """Attach the run report to the flow run as a Prefect markdown artifact."""
    name = str(summary.get("source", "all"))
    key = "".join(c if c.isalnum() else "-" for c in f"{kind}-{name}".lower())
    create_markdown_artifact(
        markdown=report_markdown(summary, kind), key=key, description=f"{kind} report"
    )
