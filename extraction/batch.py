"""Extract many archived pages in a process pool; workers read their own WARC records."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from extraction.options import ExtractionOptions, extractor_id
from extraction.template import TemplateModel
from storage.schemas import EXTRACTED_SCHEMA

if TYPE_CHECKING:
    from extraction.extract import Article

logger = logging.getLogger(__name__)

_HTML_MIMES = frozenset({"text/html", "application/xhtml+xml"})
#: A pool owned by extract_pages is replaced after this many batches per worker, which
#: keeps worker memory flat over long runs. (Not `max_tasks_per_child`: on Python 3.11 a
#: ProcessPoolExecutor using it hangs once a worker retires - measured here.)
_BATCHES_PER_WORKER = 25
_PAGE_COLUMNS = (
    "url",
    "final_url",
    "source",
    "status",
    "content_type",
    "fetched_at",
    "warc_file",
    "warc_offset",
    "warc_length",
    "published_hint",
    "title_hint",
)


class WarcRootError(Exception):
    """The archive root of a batch cannot be opened (reported once per page)."""


@dataclass
class ExtractionResult:
    """Articles as an EXTRACTED_SCHEMA table, rejection counts by reason, per-batch errors."""

    articles: pa.Table
    rejected: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    root: str
    options: ExtractionOptions
    extractor: str
    extracted_at: datetime
    pages: list[dict[str, Any]]
    templates: dict[str, str]  # source -> TemplateModel JSON (small, picklable)


#: What a batch gives back: its article rows, rejection counts, errors. Plain Python
#: objects: a worker that converted them to Arrow would import pandas (pyarrow does, on its
#: first conversion from Python objects), and with pandas loaded the workers extracted
#: ~4% slower per page (measured: 37.6 -> 39.1 s CPU per 5,000 pages).
_BatchResult = tuple[list[dict[str, Any]], dict[str, int], list[str]]


def _is_html(content_type: str | None) -> bool:
    if not content_type:
        return True  # unknown: let the byte sniffing in extract_article decide
    return content_type.split(";", 1)[0].strip().lower() in _HTML_MIMES


def _row(article: Article, page: dict[str, Any], extractor: str, extracted_at: datetime) -> dict:
    return {
        "url": article.url,
        "canonical_url": article.canonical_url,
        "url_key": article.url_key,
        "source": article.source,
        "title": article.title,
        "authors": article.authors,
        "published_at": article.published_at,
        "modified_at": article.modified_at,
        "language": article.language,
        "sitename": article.sitename,
        "description": article.description,
        "categories": article.categories,
        "tags": article.tags,
        "image": article.image,
        "text": article.text,
        "word_count": article.word_count,
        "content_hash": article.content_hash,
        "simhash": article.simhash,
        "simhash_ext": article.simhash_ext,  # computed here, in the pool, not at commit
        "fetched_at": article.fetched_at,
        "extracted_at": extracted_at,
        "extractor": extractor,
        "warc_file": page["warc_file"],
        "warc_offset": page["warc_offset"],
        "warc_length": page["warc_length"],
    }


def run_batch(batch: _Batch) -> _BatchResult:
    """Worker entry point: read each record from the WARC, extract it, return plain rows."""
    # Imported here, not with this module: the parent (the CLI) only makes the pool and
    # collects rows, and trafilatura & co. cost it ~0.2 s of CPU (workers: `_warm_up`).
    from extraction.extract import Article, extract_article
    from storage.warc import RecordReader  # storage is imported in the worker, not the parent

    templates = {s: TemplateModel.from_json(j) for s, j in batch.templates.items()}
    rows: list[dict[str, Any]] = []
    rejected: Counter[str] = Counter()
    errors: list[str] = []
    reader: RecordReader | None = None
    root_error: Exception | None = None
    try:
        reader = RecordReader(batch.root)  # one open input per WARC file for the batch
    except Exception as exc:  # a bad root: every page says so, as each read did
        root_error = exc
    try:
        for page in batch.pages:
            try:
                if reader is None:
                    raise WarcRootError(str(root_error))
                record = reader.read(
                    page["warc_file"],
                    page["warc_offset"],
                    page["warc_length"],
                    max_payload=batch.options.max_html_bytes + 1,
                )
            except Exception as exc:  # one unreadable record must not lose the batch
                errors.append(f"{page['url']}: cannot read WARC record: {exc}"[:300])
                continue
            if record.truncated:
                rejected["too_large"] += 1
                continue
            hints = {k: page[k] for k in ("published_hint", "title_hint") if page.get(k)}
            result = extract_article(
                record.payload,
                page.get("final_url") or page["url"],
                fetched_at=page["fetched_at"],
                source=page["source"],
                content_type=page.get("content_type"),
                options=batch.options,
                hints=hints,
                template=templates.get(page["source"]),
            )
            if isinstance(result, Article):
                rows.append(_row(result, page, batch.extractor, batch.extracted_at))
            else:
                rejected[result.reason] += 1
    finally:
        if reader is not None:
            reader.close()
    return rows, dict(rejected), errors


def _html_pages(pages: pa.Table, rejected: Counter[str]) -> pa.Table:
    """The rows to extract, in order: status 200 with a WARC record, and an HTML (or
    unknown) content type; the others with a WARC record are counted as 'not_html'."""
    import pyarrow.compute as pc  # the parent's only: not imported by the pool's workers

    pages = pages.select([c for c in _PAGE_COLUMNS if c in pages.column_names])
    if "status" not in pages.column_names or "warc_file" not in pages.column_names:
        return pages.slice(0, 0)
    fetched = pc.and_(pc.equal(pages["status"], 200), pc.not_equal(pages["warc_file"], ""))
    pages = pages.filter(pc.fill_null(fetched, False))
    if "content_type" not in pages.column_names or not pages.num_rows:
        return pages
    types = pages["content_type"]
    html = [t for t in pc.unique(types).to_pylist() if t is not None and _is_html(t)]
    is_html = pc.or_kleene(pc.is_null(types), pc.is_in(types, pa.array(html, types.type)))
    not_html = pages.num_rows - pc.sum(pc.cast(is_html, pa.int64())).as_py()
    if not_html:
        rejected["not_html"] += not_html
    return pages.filter(is_html)


def _batches(pages: pa.Table, size: int, workers: int = 1) -> Iterator[pa.Table]:
    """Batches of `size` pages; with several workers the last `workers * size` pages go in
    quarter-size batches, so that the workers run out of work at nearly the same time
    instead of one idling through the other's last full batch."""
    tail = workers * size if workers > 1 and size >= 4 else 0
    split = max(0, pages.num_rows - tail)
    split -= split % size
    for start in range(0, split, size):
        yield pages.slice(start, size)
    small = max(1, size // 4)
    for start in range(split, pages.num_rows, small):
        yield pages.slice(start, small)


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn-context process pool for extract_pages(executor=...).

    Spawn (not fork): the caller may be a Prefect worker with threads, and forking a
    threaded process can deadlock the child. A caller that reuses one pool for a very long
    run should replace it now and then (extract_pages does so for the pools it owns).
    """
    return ProcessPoolExecutor(max(1, workers), mp_context=get_context("spawn"))


def _warm_up() -> None:
    """Worker warm-up: the imports run_batch makes on first use (extraction, trafilatura,
    storage.warc).

    Not the language model: py3langid loads it on first use, ~0.45 s of CPU per worker
    (measured here) that a run whose pages all declare their language never needs.
    """
    from extraction import extract  # noqa: F401
    from storage import warc  # noqa: F401


def warm_pool(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start the pool's workers now (spawn, imports) without waiting, so that a caller can
    pay their startup while it does other work (e.g. the crawl). The language model loads
    in a worker when a page first needs it."""
    for _ in range(max(1, workers)):
        pool.submit(_warm_up)


def _run_pooled(
    pool: Executor,
    batches: list[_Batch],
    collect: Callable[[_BatchResult], None],
    errors: list[str],
    first: int = 0,
) -> None:
    futures: list[Future[Any]] = [pool.submit(run_batch, b) for b in batches]
    retry: list[int] = []
    for i, future in enumerate(futures, start=first):
        try:
            collect(future.result())
        except BrokenProcessPool:
            retry.append(i)
        except Exception as exc:  # a bug in one batch is reported, the rest continue
            logger.exception("extraction batch %d failed", i)
            errors.append(f"batch {i}: {type(exc).__name__}: {exc}"[:300])
    # A worker that dies (e.g. a crash inside lxml) breaks the whole pool: rerun each
    # unfinished batch alone in a fresh one-worker pool so one bad page loses one batch.
    for i in retry:
        with make_pool(1) as fresh:
            try:
                collect(fresh.submit(run_batch, batches[i - first]).result())
            except Exception as exc:
                logger.error("extraction batch %d failed twice: %s", i, exc)
                errors.append(f"batch {i}: worker process died: {exc}"[:300])


def extract_pages(
    root: str,
    pages: pa.Table,
    options: ExtractionOptions,
    *,
    workers: int | None = None,
    batch_size: int = 200,
    templates: Mapping[str, TemplateModel] | None = None,
    extracted_at: datetime | None = None,
    executor: Executor | None = None,
) -> ExtractionResult:
    """Extract every fetched HTML page of a PAGES_SCHEMA table into EXTRACTED_SCHEMA rows.

    Pages without a 200 response or a WARC record are skipped; non-HTML pages count as
    'not_html'. ``workers=1`` runs inline; otherwise a spawn-context process pool, each
    worker reading its own records by offset (HTML never passes through this process).
    Pass ``executor`` (e.g. from `make_pool`) to reuse one pool over many calls.
    """
    extracted_at = extracted_at or datetime.now(UTC)
    rejected: Counter[str] = Counter()
    todo = _html_pages(pages, rejected)
    model_json = {s: m.to_json() for s, m in (templates or {}).items() if m.keys}
    extractor = extractor_id(options)
    wanted = max(1, workers if workers is not None else (os.cpu_count() or 1))
    batches = [
        _Batch(root, options, extractor, extracted_at, chunk.to_pylist(), model_json)
        for chunk in _batches(todo, max(1, batch_size), wanted)
    ]
    rows: list[dict[str, Any]] = []
    errors: list[str] = []

    def collect(result: _BatchResult) -> None:
        rows.extend(result[0])
        rejected.update(result[1])
        errors.extend(result[2])

    n_workers = max(1, min(wanted, len(batches) or 1))
    if executor is None and n_workers == 1:
        for batch in batches:
            collect(run_batch(batch))
    elif executor is not None:
        _run_pooled(executor, batches, collect, errors)
    else:
        generation = _BATCHES_PER_WORKER * n_workers
        for start in range(0, len(batches), generation):
            with make_pool(n_workers) as pool:
                _run_pooled(pool, batches[start : start + generation], collect, errors, start)
    table = pa.Table.from_pylist(rows, schema=EXTRACTED_SCHEMA)
    logger.info(
        "extracted %d articles from %d pages (%s rejected, %d errors)",
        table.num_rows,
        todo.num_rows,
        dict(rejected),
        len(errors),
    )
    return ExtractionResult(articles=table, rejected=dict(rejected), errors=errors)


def learn_templates(
    root: str, pages: pa.Table, *, sample: int = 40, min_pages: int = 4
) -> dict[str, TemplateModel]:
    """Learn one TemplateModel per source from an evenly spaced sample of its HTML pages.

    Deterministic: pages are ordered by url_key before sampling, so the same archive gives
    the same models. Sources with fewer than ``min_pages`` readable pages get none.
    """
    from extraction.template import learn_template
    from storage.warc import read_record

    columns = ["url_key", "source", "status", "content_type", "warc_file", "warc_offset"]
    columns.append("warc_length")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for page in pages.select([c for c in columns if c in pages.column_names]).to_pylist():
        if (
            page.get("status") == 200
            and page.get("warc_file")
            and _is_html(page.get("content_type"))
        ):
            by_source.setdefault(page["source"], []).append(page)
    models: dict[str, TemplateModel] = {}
    for source, items in sorted(by_source.items()):
        items.sort(key=lambda p: (p.get("url_key") or "", p["warc_file"], p["warc_offset"]))
        step = max(1, len(items) // max(1, sample))
        chosen = items[::step][:sample]

        def bodies(chosen: list[dict[str, Any]] = chosen) -> Iterator[bytes]:
            for p in chosen:
                try:
                    yield read_record(
                        root, p["warc_file"], p["warc_offset"], p["warc_length"]
                    ).payload
                except Exception as exc:  # a missing record only shrinks the sample
                    logger.warning("template sample: cannot read %s: %s", p["warc_file"], exc)

        model = learn_template(bodies(), min_pages=min_pages)
        if model.keys:
            models[source] = model
    return models
