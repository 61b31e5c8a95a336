"""Helpers of the scale-out tests: AWS test credentials, buckets, the real CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow.fs as pafs

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "scale-test",
    "AWS_SECRET_ACCESS_KEY": "scale-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def make_bucket(endpoint: str, name: str) -> None:
    admin = pafs.S3FileSystem(
        endpoint_override=endpoint,
        region="us-east-1",
        allow_bucket_creation=True,
        access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
        secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    admin.create_dir(name)


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "newsarchive"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]


def cli_env(tmp: Path, endpoint: str, api_url: str) -> dict[str, str]:
    """The environment of a `newsarchive` process on some machine: AWS variables name the
    store, PREFECT_API_URL the team's Prefect server, its own Prefect home."""
    env = dict(os.environ)
    env.update(AWS_ENV)
    env["AWS_ENDPOINT_URL"] = endpoint
    env["PREFECT_HOME"] = str(tmp / "prefect-home")
    env["PREFECT_API_URL"] = api_url
    return env
