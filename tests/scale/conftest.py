"""Fixtures of the scale-out tests: a shared Prefect API server (the local S3 API, `s3_endpoint`,
is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
