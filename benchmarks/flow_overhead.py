"""Fixed cost of orchestration: Prefect server start, one flow run, one task, one CLI call.

Usage: .venv/bin/python benchmarks/flow_overhead.py [--runs N]
Prints JSON. Everything runs against a private Prefect home in a temp dir. Besides wall
seconds (`*_s`), CPU seconds (`*_cpu_s`: user + system of the server process, or of the
CLI process and its children) - the figures a shared machine hardly distorts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _cpu_of(server: object) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    import psutil

    process = getattr(server, "process", None)
    assert process is not None
    times = psutil.Process(process.pid).cpu_times()
    return round(times.user + times.system, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="newsarchive-bench-prefect-")
    os.environ["PREFECT_HOME"] = home
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    results: dict[str, float | int] = {"runs": args.runs}

    from flows.server import LocalPrefectServer

    t = time.perf_counter()
    server = LocalPrefectServer(services=False)
    server.start()
    results["server_start_fresh_db_s"] = round(time.perf_counter() - t, 3)
    results["server_start_fresh_db_cpu_s"] = _cpu_of(server)
    server.stop()
    t = time.perf_counter()
    server = LocalPrefectServer(services=False)
    api_url = server.start()
    results["server_start_existing_db_s"] = round(time.perf_counter() - t, 3)
    results["server_start_existing_db_cpu_s"] = _cpu_of(server)

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    @task(cache_policy=NO_CACHE)
    def noop_task(x: int) -> int:
        return x

    @flow
    def empty_flow() -> int:
        return 0

    @flow
    def fifty_task_flow() -> int:
        return sum(noop_task(i) for i in range(50))

    def measure(label: str, heartbeat_off: bool) -> None:
        updates: dict[object, object] = {PREFECT_API_URL: api_url}
        if heartbeat_off:
            updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
        with temporary_settings(updates=updates):
            empty_flow()  # warm-up: client, event workers
            empties, fifties = [], []
            for _ in range(args.runs):
                t = time.perf_counter()
                empty_flow()
                empties.append(time.perf_counter() - t)
            for _ in range(args.runs):
                t = time.perf_counter()
                fifty_task_flow()
                fifties.append(time.perf_counter() - t)
            time.sleep(2)  # let the server absorb the task-run backlog before the next series
            results[f"flow_run_s_median_{label}"] = _median(empties)
            results[f"task_run_s_{label}"] = round(
                (statistics.median(fifties) - statistics.median(empties)) / 50, 4
            )

    try:
        measure("heartbeat_off_as_in_cli", heartbeat_off=True)
        measure("heartbeat_default", heartbeat_off=False)
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
    finally:
        server.stop()
    print(json.dumps(results), file=sys.stderr)

    # A whole CLI call that needs Prefect (server start + flow) vs one that does not.
    root = Path(home) / "archive"
    root.mkdir()
    cli = [sys.executable, "-m", "flows.cli"]
    for name, argv in (
        ("cli_without_prefect_s", ["snapshots", "--root", str(root)]),
        ("cli_with_prefect_flow_s", ["compact", "--root", str(root), "-q"]),
    ):
        t = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([*cli, *argv], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
        results[name] = round(time.perf_counter() - t, 3)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        results[name.removesuffix("_s") + "_cpu_s"] = round(cpu, 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
