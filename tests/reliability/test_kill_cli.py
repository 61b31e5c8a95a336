"""`newsarchive crawl` SIGKILLed at random moments, in a loop: the archive stays readable by
DuckDB and pyarrow after every kill, and a rerun stores every article exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from rel_helpers import SITE, fixture_server

from crawlers.config import load_config
from crawlers.runner import run_crawl
from storage.views import connect
from storage.warc import iter_records, list_warc_files

ARTICLES = 60
#: Kills per test run; each costs one CLI start (~5-10 s with Prefect). Raise it for a
#: longer run: NEWSARCHIVE_KILL_LOOPS=10 pytest tests/reliability/test_kill_cli.py
KILLS = int(os.environ.get("NEWSARCHIVE_KILL_LOOPS", "3"))
CLI = [sys.executable, "-m", "flows.cli"]


def write_config(path: Path, base: str) -> None:
    body = {
        "sitemaps": [base + "/gen/sitemap.xml"],
        "allowed_domains": ["127.0.0.1"],
        "allow_private_addresses": ["127.0.0.1"],
        "article_url_patterns": ["/gen/2026/"],
        "max_depth": 0,
        "autothrottle": False,
        "concurrency_per_domain": 2,
        "download_timeout": 5,
        "retry_backoff": 0.1,
    }
    path.write_text(yaml.safe_dump({"sources": {"site": body}}))


def cli_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PREFECT_HOME"] = str(tmp / "prefect")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def check_readable(root: Path) -> None:
    """Every visible data file parses; DuckDB's views over the archive answer."""
    for path in root.rglob("*.parquet"):
        if ".staging" not in path.parts:
            pq.read_metadata(path)  # raises on a torn file
    for rel in list_warc_files(str(root), "site"):
        for _ref, rec in iter_records(str(root), rel):
            assert rec.record_type in ("warcinfo", "response", "request", "metadata")
    if (root / "snapshots").exists():
        con = connect(str(root))
        con.sql("select count(*) from articles").fetchall()
        con.sql("select count(*) from pages").fetchall()
        con.close()


@pytest.fixture(scope="module")
def killed_archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """KILLS runs of `newsarchive crawl` SIGKILLed at seeded random moments, then one rerun."""
    tmp_path = tmp_path_factory.mktemp("killcli")
    rng = random.Random(7_2026)
    root = tmp_path / "archive"
    config = tmp_path / "sources.yaml"
    env = cli_env(tmp_path)
    options = fixture_server.ServerOptions(generate=ARTICLES, realistic=True)
    killed_at: list[float] = []
    readable_after_kill = 0
    with fixture_server.FixtureServer(SITE, options) as srv:
        write_config(config, srv.base)
        argv = [*CLI, "crawl", "--config", str(config), "--root", str(root), "--quiet"]
        for _ in range(KILLS):
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=tmp_path,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            delay = rng.uniform(1.0, 9.0)  # start-up, fetch, extraction or commit
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the CLI, the crawl child, the pool
                proc.wait()
                killed_at.append(round(delay, 2))
            time.sleep(0.2)
            check_readable(root)
            readable_after_kill += 1
        final = subprocess.run(
            argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False
        )
        check_readable(root)
        served = [e["path"] for e in srv.log.snapshot() if e["path"].startswith("/gen/2026/")]
    return {
        "root": root,
        "base": srv.base,
        "served": served,
        "killed_at": killed_at,
        "final": final,
        "readable_after_kill": readable_after_kill,
    }


@pytest.mark.slow
def test_cli_sigkill_loop_archive_readable_every_article_stored_once(
    killed_archive: dict[str, Any],
) -> None:
    ka = killed_archive
    assert ka["readable_after_kill"] == KILLS
    assert ka["final"].returncode == 0, ka["final"].stderr[-3000:]
    # Each article fetched at least once; again only if its pages row was not flushed yet.
    assert len(set(ka["served"])) == ARTICLES
    con = connect(str(ka["root"]))
    pages: Any = con.sql(
        "select url, count(*) from pages where status = 200 and url like '%/gen/2026/%' "
        "group by url"
    ).fetchall()
    stored: Any = con.sql("select url, count(*) from articles group by url").fetchall()
    con.close()
    assert len(pages) == ARTICLES and {n for _, n in pages} == {1}  # raw: every one, once
    assert len(stored) == ARTICLES, ka["killed_at"]  # every article stored...
    assert all(n == 1 for _, n in stored)  # ...exactly once


@pytest.mark.slow
def test_run_killed_after_the_crawl_stage_then_rerun_stores_every_article(
    tmp_path: Path,
) -> None:
    """Deterministic form of a kill between crawl and commit: the crawl stage completes
    (as `crawl_task` does inside the flow), the flow dies, the CLI runs again."""
    root = tmp_path / "archive"
    config = tmp_path / "sources.yaml"
    options = fixture_server.ServerOptions(generate=20, realistic=True)
    with fixture_server.FixtureServer(SITE, options) as srv:
        write_config(config, srv.base)
        run_crawl(load_config(config).source("site"), str(root))  # then the flow "died"
        argv = [*CLI, "crawl", "--config", str(config), "--root", str(root), "--quiet"]
        rerun = subprocess.run(
            argv,
            env=cli_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    con = connect(str(root))
    rows: Any = con.sql("select count(distinct url) from articles").fetchall()
    con.close()
    assert rows == [(20,)]
