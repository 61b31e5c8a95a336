"""Crawl throughput: bare Scrapy (fetch and discard) vs run_crawl (fetch + WARC + pages) vs naive.

Serves a generated site (`--pages`, default 5000 articles listed in one sitemap) from
tests/fixtures/server.py in its own process on 127.0.0.1, then measures, each in a fresh
child process, over `--runs` runs (median reported):

  bare   a plain Scrapy spider that fetches every article and discards it (the ceiling)
  crawl  crawlers.runner's crawl process: fetch + WARC + pages rows (the crawl stage alone)
  naive  a Scrapy spider running trafilatura inside its callback (the design we avoid)
  inline like crawl, but WARC records written on the reactor thread (what the thread buys)

  e2e    `newsarchive crawl` in a subprocess (the crawl_source flow, its Prefect server
         start included): fetch + WARC + extract + snapshot, the articles counted afterwards.
         Each run also gets a CPU breakdown by role (cli, prefect-server, crawl,
         extract-workers, other): CPU seconds and when each role was first/last seen
         (seconds from the start), from polling the process tree with psutil.
         The Prefect home (its SQLite database) is created and migrated once, before the
         timed runs, and shared by them, as a user's ~/.prefect is after the first run;
         `--fresh-prefect-home` gives each run a new one (the first run ever: the server
         then also runs all of Prefect's database migrations, ~5-6 s CPU).
  e2e-server  the same against a Prefect server with its services, started before the
         runs and left running, as a deployment's is (schedules need one): PREFECT_API_URL
         names it, and its CPU during each run is counted in the run's CPU seconds.

The generated articles are realistic news pages (~64 KB, ~1,450 elements: unique text in
a heavy template with mega-menu, related, most-read, comments, footer, inline script and
style) unless `--small-pages`, so that trafilatura costs what it costs on real pages.
Peak RSS is sampled with psutil: of the largest single process, and of the whole process
tree (CLI + crawl child + extraction workers). CPU ms/page is the user+system time of the
measured child and everything it waited for, per fetch: unlike pages/s it hardly depends
on what else the machine is doing. "site ms/pg" is the CPU the fixture server itself spent
per fetch during the run: it shares the 2 cores with the measured process (a real news
site's server does not), which costs the modes that keep both cores busy (e2e) and hardly
the single-process ones (bare, naive). So the site renders every article before the runs
(not timed) and serves bytes from memory, ~0.2 ms of CPU per fetch, as a site answering
from its cache would; `--render-per-request` renders each page when it is fetched instead
(~1.2 ms per fetch: how sessions 1-4 measured). Prints a table; writes JSON to
benchmarks/results/crawl_throughput.json.

    .venv/bin/python benchmarks/crawl_throughput.py [--pages 5000] [--runs 3] [--modes bare,crawl]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from crawlers.config import ResolvedSource, parse_config  # noqa: E402 - after sys.path
from crawlers.runner import child_command, child_env, crawl_job, new_crawl_id  # noqa: E402

SERVER = PROJECT / "tests" / "fixtures" / "server.py"
RESULTS = HERE / "results"
CONCURRENCY = 16


def bench_config(base: str, pages: int) -> dict[str, Any]:
    """The sources file of the benchmark: one source, the generated site's sitemap."""
    return {
        "sources": {
            "bench": {
                "sitemaps": [f"{base}/gen/sitemap.xml"],
                "allowed_domains": ["127.0.0.1"],
                "article_url_patterns": ["/gen/2026/"],
                "max_depth": 1,
                "follow_links": False,
                "max_pages": pages + 10,
                "allow_private_addresses": ["127.0.0.1"],
                "autothrottle": False,
                "concurrency_per_domain": CONCURRENCY,
                "obey_robots": False,
            }
        }
    }


def bench_source(base: str, pages: int) -> ResolvedSource:
    return parse_config(bench_config(base, pages), "<benchmark>").source("bench")


def prefect_home(workdir: Path, *, fresh: bool) -> Path:
    """The Prefect home of an e2e run: a new one per run (`fresh`), else one shared by the
    runs, its database created and migrated before the first (not timed)."""
    if fresh:
        return Path(tempfile.mkdtemp(prefix="prefect-", dir=workdir))
    home = workdir / "prefect"
    if not (home / "prefect.db").exists():
        env = dict(child_env(), PREFECT_HOME=str(home))
        code = (
            "from flows.server import LocalPrefectServer as S; s = S(services=False); "
            "s.start(); s.stop()"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=PROJECT)
    return home


class RunningServer:
    """A Prefect server with its services, started before the timed runs and left running,
    as a deployment's is (`newsarchive serve` needs one for schedules to fire)."""

    def __init__(self, workdir: Path) -> None:
        from flows.server import LocalPrefectServer

        self.home = workdir / "prefect-running"
        old = os.environ.get("PREFECT_HOME")
        os.environ["PREFECT_HOME"] = str(self.home)
        try:
            self.server = LocalPrefectServer(services=True, log_path=self.home / "server.log")
            self.api_url = self.server.start()
        finally:
            if old is None:
                os.environ.pop("PREFECT_HOME", None)
            else:
                os.environ["PREFECT_HOME"] = old
        assert self.server.process is not None
        self.process = psutil.Process(self.server.process.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds so far of the server and its children."""
        members = [self.process, *self.process.children(recursive=True)]
        return sum(_cpu_seconds(m) for m in members)

    def stop(self) -> None:
        self.server.stop()


def end_to_end(
    base: str,
    pages: int,
    root: str,
    workdir: Path,
    *,
    fresh_home: bool = False,
    server: RunningServer | None = None,
) -> dict[str, Any]:
    """`newsarchive crawl` (the crawl_source flow) in a subprocess: with its own private
    Prefect server (its start timed), or against `server`, whose CPU during the run is
    counted as the role `prefect-server` and in the run's CPU seconds."""
    config = Path(root).parent / f"{Path(root).name}.yaml"
    config.write_text(yaml.safe_dump(bench_config(base, pages)))
    env = child_env()
    if server is None:
        env["PREFECT_HOME"] = str(prefect_home(workdir, fresh=fresh_home))
    else:
        env["PREFECT_HOME"] = str(server.home)
        env["PREFECT_API_URL"] = server.api_url
    cmd = [sys.executable, "-m", "flows.cli", "crawl", "--config", str(config)]
    cmd += ["--root", root, "--quiet"]
    roles: dict[str, dict[str, float]] = {}
    server_before = server.cpu_seconds() if server else 0.0
    seconds, rss, tree, cpu = run_child(cmd, None, env, roles=roles)
    if server is not None:
        server_cpu = server.cpu_seconds() - server_before
        roles["prefect-server"] = {"cpu_s": round(server_cpu, 2), "processes": 1}
        cpu += server_cpu
    from storage.views import connect

    con = connect(root)
    stored = con.sql("select count(*) from articles").fetchall()[0]
    con.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss": rss,
        "peak_tree_rss": tree,
        "fetched": pages + 1,
        "articles_stored": int(stored[0]) if stored else 0,
        "prefect_home": "running server" if server else "fresh" if fresh_home else "migrated",
        "cpu_by_role": roles,
    }


BARE_SPIDER = """
import sys, scrapy
from scrapy.crawler import CrawlerProcess
from lxml import etree

SITEMAP, MODE = sys.argv[1], sys.argv[2]

class BenchSpider(scrapy.Spider):
    name = "bench"
    start_urls = [SITEMAP]
    def parse(self, response):
        root = etree.fromstring(response.body)
        for loc in root.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc"):
            yield scrapy.Request(loc.text, callback=self.article)
    def article(self, response):
        if MODE == "naive":
            import trafilatura
            trafilatura.bare_extraction(response.text, url=response.url, include_comments=False)

process = CrawlerProcess({
    "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
    "CONCURRENT_REQUESTS": max(16, __C__), "CONCURRENT_REQUESTS_PER_DOMAIN": __C__,
    "ROBOTSTXT_OBEY": False, "AUTOTHROTTLE_ENABLED": False, "COOKIES_ENABLED": False,
    "CONCURRENT_ITEMS": 1,  # same as the crawl process: a fair ceiling (and naive)
})
process.crawl(BenchSpider)
process.start()
""".replace("__C__", str(CONCURRENCY))


def process_role(cmdline: list[str], *, is_root: bool) -> str:
    """The role of a process of an e2e run, from its command line."""
    text = " ".join(cmdline)
    if is_root:
        return "cli"
    if "uvicorn" in text and "prefect.server" in text:
        return "prefect-server"
    if "crawlers.process" in text:
        return "crawl"
    if "multiprocessing.spawn" in text or "--multiprocessing-fork" in text:
        return "extract-workers"
    return "other"  # e.g. multiprocessing's resource tracker


def run_child(
    cmd: list[str],
    stdin: str | None,
    env: dict[str, str],
    *,
    roles: dict[str, dict[str, float]] | None = None,
) -> tuple[float, int, int, float]:
    """Run a child, sampling RSS; return (seconds, peak RSS of one process, of the tree,
    CPU seconds of the child and its waited-for descendants).

    `roles`: filled with the CPU seconds (user + system) of the process tree by role
    (`process_role`), with the processes counted and when each role was first and last
    seen (seconds from the start). A process's CPU is its last sample (every 50 ms), so
    a role may miss its last few ms; `unattributed` is the total minus the sampled sum."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env, text=True)
    assert proc.stdin is not None
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    peak = tree = 0
    ps = psutil.Process(proc.pid)
    seen: dict[int, tuple[str, float, float, float]] = {}  # pid -> role, cpu, first, last
    while proc.poll() is None:
        try:
            members = [ps, *ps.children(recursive=True)]
        except psutil.Error:
            break
        sizes = []
        now = time.perf_counter() - start
        for member in members:
            with contextlib.suppress(psutil.Error):
                sizes.append(member.memory_info().rss)
                if roles is None:
                    continue
                times = member.cpu_times()
                old = seen.get(member.pid)
                role = old[0] if old else "other"
                if role == "other":  # new, or seen between fork and exec: look again
                    role = process_role(member.cmdline(), is_root=member is ps)
                seen[member.pid] = (
                    role,
                    times.user + times.system,
                    old[2] if old else now,
                    now,
                )
        if sizes:
            peak, tree = max(peak, *sizes), max(tree, sum(sizes))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"child failed with exit code {proc.returncode}: {cmd}")
    if roles is not None:
        for role, cpu_s, first, last in seen.values():
            row = roles.setdefault(
                role, {"cpu_s": 0.0, "processes": 0, "first_s": first, "last_s": last}
            )
            row["cpu_s"] += cpu_s
            row["processes"] += 1
            row["first_s"], row["last_s"] = min(row["first_s"], first), max(row["last_s"], last)
        for row in roles.values():
            for k in ("cpu_s", "first_s", "last_s"):
                row[k] = round(row[k], 2)
        sampled = sum(row["cpu_s"] for row in roles.values())
        roles["unattributed"] = {"cpu_s": round(cpu - sampled, 2)}
    return elapsed, peak, tree, cpu


def measure(
    mode: str,
    base: str,
    pages: int,
    workdir: Path,
    *,
    fresh_home: bool = False,
    server: RunningServer | None = None,
) -> dict[str, Any]:
    env = child_env()
    if mode in ("bare", "naive"):
        script = workdir / "bare_spider.py"
        script.write_text(BARE_SPIDER)
        cmd = [sys.executable, str(script), f"{base}/gen/sitemap.xml", mode]
        seconds, rss, _, cpu = run_child(cmd, None, env)
        return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": rss, "fetched": pages + 1}
    source = bench_source(base, pages)
    root = tempfile.mkdtemp(prefix=f"bench-{mode}-", dir=workdir)
    if mode == "e2e":
        return end_to_end(base, pages, root, workdir, fresh_home=fresh_home)
    if mode == "e2e-server":
        assert server is not None
        return end_to_end(base, pages, root, workdir, server=server)
    result_path = str(Path(root) / "result.json")
    job = crawl_job(source, root, crawl_id=new_crawl_id(), result_path=result_path)
    job["warc_thread"] = mode != "inline"  # inline: WARC written on the reactor thread
    seconds, rss, _, cpu = run_child(child_command(), json.dumps(job), env)
    result = json.loads(Path(result_path).read_text())
    fetched = sum(result["status_counts"].values()) + result["fetch_errors"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss": rss,
        "fetched": fetched,
        "bytes_archived": result["bytes_archived"],
    }


def fmt_roles(roles: dict[str, dict[str, float]]) -> str:
    """One line: CPU seconds by role and when each ran (seconds from the start)."""
    parts = []
    for role, row in roles.items():
        when = f" {row['first_s']:.1f}-{row['last_s']:.1f}s" if "first_s" in row else ""
        parts.append(f"{role} {row['cpu_s']:.2f}{when}")
    return ", ".join(parts)


def median_roles(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Median CPU seconds per role over the runs (a role missing from a run counts 0)."""
    names = sorted({r for s in samples for r in s["cpu_by_role"]})
    return {
        name: round(
            statistics.median(s["cpu_by_role"].get(name, {}).get("cpu_s", 0.0) for s in samples),
            2,
        )
        for name in names
    }


def _cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of one process so far."""
    times = proc.cpu_times()
    return float(times.user + times.system)


def start_server(
    pages: int, realistic: bool = True, pregenerate: bool = True
) -> tuple[subprocess.Popen[str], str]:
    """The fixture site in its own process; with `pregenerate` it renders every article
    before it answers (not timed), as a site serving from its cache would."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--generate", str(pages)]
        + (["--realistic"] if realistic else [])
        + (["--pregenerate"] if pregenerate else []),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    base = proc.stdout.readline().strip()
    if not base.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"fixture server did not start: {base!r}")
    return proc, base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-runs", type=int, default=1, help="naive mode is slow")
    parser.add_argument("--modes", default="bare,crawl,inline,naive,e2e,e2e-server")
    parser.add_argument("--out", default=str(RESULTS / "crawl_throughput.json"))
    parser.add_argument("--small-pages", action="store_true", help="4 KB pages, not ~64 KB")
    parser.add_argument(
        "--fresh-prefect-home",
        action="store_true",
        help="e2e: a new Prefect home per run (its database migrations included)",
    )
    parser.add_argument(
        "--render-per-request",
        action="store_true",
        help="the site renders each article when it is requested (~1 ms CPU per fetch on "
        "the measured cores; sessions 1-4 measured this way)",
    )
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    server, base = start_server(
        args.pages, realistic=not args.small_pages, pregenerate=not args.render_per_request
    )
    site = psutil.Process(server.pid)
    table: dict[str, Any] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            running = None
            if "e2e-server" in modes:
                running = RunningServer(Path(tmp))
                stack.callback(running.stop)
            for mode in modes:
                runs = args.naive_runs if mode == "naive" else args.runs
                samples = []
                for i in range(runs):
                    site_before = _cpu_seconds(site)
                    sample = measure(
                        mode,
                        base,
                        args.pages,
                        Path(tmp),
                        fresh_home=args.fresh_prefect_home,
                        server=running,
                    )
                    sample["site_cpu_seconds"] = _cpu_seconds(site) - site_before
                    sample["pages_per_s"] = sample["fetched"] / sample["seconds"]
                    sample["cpu_ms_per_page"] = 1000 * sample["cpu_seconds"] / sample["fetched"]
                    sample["site_cpu_ms_per_page"] = (
                        1000 * sample["site_cpu_seconds"] / sample["fetched"]
                    )
                    samples.append(sample)
                    print(
                        f"  {mode} run {i + 1}/{runs}: {sample['fetched']} fetches in "
                        f"{sample['seconds']:.1f}s = {sample['pages_per_s']:.0f}/s, "
                        f"{sample['cpu_ms_per_page']:.2f} CPU ms/page "
                        f"(+ site {sample['site_cpu_ms_per_page']:.2f})",
                        flush=True,
                    )
                    if "cpu_by_role" in sample:
                        print(f"    CPU by role: {fmt_roles(sample['cpu_by_role'])}", flush=True)
                if samples:
                    rss = [s["peak_rss"] for s in samples if s["peak_rss"]]
                    trees = [s["peak_tree_rss"] for s in samples if s.get("peak_tree_rss")]
                    table[mode] = {
                        "peak_tree_rss_mb": max(trees) / 2**20 if trees else None,
                        "runs": samples,
                        "median_pages_per_s": statistics.median(s["pages_per_s"] for s in samples),
                        "median_seconds": statistics.median(s["seconds"] for s in samples),
                        "median_cpu_ms_per_page": statistics.median(
                            s["cpu_ms_per_page"] for s in samples
                        ),
                        "peak_rss_mb": max(rss) / 2**20 if rss else None,
                        "median_site_cpu_ms_per_page": statistics.median(
                            s["site_cpu_ms_per_page"] for s in samples
                        ),
                    }
                    if mode.startswith("e2e"):
                        table[mode]["median_cpu_s_by_role"] = median_roles(samples)
    finally:
        server.kill()
        server.wait()
    ceiling = table.get("bare", {}).get("median_pages_per_s")
    naive = table.get("naive", {}).get("median_pages_per_s")
    print(f"\ncrawl throughput, {args.pages} generated articles on 127.0.0.1, median of runs")
    print(
        f"{'mode':<11}{'pages/s':>10}{'seconds':>10}{'CPU ms/pg':>11}{'site ms/pg':>12}"
        f"{'peak RSS MB':>14}{'tree MB':>10}{'vs bare':>10}{'vs naive':>10}"
    )
    for mode, row in table.items():
        ratio = f"{row['median_pages_per_s'] / ceiling:.2f}x" if ceiling else "-"
        vs_naive = f"{row['median_pages_per_s'] / naive:.2f}x" if naive else "-"
        rss_mb = f"{row['peak_rss_mb']:.0f}" if row["peak_rss_mb"] else "-"
        tree_mb = f"{row['peak_tree_rss_mb']:.0f}" if row["peak_tree_rss_mb"] else "-"
        print(
            f"{mode:<11}{row['median_pages_per_s']:>10.0f}{row['median_seconds']:>10.1f}"
            f"{row['median_cpu_ms_per_page']:>11.2f}{row['median_site_cpu_ms_per_page']:>12.2f}"
            f"{rss_mb:>14}{tree_mb:>10}{ratio:>10}"
            f"{vs_naive:>10}"
        )
    for mode in ("e2e", "e2e-server"):
        if mode not in table:
            continue
        home = "fresh per run" if args.fresh_prefect_home else "migrated before"
        how = "running Prefect server" if mode == "e2e-server" else f"Prefect home {home}"
        print(
            f"{mode} CPU seconds by role (median of runs; {how}): "
            + ", ".join(f"{k} {v:.2f}" for k, v in table[mode]["median_cpu_s_by_role"].items())
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "crawl_throughput",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "pages": args.pages,
        "realistic_pages": not args.small_pages,
        "site_renders_per_request": args.render_per_request,
        "concurrency_per_domain": CONCURRENCY,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "results": table,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
