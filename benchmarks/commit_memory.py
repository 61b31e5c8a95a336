"""Peak memory of a run's snapshot commit: staged files streamed vs one concatenated table.

    .venv/bin/python benchmarks/commit_memory.py [--rows 20000 100000] [--before-rev REV]
    .venv/bin/python benchmarks/commit_memory.py --crawl 2000 8000 20000

The first stages N synthetic articles (~6.5 KB of text, files of 50-300 rows as
extract_batch writes them) in a temp archive and commits them in a child process per mode:
`files` (the staged paths, what commit_task does), `whole-table` (all files concatenated
first, what commit_task did before) and, with `--before-rev`, the whole table through
storage/snapshots.py of that git revision. Peak RSS = the child's ru_maxrss (psutil
sampling every 20 ms as a check); the commit's CPU and wall time. `--parallel 1 2` commits
the staged files once per value of storage.snapshots.PARALLEL_FILES (files per crawl_date
partition encoded at once; default: the module's, one per core up to 4). `--crawl` instead
runs `newsarchive crawl` of N pages on the crawl benchmark's generated site and samples the
CLI process's RSS every 0.1 s (through the crawl, then its peak, which comes with the
commit).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from storage.dedup import content_hash  # noqa: E402
from storage.schemas import EXTRACTED_SCHEMA  # noqa: E402
from storage.urls import url_key  # noqa: E402

SOURCE = "bench"
STAGED_LIST = "staged.json"
#: Modes: `files` = commit_snapshot(paths) (what commit_task does now); `whole-table` =
#: the run's staged files concatenated into one table first (what commit_task did before);
#: `before` = whole-table through storage/snapshots.py of `--before-rev` (the old code).
MODES = ("files", "whole-table", "before")
MB = 1024**2


# -- staging synthetic articles ------------------------------------------------------------
def _vocabulary(rng: np.random.Generator, n: int = 20_000) -> np.ndarray:
    letters = np.array(list("etaoinshrdlucmfwypvbgkqjxz"))
    weights = np.linspace(2.0, 0.2, len(letters))
    weights /= weights.sum()
    lengths = rng.integers(2, 11, n)
    return np.array(["".join(rng.choice(letters, k, p=weights)) for k in lengths], dtype=object)


def _file_table(rng: np.random.Generator, vocab: np.ndarray, first: int, n: int) -> pa.Table:
    """`n` extracted articles numbered from `first`: ~5-6 KB of text each (Zipf-ish words),
    fetched in order over two days, with the fingerprints extraction would supply."""
    ranks = np.minimum(rng.zipf(1.3, size=(n, 1000)), len(vocab)) - 1
    texts = []
    for i in range(n):
        words = vocab[ranks[i, : int(rng.integers(800, 1000))]]
        texts.append(f"Story {first + i}. " + " ".join(words))
    urls = [f"https://bench.test/news/{first + i}/story" for i in range(n)]
    t0 = datetime(2026, 4, 1, 6, tzinfo=UTC)
    fetched = [t0 + timedelta(seconds=1.7 * (first + i)) for i in range(n)]
    cols: dict[str, Any] = {
        "url": urls,
        "canonical_url": urls,
        "url_key": [url_key(u) for u in urls],
        "source": [SOURCE] * n,
        "title": [t[:60] for t in texts],
        "authors": [["A. Writer"]] * n,
        "published_at": [f - timedelta(hours=2) for f in fetched],
        "language": ["en"] * n,
        "sitename": ["Bench"] * n,
        "categories": [["news"]] * n,
        "text": texts,
        "word_count": [t.count(" ") + 1 for t in texts],
        "content_hash": [content_hash(t) for t in texts],
        "simhash": rng.integers(0, 2**63, n, dtype=np.uint64),
        "fetched_at": fetched,
        "extracted_at": fetched,
        "extractor": ["bench/1"] * n,
        "warc_file": [f"warc/source={SOURCE}/c-{(first + i) // 500:05d}.warc.gz" for i in range(n)],
        "warc_offset": [1000 * i for i in range(n)],
        "warc_length": [6000] * n,
        "simhash_ext": [rng.bytes(24) for _ in range(n)],
    }
    return pa.Table.from_pydict(
        {f.name: cols.get(f.name, [None] * n) for f in EXTRACTED_SCHEMA}, schema=EXTRACTED_SCHEMA
    )


def stage(root: Path, rows: int, seed: int = 1) -> tuple[list[str], int]:
    """Write `rows` articles as staged files of 50-300 rows (as extract_batch writes them on
    a local root: uncompressed, no dictionaries or statistics; until the parallel-files
    commit, snappy with the defaults); returns the root-relative paths and total bytes."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    (root / "stage").mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    done, size = 0, 0
    while done < rows:
        n = min(int(rng.integers(50, 301)), rows - done)
        rel = f"stage/articles-{len(paths):05d}.parquet"
        table = _file_table(rng, vocab, done, n)
        # As flows.pipeline._write_staged writes them on a local root.
        pq.write_table(
            table, root / rel, compression="none", use_dictionary=False, write_statistics=False
        )
        size += (root / rel).stat().st_size
        paths.append(rel)
        done += n
    (root / STAGED_LIST).write_text(json.dumps(paths))
    return paths, size


# -- the measured child --------------------------------------------------------------------
def _snapshots_module(rev: str | None) -> ModuleType:
    if rev is None:
        import storage.snapshots

        return storage.snapshots
    code = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:storage/snapshots.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "snapshots_before.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("storage._snapshots_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def child(root: str, mode: str, rev: str | None, parallel: int | None = None) -> None:
    import pyarrow.compute as pc

    snapshots = _snapshots_module(rev if mode == "before" else None)
    if parallel is not None:
        snapshots.PARALLEL_FILES = parallel  # type: ignore[attr-defined]
    paths = json.loads((Path(root) / STAGED_LIST).read_text())
    rss_before = psutil.Process().memory_info().rss
    cpu0, t0 = time.process_time(), time.perf_counter()
    if mode == "files":
        extracted: Any = paths
    else:  # what commit_task did before: every staged file in one table
        extracted = pa.concat_tables([pq.read_table(os.path.join(root, p)) for p in paths])
        extracted = extracted.filter(pc.equal(extracted["source"], SOURCE))
    info = snapshots.commit_snapshot(
        root, SOURCE, extracted, kind="crawl", extractor="bench/1", rejected={}
    )
    out = {
        "cpu_seconds": time.process_time() - cpu0,
        "wall_seconds": time.perf_counter() - t0,
        "rss_before_commit": rss_before,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "new": info.counts["new"],
        "rows": info.rows,
        "files": len(info.files),
        "bytes": info.bytes,
    }
    print(json.dumps(out))


def measure(root: Path, mode: str, rev: str | None, parallel: int | None = None) -> dict[str, Any]:
    """Run one commit in a fresh process (archive emptied first); peak RSS from the child's
    own ru_maxrss and from psutil sampling every 20 ms."""
    for d in ("articles", "snapshots", ".locks", ".staging"):
        shutil.rmtree(root / d, ignore_errors=True)
    cmd = [sys.executable, __file__, "--child", str(root), "--mode", mode]
    if parallel is not None:
        cmd += ["--parallel", str(parallel)]
    if rev:
        cmd += ["--before-rev", rev]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    sampled = 0
    while proc.poll() is None:
        try:
            sampled = max(sampled, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    stdout, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{mode} commit failed (exit {proc.returncode})")
    res = json.loads(stdout.strip().splitlines()[-1])
    res["peak_rss"] = max(res["ru_maxrss"], sampled)
    res["peak_rss_sampled"] = sampled
    return res


def crawl_rss(pages: int) -> dict[str, Any]:
    """`newsarchive crawl` of `pages` generated pages: the CLI process's RSS over time and
    the largest process of the run (crawl child and extraction workers included)."""
    sys.path.insert(0, str(HERE))
    import yaml
    from crawl_throughput import bench_config, child_env, prefect_home, start_server

    server, base = start_server(pages, realistic=True)
    try:
        with tempfile.TemporaryDirectory(prefix="commit-memory-crawl-") as tmp:
            work = Path(tmp)
            config = work / "sources.yaml"
            config.write_text(yaml.safe_dump(bench_config(base, pages)))
            env = child_env()
            env["PREFECT_HOME"] = str(prefect_home(work, fresh=False))
            cmd = [sys.executable, "-m", "flows.cli", "crawl", "--config", str(config)]
            cmd += ["--root", str(work / "archive"), "--quiet"]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
            cli = psutil.Process(proc.pid)
            series: list[tuple[float, int]] = []
            largest = 0
            while proc.poll() is None:
                try:
                    rss = cli.memory_info().rss
                    kids = cli.children(recursive=True)
                except psutil.Error:
                    break
                for kid in kids:
                    with contextlib.suppress(psutil.Error):
                        largest = max(largest, kid.memory_info().rss)
                largest = max(largest, rss)
                series.append((time.perf_counter() - t0, rss))
                time.sleep(0.1)
            if proc.wait():
                raise SystemExit(f"newsarchive crawl failed (exit {proc.returncode})")
    finally:
        server.kill()
    n = len(series)
    # "Through the crawl": from a quarter of the run to its last 10% (imports and Prefect
    # start before, the commit after).
    middle = [rss for _, rss in series[n // 4 : n - n // 10]] or [0]
    return {
        "pages": pages,
        "seconds": round(series[-1][0], 1) if series else 0.0,
        "cli_rss_through_crawl_min": min(middle),
        "cli_rss_through_crawl_max": max(middle),
        "cli_peak_rss": max((rss for _, rss in series), default=0),
        "largest_process_peak_rss": largest,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--whole-table", action="store_true", help="only the one-table path")
    ap.add_argument("--streaming", action="store_true", help="only the staged-files path")
    ap.add_argument(
        "--before-rev",
        default=None,
        help="also commit the whole table with storage/snapshots.py of this git revision",
    )
    ap.add_argument("--tmp", default=None, help="where the temp archives go")
    ap.add_argument(
        "--crawl", type=int, nargs="+", default=None, help="newsarchive crawl of N pages instead"
    )
    ap.add_argument("--out", default=str(HERE / "results" / "commit_memory.json"))
    ap.add_argument(
        "--parallel",
        type=int,
        nargs="+",
        default=None,
        help="commit once per value of storage.snapshots.PARALLEL_FILES",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, default="files", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.mode, args.before_rev, (args.parallel or [None])[0])
        return 0

    if args.crawl:
        crawls = []
        for pages in args.crawl:
            res = crawl_rss(pages)
            crawls.append(res)
            print(
                f"  crawl {pages:,} pages: CLI {res['cli_rss_through_crawl_min'] / MB:.0f}-"
                f"{res['cli_rss_through_crawl_max'] / MB:.0f} MB through the crawl, peak "
                f"{res['cli_peak_rss'] / MB:.0f} MB; largest process "
                f"{res['largest_process_peak_rss'] / MB:.0f} MB ({res['seconds']:.0f}s)",
                flush=True,
            )
        out = Path(args.out).with_name("commit_memory_crawl.json")
        out.write_text(json.dumps({"cpus": os.cpu_count(), "crawls": crawls}, indent=2) + "\n")
        print(f"written to {out}")
        return 0

    modes = ["files", "whole-table"]
    if args.whole_table:
        modes = ["whole-table"]
    elif args.streaming:
        modes = ["files"]
    if args.before_rev:
        modes.append("before")
    runs = []
    for rows in args.rows:
        root = Path(tempfile.mkdtemp(prefix="commit-memory-", dir=args.tmp))
        try:
            t0 = time.perf_counter()
            paths, staged_bytes = stage(root, rows)
            print(
                f"staged {rows:,} articles in {len(paths)} files "
                f"({staged_bytes / MB:.0f} MB) in {time.perf_counter() - t0:.0f}s",
                flush=True,
            )
            for mode in modes:
                for parallel in (args.parallel or [None]) if mode == "files" else [None]:
                    res = measure(root, mode, args.before_rev, parallel)
                    name = mode if parallel is None else f"{mode} p={parallel}"
                    res.update(mode=name, articles=rows, staged_files=len(paths))
                    res["staged_bytes"] = staged_bytes
                    print(
                        f"  {name:<12} peak {res['peak_rss'] / MB:7.0f} MB, "
                        f"cpu {res['cpu_seconds']:.1f}s, wall {res['wall_seconds']:.2f}s",
                        flush=True,
                    )
                    runs.append(res)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    for res in runs:
        if res["new"] != res["articles"]:
            raise SystemExit(f"{res['mode']} committed {res['new']} of {res['articles']}")

    result = {
        "what": "peak RSS of one process committing N staged articles (new archive)",
        "before_rev": args.before_rev,
        "cpus": os.cpu_count(),
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"\n{'articles':>9} {'mode':<12} {'files in':>8} {'peak RSS':>9} {'before commit':>13} "
        f"{'commit CPU':>10} {'wall':>6} {'files out':>9}"
    )
    for res in runs:
        print(
            f"{res['articles']:>9,} {res['mode']:<12} {res['staged_files']:>8} "
            f"{res['peak_rss'] / MB:>7.0f}MB {res['rss_before_commit'] / MB:>11.0f}MB "
            f"{res['cpu_seconds']:>9.1f}s {res['wall_seconds']:>5.2f}s {res['files']:>9}"
        )
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
