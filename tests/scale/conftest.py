"""Fixtures of the scale-out tests: a local S3 API (moto server) and the real CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port), for the whole session."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.skip("moto[server] is not installed")
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log_path, "w") as log_file:  # the server logs every request: to a file
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", "0"], stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            if m := re.search(r"Running on http://127\.0\.0\.1:(\d+)", log_path.read_text()):
                port = m.group(1)
            else:
                time.sleep(0.1)
        assert port, "moto server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def prefect_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Prefect API server (temporary home) shared by the scale tests' CLI runs and
    workers, so that each command does not pay for a server start of its own."""
    from flows.server import LocalPrefectServer

    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", str(home))
        # A run that finds its deployment's slot taken retries after 1 s, not 30 s.
        mp.setenv("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "1")
        server = LocalPrefectServer(services=False, log_path=home / "server.log")
        url = server.start()
    try:
        yield url
    finally:
        server.stop()
