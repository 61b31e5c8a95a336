"""`serve`: a cron deployment per scheduled source, concurrency 1, run through a Prefect runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from flow_helpers import DemoServer

from crawlers.config import ConfigError, load_config
from flows.demo import DEMO_SOURCE, demo_config
from flows.schedule import build_deployments, deployment_name, serve_sources
from storage.views import connect


def _write_config(tmp_path: Path, base_url: str, schedule: str | None) -> Path:
    doc = demo_config(base_url)
    doc["sources"][DEMO_SOURCE]["max_pages"] = 25
    if schedule:
        doc["sources"][DEMO_SOURCE]["schedule"] = schedule
    doc["sources"]["unscheduled"] = {"start_urls": [f"{base_url}/"]}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_serve_without_schedules_is_a_config_error(tmp_path: Path) -> None:
    path = _write_config(tmp_path, "http://127.0.0.1:9", schedule=None)
    with pytest.raises(ConfigError, match="schedule"):
        serve_sources(load_config(path), root=str(tmp_path / "a"), config_path=str(path))
    assert not (tmp_path / "a").exists()


def test_cron_deployment_runs_the_flow_through_the_runner(
    prefect_harness: None, demo_server: DemoServer, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.runner import Runner

    path = _write_config(tmp_path, demo_server.base_url, schedule="*/10 * * * *")
    root = tmp_path / "archive"
    deployments = build_deployments(load_config(path), root=str(root), config_path=str(path))
    assert [d.name for d in deployments] == [deployment_name(DEMO_SOURCE)]
    deployment = deployments[0]
    assert deployment.parameters["source"] == DEMO_SOURCE
    assert [s.schedule.cron for s in deployment.schedules] == ["*/10 * * * *"]  # type: ignore[union-attr]

    runner = Runner(limit=1)
    runner.add_deployment(deployment)  # registers it with the API (concurrency limit 1)
    with get_client(sync_client=True) as client:
        registered = client.read_deployment_by_name(f"crawl-source/{deployment.name}")
        assert registered.global_concurrency_limit is not None
        assert registered.global_concurrency_limit.limit == 1
    # The scheduler service does not run in the test server: create the run a cron tick
    # would, then let the runner pick it up once, exactly as `serve` does.
    flow_run = run_deployment(registered.id, timeout=0)
    asyncio.run(runner.start(run_once=True))
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state  # type: ignore[union-attr]
    assert state is not None and state.is_completed(), state
    con = connect(str(root))
    assert con.sql("select kind, source, new from snapshots").fetchall() == [
        ("crawl", DEMO_SOURCE, con.sql("select count(*) from articles").fetchall()[0][0])
    ]
    assert con.sql("select count(*) from articles").fetchall()[0][0] > 0


def test_prefect_yaml_deployments_point_at_real_flows_and_parameters() -> None:
    import inspect

    from prefect import Flow

    import flows.pipeline as pipeline

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())
    names = set()
    for dep in doc["deployments"]:
        path, _, attr = dep["entrypoint"].partition(":")
        assert path == "flows/pipeline.py"
        flow_obj = getattr(pipeline, attr)
        assert isinstance(flow_obj, Flow)
        accepted = set(inspect.signature(flow_obj.fn).parameters)
        assert set(dep.get("parameters", {})) <= accepted, dep["name"]
        assert dep["work_pool"]["name"] == "newsarchive"
        assert dep["concurrency_limit"] == 1
        for schedule in dep.get("schedules", []):
            load_config_cron = {"sources": {"x": {"schedule": schedule["cron"]}}}
            from crawlers.config import parse_config

            parse_config(load_config_cron)  # a valid cron expression
        names.add(dep["name"])
    assert {"crawl-all", "reextract", "compact"} <= names


def test_serve_starts_its_own_server_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    import psutil

    path = _write_config(tmp_path, "http://127.0.0.1:9", schedule="0 0 1 1 *")
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(path), "--root", "a"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job ignores SIGINT; a user's Ctrl-C does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("serving"):
                break
        assert any(line.startswith("Prefect UI: http://127.0.0.1:") for line in lines), lines
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("uvicorn" in " ".join(c.cmdline()) for c in children)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    assert "Traceback" not in proc.stderr.read()
