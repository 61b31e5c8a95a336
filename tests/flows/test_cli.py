"""The `newsarchive` command line: usage and config errors, output formats, documented flags."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flow_helpers import DemoServer

from flows.cli import build_parser, format_rows, main

REPO = Path(__file__).resolve().parents[2]
NEWSARCHIVE = [sys.executable, "-m", "flows.cli"]

BAD_CONFIGS = {
    "unknown key": (
        "sources:\n  a:\n    start_urls: ['http://127.0.0.1:9/']\n    follow_linkz: true\n",
        "follow_linkz",
    ),
    "wrong type": ("sources:\n  a:\n    max_depth: deep\n", "max_depth"),
    "bad regex": (
        "sources:\n  a:\n    article_url_patterns: ['(unclosed']\n",
        "article_url_patterns",
    ),
    "bad cron": ("sources:\n  a:\n    schedule: 'every day'\n", "schedule"),
    "not yaml": ("sources: [\n", "YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_config_error_is_one_line_exit_2_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, key = BAD_CONFIGS[case]
    config = tmp_path / "sources.yaml"
    config.write_text(text)
    root = tmp_path / "archive"
    code = main(["crawl", "--config", str(config), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert key in err and str(config) in err
    assert not root.exists()


def test_unknown_source_name_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  alpha:\n    start_urls: ['http://127.0.0.1:9/']\n")
    root = tmp_path / "archive"
    code = main(["crawl", "beta", "--config", str(config), "--root", str(root)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "beta" in err and "alpha" in err and "\n" not in err
    assert not root.exists()


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["crawl", "--config", str(tmp_path / "nope.yaml"), "--root", str(tmp_path / "a")])
    assert code == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_reading_commands_never_create_a_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "missing"
    for argv in (["query", "select 1"], ["snapshots"], ["reextract"], ["compact"]):
        assert main([*argv, "--root", str(root)]) == 2
        assert "no archive" in capsys.readouterr().err
    assert not root.exists()


def test_bad_archive_uri_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "select 1", "--root", "s3://bucket/x?bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) in archive URI" in err and "bogus" in err and "\n" not in err.strip()


@pytest.mark.parametrize(
    "argv",
    [
        ["crawl", "--max-pages", "0"],
        ["crawl", "--max-pages", "many"],
        ["reextract", "--since", "last tuesday"],
        ["query", "select 1", "--format", "xml"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_query_formats_on_an_empty_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    sql = "select count(*) as n, 'x' as label from latest_articles"
    assert main(["query", sql, "--root", str(root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 0, "label": "x"}]
    assert main(["query", sql, "--root", str(root), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n,label", "0,x"]
    out = tmp_path / "r.parquet"
    assert main(["query", sql, "--root", str(root), "--format", "parquet", "-o", str(out)]) == 0
    import pyarrow.parquet as pq

    assert pq.read_table(out).to_pylist() == [{"n": 0, "label": "x"}]
    assert main(["query", "select nonsense from", "--root", str(root)]) == 2
    assert main(["query", "select * from no_such_view", "--root", str(root)]) == 2
    assert main(["snapshots", "--root", str(root)]) == 0
    assert "(0 rows)" in capsys.readouterr().out


def test_format_rows() -> None:
    from datetime import UTC, datetime

    cols = ["title", "authors", "published_at"]
    rows = [("A, b", ["X", "Y"], datetime(2026, 3, 2, 12, tzinfo=UTC)), ("C", [], None)]
    assert json.loads(format_rows(cols, rows, "json")) == [
        {"title": "A, b", "authors": ["X", "Y"], "published_at": "2026-03-02T12:00:00+00:00"},
        {"title": "C", "authors": [], "published_at": None},
    ]
    csv_lines = format_rows(cols, rows, "csv").splitlines()
    assert csv_lines[1] == '"A, b","[""X"", ""Y""]",2026-03-02 12:00:00+00:00'
    table = format_rows(cols, rows, "table")
    assert table.splitlines()[0].split() == cols
    assert table.rstrip().endswith("(2 rows)")


def test_parser_has_exactly_the_documented_commands() -> None:
    parser = build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(subparsers[0].choices)
    assert commands == {"crawl", "reextract", "query", "snapshots", "compact", "serve", "demo"}
    readme = REPO / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        for command in commands:
            assert f"newsarchive {command}" in text, f"README does not document {command}"


def test_console_script_config_error_in_a_subprocess(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  a:\n    max_pages: -3\n")
    proc = subprocess.run(
        [*NEWSARCHIVE, "crawl", "--config", str(config), "--root", str(tmp_path / "archive")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "sources.a.max_pages" in proc.stderr
    assert not (tmp_path / "archive").exists()


def test_crawl_reports_failed_source_and_failed_urls_exit_1(
    prefect_harness: None,
    demo_server: DemoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.demo import DEMO_SOURCE, demo_config
    from flows.server import free_port

    doc = demo_config(demo_server.base_url)
    doc["sources"][DEMO_SOURCE]["max_pages"] = 10
    dead = f"http://127.0.0.1:{free_port()}/"  # nothing listens there: connection refused
    doc["sources"]["dead-site"] = {"start_urls": [dead], "allowed_domains": ["127.0.0.1"]}
    doc["sources"]["broken"] = dict(doc["sources"][DEMO_SOURCE])
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(doc))
    root = tmp_path / "archive"
    (root / "warc").mkdir(parents=True)
    (root / "warc" / "source=broken").write_text("a file where a directory must go")

    code = main(["crawl", "--config", str(config), "--root", str(root), "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "crawl of broken failed:" in err
    assert f"dead-site: {dead}" in err  # the failed URL, with its reason
    assert f"{DEMO_SOURCE}:" in out and "dead-site:" in out
    assert "Traceback" not in err


def test_crawl_with_a_configured_api_that_does_not_answer_starts_nothing(
    demo_server: DemoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`crawl` starts its crawls before it imports Prefect; with PREFECT_API_URL naming a
    server that is down it must fail in one line before any of that (nothing archived)."""
    from flows.demo import demo_config
    from flows.server import free_port

    api = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    monkeypatch.setenv("PREFECT_API_URL", api)
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(demo_config(demo_server.base_url)))
    root = tmp_path / "archive"
    code = main(["crawl", "--config", str(config), "--root", str(root), "-q"])
    err = capsys.readouterr().err.strip()
    assert not root.exists()  # no crawl ran
    assert code == 1
    assert api in err and "does not answer" in err and "\n" not in err, err


def test_crawl_on_its_private_server_records_runs_tasks_logs_and_artifact(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    """Without PREFECT_API_URL, `crawl` runs on its own one-shot server (some of Prefect's
    services off, flows/server.py ONE_SHOT_SERVER_ENV); what the UI shows of the run must
    still be in the Prefect home's database afterwards: both flow runs, every task run with
    its final state (recorded from events by the task-run recorder), logs, the artifact."""
    from flows.demo import DEMO_SOURCE, demo_config

    doc = demo_config(demo_server.base_url)
    doc["sources"][DEMO_SOURCE]["max_pages"] = 12
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(doc))
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.pop("PREFECT_LOGGING_LEVEL", None)  # the tests' WARNING: run logs are INFO
    env["PREFECT_HOME"] = str(home)
    proc = subprocess.run(
        [*NEWSARCHIVE, "crawl", "--config", str(config), "--root", str(tmp_path / "a"), "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(home / "prefect.db")
    try:
        flow_runs = dict(
            db.execute(
                "select f.name, r.state_type from flow_run r join flow f on f.id = r.flow_id"
            ).fetchall()
        )
        tasks = db.execute("select name, state_type from task_run").fetchall()
        logs = db.execute("select count(*) from log").fetchone()[0]
        artifacts = [r[0] for r in db.execute("select key from artifact").fetchall()]
    finally:
        db.close()
    assert flow_runs == {"crawl-sources": "COMPLETED", "crawl-source": "COMPLETED"}
    names = {name for name, _ in tasks}
    assert {"crawl", f"commit-{DEMO_SOURCE}", f"source-{DEMO_SOURCE}"} <= names
    assert any(name.startswith("extract-batch-") for name in names), names
    assert {state for _, state in tasks} == {"COMPLETED"}, tasks
    assert logs > 0
    assert artifacts == [f"crawl-{DEMO_SOURCE}"]
