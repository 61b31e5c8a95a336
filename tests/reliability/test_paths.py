"""Config and paths: source names cannot escape the archive; bad values are one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from rel_helpers import run_job, site_source

from crawlers.config import ConfigError, ResolvedSource, parse_config
from crawlers.runner import crawl_job, run_crawl

ESCAPES = ["../etc", "..", "/abs", "a/../../b", "a/b", "Upper", "", "a b", "x" * 65, "a\0b"]


@pytest.mark.parametrize("name", ESCAPES)
def test_source_names_that_would_escape_are_rejected_in_one_line(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"sources": {name: {"start_urls": ["http://a.example/"]}}}, "s.yaml")
    assert "\n" not in str(info.value) and str(info.value).startswith("s.yaml: sources.")


@pytest.mark.parametrize("name", ["../../evil", "/tmp/evil", "a/b"])
def test_hand_built_sources_are_checked_too(name: str) -> None:
    with pytest.raises(ValidationError, match="source names are lower-case"):
        ResolvedSource(name=name, start_urls=["http://a.example/"])


def test_crawl_job_with_an_escaping_name_writes_nothing(tmp_path: Path) -> None:
    """The crawl process refuses a forged job: nothing written inside or outside the root."""
    root = tmp_path / "archive"
    root.mkdir()
    job = crawl_job(
        ResolvedSource(name="ok", start_urls=["http://127.0.0.1:9/"]),
        str(root),
        crawl_id="c1",
        result_path=str(tmp_path / "r.json"),
    )
    job["source"]["name"] = "../../escaped"
    proc = run_job(job)
    assert proc.returncode != 0 and "source names are lower-case" in proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["archive"]


def test_a_crawl_writes_only_under_its_root(server: Any, tmp_path: Path) -> None:
    root = tmp_path / "deep" / "archive"
    run_crawl(site_source(server.base, max_pages=5), str(root))
    outside = [p for p in tmp_path.rglob("*") if root not in p.parents and p != root]
    assert outside == [tmp_path / "deep"]
    assert {p.relative_to(root).parts[0] for p in root.rglob("*") if p.is_file()} == {
        ".locks",  # the crawl's fetch lock
        "pages",
        "warc",
    }
