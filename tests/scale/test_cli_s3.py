"""Every command through the real `newsarchive` CLI on an s3:// root (moto server)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from scale_helpers import AWS_ENV, cli_command, cli_env, make_bucket

from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site
from flows.demo_site import load_site
from storage.fs import open_root
from storage.snapshots import committed_state

pytestmark = pytest.mark.scale

ROOT = "s3://scale-cli/archive"


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*cli_command(), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _query(env: dict[str, str], cwd: Path, sql: str) -> list[dict[str, Any]]:
    out = _run(env, cwd, "query", sql, "--root", ROOT, "--format", "json").stdout
    return list(json.loads(out))


def test_every_command_on_an_s3_root(
    tmp_path: Path, s3_endpoint: str, prefect_api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bucket(s3_endpoint, "scale-cli")
    for k, v in {**AWS_ENV, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)  # for the assertions made from this process
    env = cli_env(tmp_path, s3_endpoint, prefect_api_url)
    updates: dict[str, str] = {}
    base_url, stop = serve_demo_site(0, updates=updates)
    try:
        config = demo_config(base_url)
        config["sources"][DEMO_SOURCE]["recrawl_window"] = "7d"  # refetch recent articles
        (tmp_path / "sources.yaml").write_text(yaml.safe_dump(config))
        crawl = ["crawl", "--config", "sources.yaml", "--root", ROOT, "--quiet"]
        first = _run(env, tmp_path, *crawl)
        assert " new" in first.stdout, first.stdout
        n = _query(env, tmp_path, "select count(*) as n from latest_articles")[0]["n"]
        assert n >= len(load_site().articles)
        assert not (tmp_path / "archive").exists()  # nothing went to a local ./archive

        # A crashed commit's leftovers: a data file no manifest names, a staging dir.
        r = open_root(ROOT)
        (live,) = committed_state(r).live_paths()
        orphan = live.rsplit("/", 1)[0] + "/20000101T000000000000Z-deadbeef-00000.parquet"
        r.write_bytes_atomic(orphan, r.read_bytes(live))
        staged = ".staging/snapshot-alder-bay-20000101T000000000000Z-deadbeef/00000.parquet"
        r.write_bytes_atomic(staged, r.read_bytes(live))
        # Readers see only files named by manifests: the orphan's rows are not counted.
        assert _query(env, tmp_path, "select count(*) as n from articles")[0]["n"] == n

        # A corrected article: the next crawl commits its version 2 and removes the orphans.
        slug = load_site().articles[0].slug
        updates[slug] = "Correction: an earlier version of this story misstated the date."
        second = _run(env, tmp_path, *crawl)
        assert "1 changed" in second.stdout, second.stdout
        assert not r.exists(orphan) and not r.exists(staged)
    finally:
        stop()

    # Site gone: reextract reads only the stored WARC (ranged reads on S3).
    re_run = _run(env, tmp_path, "reextract", "--root", ROOT, "--quiet")
    assert "(reextract)" in re_run.stdout and "0 new, 0 changed" in re_run.stdout

    rows_sql = "select article_id, version, url, text from articles order by 1, 2"
    before = _query(env, tmp_path, rows_sql)
    assert len(before) == n + 1
    assert [r_["version"] for r_ in before].count(2) == 1
    files_before = committed_state(r).live_paths()
    assert len(files_before) >= 2

    compact = _run(env, tmp_path, "compact", "--root", ROOT, "--quiet")
    assert "(compact)" in compact.stdout, compact.stdout
    assert _query(env, tmp_path, rows_sql) == before  # compaction changes no result
    state = committed_state(r)
    # The bucket holds exactly the live files: replaced ones deleted, nothing staged.
    assert r.glob("articles", ".parquet") == sorted(state.live_paths())
    assert len(state.live_paths()) < len(files_before)
    assert not [p for p in r.glob(".staging") if "/snapshot-" in p]
    assert r.glob(".locks") == []  # every lock object was released

    kinds = _query(env, tmp_path, "select kind, count(*) as n from snapshots group by 1 order by 1")
    assert kinds == [
        {"kind": "compact", "n": 1},
        {"kind": "crawl", "n": 2},
        {"kind": "reextract", "n": 1},
    ]
    listing = _run(env, tmp_path, "snapshots", "--root", ROOT).stdout
    assert listing.count(" crawl ") == 2 and "(4 rows)" in listing

    out = tmp_path / "latest.parquet"
    _run(env, tmp_path, "query", "select * from latest_articles", "--root", ROOT,
         "--format", "parquet", "--output", str(out))  # fmt: skip
    assert pq.read_table(out).num_rows == n
