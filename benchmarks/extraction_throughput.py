"""Reextract throughput: process-pool extraction vs single-process trafilatura, and memory."""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extraction.batch import extract_pages, make_pool
from extraction.options import ExtractionOptions
from storage.pages import write_pages
from storage.schemas import PAGES_SCHEMA
from storage.urls import url_key
from storage.warc import WarcWriter, read_record

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "extraction-benchmark"
FETCHED = datetime(2020, 1, 1, tzinfo=UTC)
#: The generated pages are dated 2026-MM-10: fetched as on the day these figures were first
#: taken, so that (as in a crawl that day) only the December pages ask htmldate for a date.
FETCHED_GENERATED = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _generated_pages(count: int) -> list[tuple[bytes, str]]:
    """The crawl benchmark's realistic generated articles (tests/fixtures/server.py)."""
    spec = importlib.util.spec_from_file_location(
        "newsarchive_fixture_server", REPO / "tests" / "fixtures" / "server.py"
    )
    assert spec is not None and spec.loader is not None
    server = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = server
    spec.loader.exec_module(server)
    return [
        (server.gen_article_realistic(i), f"http://127.0.0.1:8000{server.gen_article_path(i)}")
        for i in range(count)
    ]


def build_archive(root: str, data: Path, docs: int, corpus: str = "benchmark") -> pa.Table:
    """A WARC of `docs` responses cycling through the benchmark pages (distinct URLs), or
    through 500 of the crawl benchmark's realistic generated pages."""
    fetched = FETCHED_GENERATED if corpus == "realistic" else FETCHED
    if corpus == "realistic":
        sources = _generated_pages(500)
    else:
        truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
        sources = [
            (gzip.decompress((data / "html" / f"{pid}.html.gz").read_bytes()), truth[pid]["url"])
            for pid in sorted(truth)
        ]
    rows: list[dict[str, Any]] = []
    with WarcWriter(root, "bench", "throughput") as writer:
        for i in range(docs):
            html, url = sources[i % len(sources)]
            url = f"{url}{'&' if '?' in url else '?'}copy={i}"
            ctype = "text/html; charset=utf-8"
            ref = writer.write_response(
                url, 200, [("Content-Type", ctype)], html, fetched_at=fetched
            )
            rows.append(
                {
                    "url": url,
                    "final_url": url,
                    "url_key": url_key(url),
                    "source": "bench",
                    "crawl_id": "throughput",
                    "status": 200,
                    "content_type": ctype,
                    "fetched_at": fetched,
                    "warc_file": ref.warc_file,
                    "warc_offset": ref.offset,
                    "warc_length": ref.length,
                }
            )
    return pa.Table.from_pylist(rows, schema=PAGES_SCHEMA)


def single_trafilatura(root: str, pages: pa.Table, *, metadata: bool) -> tuple[float, float]:
    """(docs/s, CPU ms/doc) of plain trafilatura in this process, same WARC records.

    Text only: ``trafilatura.extract(html, url=...)`` with its defaults (issue #4's baseline).
    """
    import trafilatura

    cpu = time.process_time()
    start = time.perf_counter()
    for row in pages.select(["warc_file", "warc_offset", "warc_length", "url"]).to_pylist():
        payload = read_record(
            root, row["warc_file"], row["warc_offset"], row["warc_length"]
        ).payload
        if metadata:
            trafilatura.bare_extraction(
                payload, url=row["url"], include_comments=False, with_metadata=True
            )
        else:
            trafilatura.extract(payload, url=row["url"])
    rate = pages.num_rows / (time.perf_counter() - start)
    return rate, (time.process_time() - cpu) * 1000 / pages.num_rows


class RssSampler:
    """Samples the RSS of this process and its children every `interval` seconds."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (t, parent MiB, workers MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        start = time.perf_counter()
        while not self._stop.wait(self.interval):
            try:
                kids = sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                kids = 0
            self.samples.append(
                (time.perf_counter() - start, me.memory_info().rss / 2**20, kids / 2**20)
            )

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pooled(
    root: str, pages: pa.Table, workers: int, chunk: int, batch_size: int
) -> tuple[float, RssSampler, int, float, float]:
    """(docs/s, sampler, articles, worker CPU ms/doc, parent CPU ms/doc) of extract_pages
    over one reused pool, fed in chunks as reextract streams them. Worker CPU includes
    worker start-up."""
    options = ExtractionOptions()
    articles = 0
    cpu_before = _children_cpu()
    parent_before = time.process_time()
    with RssSampler() as sampler, make_pool(workers) as pool:
        # Start the workers (spawn + imports, ~1-2 s each) before the clock starts: a long
        # reextract pays this once, and it would distort a short run.
        extract_pages(
            root, pages.slice(0, 2 * workers), options, workers=workers, batch_size=1, executor=pool
        )
        start = time.perf_counter()
        for offset in range(0, pages.num_rows, chunk):
            result = extract_pages(
                root,
                pages.slice(offset, chunk),
                options,
                workers=workers,
                batch_size=batch_size,
                executor=pool,
            )
            articles += result.articles.num_rows
        elapsed = time.perf_counter() - start
    cpu_ms = (_children_cpu() - cpu_before) * 1000 / pages.num_rows
    parent_ms = (time.process_time() - parent_before) * 1000 / pages.num_rows
    return pages.num_rows / elapsed, sampler, articles, cpu_ms, parent_ms


def inline(root: str, pages: pa.Table, batch_size: int) -> tuple[float, float]:
    """(docs/s, CPU ms/doc) of the same pipeline extraction in this process (workers=1)."""
    cpu = time.process_time()
    start = time.perf_counter()
    extract_pages(root, pages, ExtractionOptions(), workers=1, batch_size=batch_size)
    rate = pages.num_rows / (time.perf_counter() - start)
    return rate, (time.process_time() - cpu) * 1000 / pages.num_rows


def _memory_profile(sampler: RssSampler) -> dict[str, list[float]]:
    """Worker and parent RSS at each tenth of the run (flat memory = no upward trend)."""
    samples = sampler.samples
    if not samples:
        return {"workers_mib": [], "parent_mib": []}
    picks = [samples[min(len(samples) - 1, (len(samples) * k) // 10)] for k in range(10)]
    picks.append(samples[-1])
    return {
        "workers_mib": [round(s[2], 1) for s in picks],
        "parent_mib": [round(s[1], 1) for s in picks],
    }


def reextract_command(root: str, pages: pa.Table) -> float:
    """Seconds of `newsarchive reextract --source bench` over `pages` (their rows written to the
    archive's pages index first), in a child process with its own Prefect home."""
    write_pages(root, "bench", "throughput", pages)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    with tempfile.TemporaryDirectory(prefix="newsarchive-prefect-") as home:
        env["PREFECT_HOME"] = home
        cmd = [sys.executable, "-m", "flows.cli", "reextract", "--source", "bench"]
        start = time.perf_counter()
        subprocess.run([*cmd, "--root", root, "--quiet"], env=env, check=True, cwd=REPO)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="extraction-benchmark folder")
    parser.add_argument("--docs", type=int, default=20_000, help="documents in the long run")
    parser.add_argument("--baseline-docs", type=int, default=1_000, help="single-process runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    # Defaults as in the reextract flow: flows.pipeline.DEFAULT_BATCH_PAGES pages per
    # extract_pages call, POOL_BATCH_PAGES pages per pool task.
    parser.add_argument("--chunk", type=int, default=2_000, help="pages per extract_pages call")
    parser.add_argument("--batch-size", type=int, default=50, help="pages per pool task")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument(
        "--corpus",
        choices=("benchmark", "realistic"),
        default="benchmark",
        help="documents: the 181 benchmark pages, or the crawl benchmark's generated pages",
    )
    parser.add_argument(
        "--command",
        action="store_true",
        help="also time `newsarchive reextract` itself on the long run (Prefect start, pages "
        "index, extraction, dedup and the snapshot commit included)",
    )
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "ground-truth.json").exists():
        print(f"no benchmark data at {data}; pass --data", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="newsarchive-throughput-") as root:
        t0 = time.perf_counter()
        pages = build_archive(root, data, max(args.docs, args.baseline_docs), args.corpus)
        print(f"built WARC with {pages.num_rows} records in {time.perf_counter() - t0:.1f}s")
        base = pages.slice(0, args.baseline_docs)
        load_start = os.getloadavg()
        traf_text, traf_text_cpu = single_trafilatura(root, base, metadata=False)
        print(f"single-process trafilatura.extract (text only):    {traf_text:7.1f} docs/s")
        traf_meta, traf_meta_cpu = single_trafilatura(root, base, metadata=True)
        print(f"single-process trafilatura + metadata:             {traf_meta:7.1f} docs/s")
        pipe_one, pipe_one_cpu = inline(root, base, args.batch_size)
        print(f"single-process newsarchive extraction (workers=1): {pipe_one:7.1f} docs/s")
        long_run = pages.slice(0, args.docs)
        pool_rate, sampler, articles, pool_cpu, parent_cpu = pooled(
            root, long_run, args.workers, args.chunk, args.batch_size
        )
        load_end = os.getloadavg()
        print(
            f"process pool newsarchive extraction (workers={args.workers}): "
            f"{pool_rate:7.1f} docs/s over {long_run.num_rows} docs ({articles} articles)"
        )
        memory = _memory_profile(sampler)
        print(f"  vs trafilatura text-only single process:  {pool_rate / traf_text:.2f}x")
        print(f"  vs trafilatura + metadata single process: {pool_rate / traf_meta:.2f}x")
        print(f"  vs newsarchive extraction single process: {pool_rate / pipe_one:.2f}x")
        print(
            f"  CPU ms/doc: trafilatura text {traf_text_cpu:.1f}, trafilatura+metadata "
            f"{traf_meta_cpu:.1f}, newsarchive single {pipe_one_cpu:.1f}, "
            f"pool workers {pool_cpu:.1f} (+ parent {parent_cpu:.1f})"
        )
        print(f"  worker RSS (MiB) by tenth of the run: {memory['workers_mib']}")
        print(f"  parent RSS (MiB) by tenth of the run: {memory['parent_mib']}")
        print(f"  load average at start / end: {load_start[0]:.2f} / {load_end[0]:.2f}")
        report = {
            "corpus": args.corpus,
            "docs": long_run.num_rows,
            "baseline_docs": base.num_rows,
            "workers": args.workers,
            "cpu_count": os.cpu_count(),
            "load_average_start_end": [round(load_start[0], 2), round(load_end[0], 2)],
            "trafilatura_text_docs_per_s": round(traf_text, 1),
            "trafilatura_metadata_docs_per_s": round(traf_meta, 1),
            "pipeline_single_docs_per_s": round(pipe_one, 1),
            "pipeline_pool_docs_per_s": round(pool_rate, 1),
            "speedup_vs_trafilatura_text": round(pool_rate / traf_text, 2),
            "speedup_vs_trafilatura_metadata": round(pool_rate / traf_meta, 2),
            "speedup_vs_pipeline_single": round(pool_rate / pipe_one, 2),
            "cpu_ms_per_doc": {
                "trafilatura_text": round(traf_text_cpu, 1),
                "trafilatura_metadata": round(traf_meta_cpu, 1),
                "pipeline_single": round(pipe_one_cpu, 1),
                "pipeline_pool_workers": round(pool_cpu, 1),
                "pipeline_pool_parent": round(parent_cpu, 2),
            },
            "memory": memory,
        }
        if args.command:
            seconds = reextract_command(root, long_run)
            rate = long_run.num_rows / seconds
            print(
                f"`newsarchive reextract` command: {rate:7.1f} docs/s ({seconds:.1f} s for "
                f"{long_run.num_rows} docs, everything included), "
                f"{rate / traf_text:.2f}x trafilatura text-only single process"
            )
            report["reextract_command"] = {
                "seconds": round(seconds, 1),
                "docs_per_s": round(rate, 1),
                "speedup_vs_trafilatura_text": round(rate / traf_text, 2),
            }
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
