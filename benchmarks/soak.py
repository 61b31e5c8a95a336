"""Soak: a long crawl of a local site with injected faults; throughput, RSS, fds, nothing lost.

Serves `--pages` generated articles (default 50,000) from tests/fixtures/server.py on
127.0.0.1 with faults injected on first attempts (`--fault-5xx` 5% answered 503,
`--fault-reset` 1% connection resets) and `--slow-rate` 2% slow answers, then runs one
crawl of it (the crawl process of crawlers.runner: fetch + WARC + pages), sampling the crawl
process every `--every` seconds: pages served so far, RSS, open file descriptors. At the
end it checks, from the pages index, that every served article is stored exactly once
(one status-200 row per article URL) and that every row's WARC record reads back.
Bounded by `--max-seconds` (the crawl is killed, and the run reported as failed, past it).
Not part of `make test`.

    .venv/bin/python benchmarks/soak.py [--pages 50000] [--max-seconds 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from crawlers.config import parse_config  # noqa: E402 - after sys.path
from crawlers.runner import child_command, child_env, crawl_job, new_crawl_id  # noqa: E402
from storage.pages import read_pages  # noqa: E402
from storage.warc import read_record  # noqa: E402

SERVER = PROJECT / "tests" / "fixtures" / "server.py"
RESULTS = HERE / "results"


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(SERVER), "--generate", str(args.pages)]
    cmd += ["--fault-5xx", str(args.fault_5xx), "--fault-reset", str(args.fault_reset)]
    cmd += ["--slow-rate", str(args.slow_rate), "--slow-seconds", str(args.slow_seconds)]
    if args.realistic:
        cmd.append("--realistic")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def served(base: str) -> int:
    with urllib.request.urlopen(base + "/__count__", timeout=10) as resp:
        return int(resp.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=50_000)
    parser.add_argument("--fault-5xx", type=float, default=0.05)
    parser.add_argument("--fault-reset", type=float, default=0.01)
    parser.add_argument("--slow-rate", type=float, default=0.02)
    parser.add_argument("--slow-seconds", type=float, default=0.5)
    parser.add_argument("--realistic", action="store_true", help="~45 KB pages (more disk)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--out", default=str(RESULTS / "soak.json"))
    args = parser.parse_args(argv)
    server, base = start_server(args)
    samples: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as root:
            body = {
                "sitemaps": [f"{base}/gen/sitemap.xml"],
                "allowed_domains": ["127.0.0.1"],
                "allow_private_addresses": ["127.0.0.1"],
                "article_url_patterns": ["/gen/2026/"],
                "max_depth": 0,
                "max_pages": args.pages + 10,
                "autothrottle": False,
                "obey_robots": False,
                "concurrency_per_domain": args.concurrency,
                "download_timeout": 10,
                "retry_times": 2,
                "retry_backoff": 0.2,
            }
            source = parse_config({"sources": {"soak": body}}, "<soak>").source("soak")
            result_path = str(Path(root) / "result.json")
            job = crawl_job(source, root, crawl_id=new_crawl_id(), result_path=result_path)
            start = time.monotonic()
            proc = subprocess.Popen(
                child_command(), stdin=subprocess.PIPE, env=child_env(), text=True
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job))
            proc.stdin.close()
            ps = psutil.Process(proc.pid)
            timed_out = False
            while proc.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed > args.max_seconds:
                    proc.kill()
                    timed_out = True
                    break
                try:
                    sample = {
                        "t": round(elapsed, 1),
                        "served": served(base),
                        "rss_mb": round(ps.memory_info().rss / 2**20, 1),
                        "fds": ps.num_fds(),
                    }
                except psutil.Error:
                    break
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                time.sleep(args.every)
            proc.wait()
            seconds = time.monotonic() - start
            check = verify(root, base, args.pages) if not timed_out else {}
            result = json.loads(Path(result_path).read_text()) if not timed_out else {}
    finally:
        server.kill()
        server.wait()
    rss = [s["rss_mb"] for s in samples]
    quarter = max(1, len(rss) // 4)
    report = {
        "benchmark": "soak",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "pages": args.pages,
        "faults": {"5xx": args.fault_5xx, "reset": args.fault_reset, "slow": args.slow_rate},
        "timed_out": timed_out,
        "exit_code": proc.returncode,
        "seconds": round(seconds, 1),
        "articles_per_s": round(args.pages / seconds, 1),
        "rss_mb": {
            "max": max(rss, default=None),
            "median_2nd_quarter": statistics.median(rss[quarter : 2 * quarter] or rss or [0]),
            "median_last_quarter": statistics.median(rss[-quarter:] or [0]),
        },
        "fds": {
            "max": max((s["fds"] for s in samples), default=None),
            "last": samples[-1]["fds"] if samples else None,
        },
        "crawl": {k: result.get(k) for k in ("finish_reason", "status_counts", "fetch_errors")},
        "check": check,
        "samples": samples,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    ok = not timed_out and proc.returncode == 0 and check.get("every_article_once")
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


def verify(root: str, base: str, pages: int) -> dict[str, Any]:
    """Every generated article has exactly one status-200 row; every record reads back."""
    table = read_pages(root, "soak")
    rows = table.to_pylist()
    ok = Counter(r["url"] for r in rows if r["status"] == 200 and "/gen/2026/" in r["url"])
    unreadable = 0
    for row in rows:
        if row["warc_file"] is None:
            continue
        try:
            read_record(
                root, row["warc_file"], row["warc_offset"], row["warc_length"], max_payload=0
            )
        except Exception:  # counted, reported
            unreadable += 1
    return {
        "rows": len(rows),
        "articles_200": len(ok),
        "articles_expected": pages,
        "articles_stored_twice": sum(1 for n in ok.values() if n > 1),
        "failed_fetch_rows": sum(1 for r in rows if r["status"] is None),
        "status_503_rows": sum(1 for r in rows if r["status"] == 503),
        "unreadable_records": unreadable,
        "every_article_once": len(ok) == pages and set(ok.values()) == {1} and not unreadable,
        "base": base,
    }


if __name__ == "__main__":
    raise SystemExit(main())
