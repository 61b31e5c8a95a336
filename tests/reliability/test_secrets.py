"""Secrets: site and proxy credentials come from the environment, never reach WARC or logs."""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import run_job, site_source

from crawlers.runner import child_env, crawl_job
from storage.warc import list_warc_files

AUTH = "Bearer s3cr3t-token-AUTH"
COOKIE = "session=s3cr3t-cookie-COOKIE"
PROXY_PASSWORD = "s3cr3t-proxy-PASS"
SECRETS = (AUTH, COOKIE, "s3cr3t")


def crawl_child(source: Any, root: Path, extra_env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The crawl process at DEBUG log level, its environment extended; (result, stderr)."""
    result_path = root / "result.json"
    job = crawl_job(source, str(root), crawl_id="c1", result_path=str(result_path))
    job["log_level"] = "DEBUG"
    proc = run_job(job, env={**child_env(), **extra_env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(result_path.read_text()), proc.stdout + proc.stderr


def warc_bytes(root: Path) -> bytes:
    return b"".join(
        gzip.decompress((root / rel).read_bytes()) for rel in list_warc_files(str(root), "site")
    )


@pytest.mark.parametrize("keep", [False, True])
def test_site_credentials_from_env_are_sent_but_redacted(
    server: Any, tmp_path: Path, keep: bool
) -> None:
    source = site_source(server.base, feeds=[], sitemaps=[], max_pages=3, keep_auth_headers=keep)
    env = {"NEWSARCHIVE_AUTH_SITE": AUTH, "NEWSARCHIVE_COOKIE_SITE": COOKIE}
    result, log = crawl_child(source, tmp_path, env)
    assert result["status_counts"]
    seen = server.log.snapshot()
    assert seen and all(e["headers"].get("authorization") == AUTH for e in seen)
    assert all(e["headers"].get("cookie") == COOKIE for e in seen)
    archive = warc_bytes(tmp_path)
    assert b"WARC-Type: request" in archive
    if keep:  # the source opted in: the archive is faithful
        assert AUTH.encode() in archive and COOKIE.encode() in archive
    else:
        assert b"s3cr3t" not in archive
        assert archive.count(b"Authorization: REDACTED") == len(seen)
        assert archive.count(b"Cookie: REDACTED") == len(seen)
    assert "DEBUG" in log and "s3cr3t" not in log  # a DEBUG log names no secret
    for path in tmp_path.rglob("*"):  # nor any other artifact (pages Parquet, result JSON)
        if path.is_file() and not path.name.endswith(".warc.gz"):
            assert b"s3cr3t" not in path.read_bytes(), path


def test_proxy_credentials_from_env_are_redacted(server: Any, tmp_path: Path) -> None:
    # The fixture server doubles as a plain HTTP proxy (it accepts absolute request URIs).
    port = server.base.rsplit(":", 1)[1]
    proxy = f"http://user:{PROXY_PASSWORD}@127.0.0.1:{port}"
    source = site_source(server.base, feeds=[], sitemaps=[], max_pages=2)
    env = {"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    _, log = crawl_child(source, tmp_path, env)
    seen = server.log.snapshot()
    assert seen and all(
        e["headers"].get("proxy-authorization", "").startswith("Basic ") for e in seen
    )
    assert all(e["path"].startswith("http://") for e in seen)  # really went through the proxy
    archive = warc_bytes(tmp_path)
    assert b"Proxy-Authorization: REDACTED" in archive
    encoded = base64.b64encode(f"user:{PROXY_PASSWORD}".encode())
    assert PROXY_PASSWORD.encode() not in archive and encoded not in archive
    assert PROXY_PASSWORD not in log and encoded.decode() not in log
    assert os.environ.get("http_proxy") is None  # the test did not leak it into this process
