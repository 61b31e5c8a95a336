"""End to end through the real `newsarchive` command: crawl the demo site, query, list
snapshots, reextract with the site stopped. (A second crawl adding nothing is asserted in
tests/flows, where it does not pay for another Prefect server start.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site
from flows.demo_site import load_site


def _command() -> list[str]:
    script = Path(sys.executable).parent / "newsarchive"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PREFECT_HOME"] = str(workdir / "prefect-home")  # its own Prefect database
    e.pop("PREFECT_API_URL", None)
    return e


@pytest.fixture(scope="module")
def site() -> Iterator[dict[str, object]]:
    base_url, stop = serve_demo_site(0)
    state: dict[str, object] = {"base_url": base_url, "stop": stop}
    yield state
    stop()


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_command(), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_cli_end_to_end(workdir: Path, env: dict[str, str], site: dict[str, object]) -> None:
    config = workdir / "sources.yaml"
    config.write_text(yaml.safe_dump(demo_config(str(site["base_url"]))))
    n_articles = len(load_site().articles)

    crawl = run(env, workdir, "crawl", DEMO_SOURCE, "--config", str(config), "--max-pages", "200")
    assert crawl.returncode == 0, crawl.stderr
    assert f"{DEMO_SOURCE}:" in crawl.stdout and "new" in crawl.stdout
    # Prefect's own output (banners, server logs, tracebacks) stays off the terminal.
    noise = [line for line in crawl.stderr.splitlines() if "prefect" in line.lower()]
    assert not noise, noise
    assert "Traceback" not in crawl.stderr
    assert (workdir / "archive" / "snapshots").is_dir()  # --root defaults to ./archive

    q = run(
        env,
        workdir,
        "query",
        "select url, title, text from latest_articles order by url",
        "--format",
        "json",
    )
    assert q.returncode == 0, q.stderr
    rows = json.loads(q.stdout)
    titles = {r["title"] for r in rows}
    assert {a.title for a in load_site().articles} <= titles
    for row in rows:
        assert row["text"] and "Leave a Reply" not in row["text"]
        assert "Join our Weekly Newsletter" not in row["text"]

    snaps = run(env, workdir, "snapshots")
    assert snaps.returncode == 0, snaps.stderr
    assert snaps.stdout.count(" crawl ") == 1 and "(1 row)" in snaps.stdout

    site["stop"]()  # type: ignore[operator]
    re = run(env, workdir, "reextract", "--source", DEMO_SOURCE)
    assert re.returncode == 0, re.stderr
    assert "(reextract)" in re.stdout and "0 new, 0 changed" in re.stdout

    counts = run(
        env,
        workdir,
        "query",
        "select kind, count(*) as n from snapshots group by kind order by kind",
        "--format",
        "csv",
    )
    assert counts.stdout.splitlines() == ["kind,n", "crawl,1", "reextract,1"]
    total = run(env, workdir, "query", "select count(*) as n from articles", "--format", "json")
    assert json.loads(total.stdout)[0]["n"] == len(rows) >= n_articles
