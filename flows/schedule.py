"""`newsarchive serve`: one cron-scheduled deployment per source, run by a Prefect runner."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from crawlers.config import Config, ConfigError

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

logger = logging.getLogger(__name__)


def deployment_name(source: str) -> str:
    return f"crawl-{source}"


def build_deployments(config: Config, *, root: str, config_path: str) -> list[RunnerDeployment]:
    """One deployment of `crawl-source` per source that has a `schedule`.

    Each deployment has a concurrency limit of 1, so a slow crawl of a source never overlaps
    the next scheduled run of the same source (the later run waits).
    """
    from flows.pipeline import crawl_source

    deployments = []
    for name, source in sorted(config.sources.items()):
        if not source.schedule:
            continue
        deployments.append(
            _sync(
                crawl_source.to_deployment(
                    name=deployment_name(name),
                    cron=source.schedule,
                    parameters={
                        "source": name,
                        "root": _absolute(root),
                        "config_path": str(Path(config_path).resolve()),
                    },
                    concurrency_limit=1,
                    tags=["newsarchive", f"source:{name}"],
                    description=f"Crawl {name} on its schedule ({source.schedule}).",
                )
            )
        )
    return deployments


def _sync(value: object) -> RunnerDeployment:
    """`to_deployment` is sync-compatible: called from sync code it returns the value."""
    return cast("RunnerDeployment", value)


def _absolute(root: str) -> str:
    return root if "://" in root else str(Path(root).expanduser().resolve())


def serve_sources(config: Config, *, root: str, config_path: str) -> int:
    """Register the scheduled deployments and run them until interrupted (Ctrl-C)."""
    scheduled = [n for n, s in sorted(config.sources.items()) if s.schedule]
    if not scheduled:
        raise ConfigError(f"{config_path}: no source has a 'schedule' (cron) to serve")
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        from flows.server import LocalPrefectServer

        server = LocalPrefectServer(services=True)  # the scheduler must run for cron to fire
        print(f"starting a local Prefect server (log: {server.log_path}) ...", file=sys.stderr)
        api_url = server.start()
        # Flow runs execute in child processes: they find the server through the environment.
        os.environ["PREFECT_API_URL"] = api_url
        print(f"Prefect UI: {server.ui_url}", file=sys.stderr)
    try:
        return _serve(config, root=root, config_path=config_path, scheduled=scheduled)
    finally:
        if server is not None:
            server.stop()
            os.environ.pop("PREFECT_API_URL", None)


def _serve(config: Config, *, root: str, config_path: str, scheduled: list[str]) -> int:
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    updates: dict[Any, Any] = {PREFECT_API_URL: os.environ["PREFECT_API_URL"]}
    with temporary_settings(updates=updates):
        deployments = build_deployments(config, root=root, config_path=config_path)
        for name in scheduled:
            print(f"scheduled {name}: {config.sources[name].schedule}", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            # Inside the block: a Ctrl-C right after the line (a loaded machine may run
            # the next bytecode late) must not escape as an interruption (exit 130).
            print("serving; Ctrl-C to stop", file=sys.stderr)
            serve(*deployments, print_starting_message=False)
    return 0
