"""Session fixtures shared by all tests: an isolated Prefect home, one Prefect test harness,
and a local S3 API (moto server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports prefect: never touch the user's ~/.prefect or a configured server.
_PREFECT_HOME = tempfile.mkdtemp(prefix="newsarchive-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILE", None)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server + database for the whole session (starts in ~10 s)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        # As in the CLI: no heartbeat thread, whose 1 s sleeps delay the end of every run.
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


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


@pytest.fixture
def s3_root(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Any:
    """An archive root in a new bucket (named after the test) of the moto S3 server."""
    import pyarrow.fs as pafs

    from storage.fs import open_root

    for k, v in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    bucket = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50]
    admin = pafs.S3FileSystem(
        endpoint_override=s3_endpoint, region="us-east-1", allow_bucket_creation=True
    )
    admin.create_dir(bucket)
    return open_root(f"s3://{bucket}/archive", endpoint_url=s3_endpoint)
