"""Prefect flows: crawl -> extract -> commit snapshot, reextract from stored WARC, compact.

Tasks are thin shells over the stage functions and pass small manifests (root-relative
paths, counts) — never HTML or tables. Page selections and extracted batches travel as
Parquet files under the archive's `.staging/` directory (outside every dataset tree).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

import prefect.runtime as prefect_runtime
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from crawlers.config import ResolvedSource, load_config
from extraction.options import ExtractionOptions
from flows.progress import Progress, report, watch_crawl

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

logger = logging.getLogger(__name__)

#: Pages per extraction task: big enough that Prefect's per-task overhead is noise.
DEFAULT_BATCH_PAGES = 2000
#: Pages per pool task: small, so that no worker idles long at the end of a flow batch
#: (the next flow batch starts only when this one is done).
POOL_BATCH_PAGES = 50
#: A flow's extraction pool is replaced after this many pages per worker (flat memory).
POOL_PAGES_PER_WORKER = 5000
#: Root-relative staging area of flow runs (inside `.staging/`, which no dataset glob reads).
FLOW_STAGING = ".staging/flows"
#: Staging dirs of flow runs older than this are leftovers of dead runs.
STALE_STAGING_SECONDS = 24 * 3600.0
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


def absolute_root(root: str) -> str:
    """The root as every process sees it: a local path made absolute (tasks may run on
    Dask workers or runner processes with another working directory), URIs unchanged."""
    from storage.fs import open_root

    return open_root(root).uri if "://" not in root else root


def _run_key(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


# -- tasks --------------------------------------------------------------------------------


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE, task_run_name="crawl")
def crawl_task(source: ResolvedSource, root: str, max_pages: int | None) -> dict[str, Any]:
    """Run Scrapy for one source in a child process; a fresh crawl_id per attempt."""
    from crawlers.runner import new_crawl_id, run_crawl

    crawl_id = new_crawl_id()
    _say("%s: crawl %s started", source.name, crawl_id)
    with watch_crawl(root, source.name, crawl_id):
        result = run_crawl(source, root, max_pages=max_pages, crawl_id=crawl_id)
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
            pq.write_table(part, r.path(rel), filesystem=r.fs)
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
    pages = pq.read_table(r.path(batch["pages_file"]), filesystem=r.fs)
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
    pq.write_table(result.articles, r.path(rel), filesystem=r.fs)
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
    """Dedup the staged articles of one source against the archive and commit a snapshot."""
    from storage.fs import open_root
    from storage.schemas import EXTRACTED_SCHEMA
    from storage.snapshots import commit_snapshot

    r = open_root(root)
    tables = [pq.read_table(r.path(f), filesystem=r.fs) for f in articles_files]
    extracted = pa.concat_tables(tables) if tables else EXTRACTED_SCHEMA.empty_table()
    if extracted.num_rows:
        extracted = extracted.filter(pc.equal(extracted["source"], source))
    info = commit_snapshot(
        root,
        source,
        extracted,
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


def _pool_size(workers: int | None) -> int:
    return max(1, workers if workers is not None else (os.cpu_count() or 1))


def _start_pool(workers: int | None) -> ProcessPoolExecutor:
    """A spawn process pool whose workers start (imports, language model) right away."""
    from extraction.batch import make_pool, warm_pool

    pool = make_pool(_pool_size(workers))
    warm_pool(pool, _pool_size(workers))
    return pool


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
        pool.shutdown()


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
    from extraction.options import extractor_id

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
) -> dict[str, Any]:
    """Crawl one source, extract the pages of this crawl in batches, commit a snapshot."""
    resolved = resolve_source(source, config_path)
    root = absolute_root(root)
    options = options or ExtractionOptions()
    durations: dict[str, float] = {}
    started = time.monotonic()
    # The extraction workers start (spawn, imports) while the crawl child runs.
    pool = _start_pool(workers) if workers != 1 else None
    try:
        with _timed(durations, "crawl"):
            crawl = crawl_task.with_options(retries=crawl_retries)(resolved, root, max_pages)
        # Earlier runs killed before their commit, and failed attempts of this one.
        earlier = [c for c in uncommitted_crawl_ids(root, resolved.name) if c != crawl["crawl_id"]]
        if earlier:
            _say("%s: also extracting uncommitted earlier crawls %s", resolved.name, earlier)
        staging = f"{FLOW_STAGING}/{_run_key(crawl['crawl_id'])}"
        with _timed(durations, "plan"):
            batches = plan_batches(
                root,
                staging,
                source=resolved.name,
                crawl_id=crawl["crawl_id"],
                batch_pages=batch_pages,
                learn_templates=options.use_template,
                extra_crawl_ids=earlier,
            )
        crawl["problems"] = crawl_problems(root, resolved.name, crawl["crawl_id"])
        stats = {
            "crawl_id": crawl["crawl_id"],
            "crawl_ids": [crawl["crawl_id"], *earlier],
            "pages_fetched": crawl["pages_fetched"],
            "status_counts": crawl["status_counts"],
            "bytes_archived": crawl["bytes_archived"],
        }
        snapshots, extraction = _extract_and_commit(
            root,
            staging,
            batches,
            [resolved.name],
            kind="crawl",
            options=options,
            workers=workers,
            stats=stats,
            durations=durations,
            pool=pool,
        )
    finally:
        if pool is not None:
            pool.shutdown()  # idempotent; _extract_and_commit shut it down already
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
    if prefect_runtime.deployment.id:
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
    task_runner=cast("TaskRunner[Any]", ThreadPoolTaskRunner(max_workers=4)),
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
