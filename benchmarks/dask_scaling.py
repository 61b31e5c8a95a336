"""Reextract on a Dask cluster: extraction throughput with 1 and 2 worker processes (the
scaling ratio) and the fixed cost of one extraction batch (task) on the cluster.

Usage: .venv/bin/python benchmarks/dask_scaling.py [--pages 3000] [--batch 250]

The corpus: the bundled demo site crawled once (real Scrapy crawl into a temp archive), its
HTML responses replicated under new URLs into new WARC records and pages rows until about
`--pages` pages are stored. Every measured run reextracts a fresh copy of that archive
(no snapshot yet) through the real `reextract` flow with prefect-dask's DaskTaskRunner on a
`distributed.LocalCluster` (processes, 1 thread each), against a private Prefect server.
The extract stage's wall time comes from the snapshot manifest (`stats.durations.extract`).
Per-batch overhead: the same pages on 1 worker in batches of `--small-batch` pages versus
`--batch` pages; the extra time divided by the extra batches (a whole Prefect task: state
updates, reading the batch and template files, writing the result).
Control: 8 pure-Python CPU tasks on the same clusters give the parallelism the machine
really offered (`cpu_control_ratio_2_vs_1`, 2.0 on two idle cores); `scaling_efficiency`
is the pipeline's ratio divided by it. The corpus replicates ~45 distinct pages, so
absolute pages/s are optimistic; the ratios are what this measures.
Prints JSON and writes it to benchmarks/results/dask_scaling.json. Nothing else is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT_DIR))
RESULTS = ROOT_DIR / "benchmarks" / "results" / "dask_scaling.json"


def build_corpus(work: Path, pages_wanted: int) -> tuple[Path, int]:
    """Crawl the demo site once, then replicate its HTML pages to about `pages_wanted`."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import yaml

    from crawlers.config import load_config
    from crawlers.runner import new_crawl_id, run_crawl
    from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site
    from storage.pages import read_pages, write_pages
    from storage.urls import url_key
    from storage.warc import WarcWriter, read_record

    root = work / "corpus"
    base_url, stop = serve_demo_site(0)
    try:
        (work / "sources.yaml").write_text(yaml.safe_dump(demo_config(base_url)))
        run_crawl(load_config(str(work / "sources.yaml")).source(DEMO_SOURCE), str(root))
    finally:
        stop()
    pages = read_pages(str(root))
    html = pc.and_(pc.equal(pages["status"], 200), pc.is_valid(pages["warc_file"]))
    html = pc.and_(html, pc.match_substring(pc.fill_null(pages["content_type"], ""), "html"))
    originals = pages.filter(html).to_pylist()
    copies = max(0, pages_wanted // len(originals) - 1)
    crawl_id = new_crawl_id()
    rows: list[dict[str, Any]] = []
    bodies = [read_record(str(root), r["warc_file"], r["warc_offset"], r["warc_length"])
              for r in originals]  # fmt: skip
    with WarcWriter(str(root), DEMO_SOURCE, crawl_id) as writer:
        for i in range(1, copies + 1):
            for row, rec in zip(originals, bodies, strict=True):
                parts = urlsplit(row["url"])
                stem = parts.path.rstrip("/") or "/home"
                path = f"{stem}-c{i}" + ("/" if parts.path.endswith("/") else "")
                url = urlunsplit(parts._replace(path=path))
                ref = writer.write_response(
                    url, 200, rec.http_headers, rec.payload, body_is_decoded=True
                )
                rows.append(
                    dict(
                        row,
                        url=url,
                        final_url=url,
                        url_key=url_key(url),
                        crawl_id=crawl_id,
                        warc_file=ref.warc_file,
                        warc_offset=ref.offset,
                        warc_length=ref.length,
                    )
                )
    if rows:
        from storage.schemas import PAGES_SCHEMA

        write_pages(str(root), DEMO_SOURCE, crawl_id, pa.Table.from_pylist(rows, PAGES_SCHEMA))
    return root, len(originals) * (copies + 1)


def run_reextract(
    corpus: Path, work: Path, label: str, *, address: str | None, batch: int, workers: int | None
) -> dict[str, Any]:
    from prefect_dask import DaskTaskRunner

    from flows.pipeline import reextract
    from storage.snapshots import list_snapshots

    root = work / label
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(corpus, root)
    flow = reextract
    if address:
        flow = reextract.with_options(task_runner=DaskTaskRunner(address=address))  # type: ignore[arg-type]
    t = time.perf_counter()
    (snap,) = flow(str(root), batch_pages=batch, workers=workers)
    total = time.perf_counter() - t
    (manifest,) = [s for s in list_snapshots(str(root)) if s.snapshot_id == snap["snapshot_id"]]
    durations = manifest.stats["durations"]
    pages = int(manifest.stats["pages_selected"])  # also non-HTML 200s (feeds): rejected
    shutil.rmtree(root, ignore_errors=True)
    extract = float(durations["extract"])
    return {
        "pages": pages,
        "batches": -(-pages // batch),
        "extract_s": round(extract, 2),
        "pages_per_s": round(pages / extract, 1),
        "flow_total_s": round(total, 2),
        "articles": snap["new"] + snap["unchanged"] + snap["duplicates_same_source"],
    }


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def cpu_control(client: Any) -> float:
    """Seconds for 8 pure-Python CPU tasks on the cluster: how much parallelism the
    machine really gives right now (other processes share the cores)."""
    client.gather(client.map(_burn, [10_000] * 4, pure=False))
    t = time.perf_counter()
    client.gather(client.map(_burn, [5_000_000] * 8, pure=False))
    return time.perf_counter() - t


def _warm_up() -> None:
    """Import the extraction stack in a Dask worker (a cold worker spends seconds on it)."""
    import trafilatura

    import extraction.batch
    import flows.pipeline

    trafilatura.extract("<html><body><article><p>warm up</p></article></body></html>")
    del extraction.batch, flows.pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=3000, help="corpus size (pages)")
    parser.add_argument("--batch", type=int, default=250, help="pages per batch (task)")
    parser.add_argument("--small-batch", type=int, default=25, help="for the overhead run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsarchive-bench-dask-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect-home")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from flows.server import LocalPrefectServer

    server = LocalPrefectServer(services=False)
    try:
        # Set before prefect is imported and before Dask workers start: they inherit it.
        os.environ["PREFECT_API_URL"] = server.start()
        from distributed import Client, LocalCluster
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        # As in the CLI: no heartbeat thread (its 1 s sleeps would delay every run's end).
        quiet = temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        quiet.__enter__()

        t = time.perf_counter()
        corpus, n_pages = build_corpus(work, args.pages)
        results: dict[str, Any] = {
            "cpus": os.cpu_count(),
            "corpus_pages": n_pages,
            "corpus_build_s": round(time.perf_counter() - t, 1),
            "batch_pages": args.batch,
            "note": "2-core machine shared with other work: treat as indicative",
        }
        runs: dict[str, Any] = {}
        control: dict[int, float] = {}
        runs["local_pool_2"] = run_reextract(
            corpus, work, "local", address=None, batch=args.batch, workers=2
        )
        for n in (1, 2):
            with LocalCluster(
                n_workers=n, processes=True, threads_per_worker=1, dashboard_address=None
            ) as cluster:
                addr = str(cluster.scheduler_address)
                with Client(addr) as client:  # steady state: imports done in every worker
                    client.run(_warm_up)
                    control[n] = cpu_control(client)
                runs[f"dask_{n}_workers"] = run_reextract(
                    corpus, work, f"dask{n}", address=addr, batch=args.batch, workers=1
                )
                if n == 1:
                    runs["dask_1_worker_small_batches"] = run_reextract(
                        corpus, work, "dask1s", address=addr, batch=args.small_batch, workers=1
                    )
        results["runs"] = runs
        one, two = runs["dask_1_workers"], runs["dask_2_workers"]
        small = runs["dask_1_worker_small_batches"]
        results["scaling_ratio_2_vs_1"] = round(two["pages_per_s"] / one["pages_per_s"], 2)
        # The same ratio for pure CPU work: the parallelism the machine gave at that time.
        results["cpu_control_ratio_2_vs_1"] = round(control[1] / control[2], 2)
        results["scaling_efficiency"] = round(
            results["scaling_ratio_2_vs_1"] / results["cpu_control_ratio_2_vs_1"], 2
        )
        extra_batches = small["batches"] - one["batches"]
        results["per_batch_overhead_ms"] = round(
            1000 * (small["extract_s"] - one["extract_s"]) / max(1, extra_batches), 1
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
