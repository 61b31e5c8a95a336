"""Crawl deployments on a process work pool: a real Prefect server, two workers, two sources
sharing one s3:// archive; each source runs on one worker at a time (concurrency limit 1)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
import yaml
from scale_helpers import AWS_ENV, make_bucket

from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site
from storage.snapshots import list_snapshots

pytestmark = pytest.mark.scale

REPO = Path(__file__).resolve().parents[2]
POOL = "scale-pool"
SOURCES = ("alder-bay", "alder-bay-mirror")
RUNS_PER_SOURCE = 2


def _deploy(api_url: str, root: str, config_path: Path) -> dict[str, Any]:
    """The process work pool and one crawl deployment per source (code from this checkout)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    from flows.pipeline import crawl_source

    ids: dict[str, UUID] = {}
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(
                WorkPoolCreate(name=POOL, type="process", base_job_template=template),
                overwrite=True,
            )
        remote = crawl_source.from_source(
            source=str(REPO), entrypoint="flows/pipeline.py:crawl_source"
        )
        for name in SOURCES:
            ids[name] = cast(
                UUID,
                remote.deploy(  # type: ignore[union-attr]
                    name=f"crawl-{name}",
                    work_pool_name=POOL,
                    parameters={"source": name, "root": root, "config_path": str(config_path)},
                    concurrency_limit=1,
                    build=False,
                    push=False,
                    print_next_steps=False,
                    ignore_warnings=True,
                ),
            )
        with get_client(sync_client=True) as client:
            runs = {
                name: [
                    client.create_flow_run_from_deployment(ids[name]).id
                    for _ in range(RUNS_PER_SOURCE)
                ]
                for name in SOURCES
            }
    return {"deployments": ids, "runs": runs}


def _start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    prefect = Path(sys.executable).with_name("prefect")
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(prefect), "worker", "start", "--pool", POOL, "--name", name, "--limit", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_final(api_url: str, run_ids: list[Any], timeout: float) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deadline = time.monotonic() + timeout
    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}),
        get_client(sync_client=True) as client,
    ):
        while True:
            runs = [client.read_flow_run(i) for i in run_ids]
            if all(r.state and r.state.is_final() for r in runs):
                return runs
            if time.monotonic() > deadline:
                states = [(str(r.id)[:8], r.state_name) for r in runs]
                raise AssertionError(f"flow runs not finished after {timeout:g}s: {states}")
            time.sleep(1)


def test_two_workers_crawl_two_sources_into_one_s3_root(
    tmp_path: Path, s3_endpoint: str, prefect_api_url: str
) -> None:
    make_bucket(s3_endpoint, "scale-pool")
    # The endpoint travels in the root URI (each worker machine needs only credentials).
    root = f"s3://scale-pool/archive?endpoint_url={s3_endpoint}"
    sites = [serve_demo_site(0) for _ in SOURCES]  # one site per source (own URLs)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        config = demo_config(sites[0][0])
        config["sources"] = {
            name: dict(demo_config(base_url)["sources"][DEMO_SOURCE], max_pages=30)
            for name, (base_url, _) in zip(SOURCES, sites, strict=True)
        }
        config_path = tmp_path / "sources.yaml"
        config_path.write_text(yaml.safe_dump(config))
        deployed = _deploy(prefect_api_url, root, config_path)

        env = dict(os.environ, **AWS_ENV)
        env.pop("AWS_ENDPOINT_URL", None)
        env.update(
            PREFECT_API_URL=prefect_api_url,
            PREFECT_HOME=str(tmp_path / "worker-home"),
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="1",
            PREFECT_LOGGING_LEVEL="INFO",  # the worker logs which flow runs it submits
            # ... to its console, which an in-process `newsarchive` call earlier in the session
            # may have silenced in os.environ (flows.cli quiets Prefect's console handler).
            PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="INFO",
        )
        logs = {name: tmp_path / f"{name}.log" for name in ("worker-1", "worker-2")}
        workers = [_start_worker(name, env, log) for name, log in logs.items()]
        all_runs = [r for ids in deployed["runs"].values() for r in ids]
        runs = {r.id: r for r in _wait_final(prefect_api_url, all_runs, timeout=150)}
    finally:
        for w in workers:
            _stop(w)
        for _, stop_site in sites:
            stop_site()

    assert all(r.state_name == "Completed" for r in runs.values()), {
        str(i): r.state_name for i, r in runs.items()
    }
    # Both workers took runs (each worker runs one at a time: --limit 1).
    worker_logs = {name: log.read_text(errors="replace") for name, log in logs.items()}
    took = {name: {i for i in runs if str(i) in text} for name, text in worker_logs.items()}
    assert all(took.values()), worker_logs
    # One source never ran twice at once: its runs' [start, end] intervals do not overlap.
    for name, ids in deployed["runs"].items():
        spans = sorted((runs[i].start_time, runs[i].end_time) for i in ids)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"{name}: overlapping runs {spans}"
    # Every run committed a snapshot of its source into the shared archive.
    snaps = [s for s in list_snapshots(root) if s.kind == "crawl"]
    assert sorted(s.source for s in snaps) == sorted(SOURCES * RUNS_PER_SOURCE)
    for name in SOURCES:
        assert sum(s.counts["new"] for s in snaps if s.source == name) > 0, name
    assert not re.search(r"Traceback", "".join(worker_logs.values())), worker_logs
