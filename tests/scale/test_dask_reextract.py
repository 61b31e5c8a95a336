"""Reextract on a Dask cluster of 2 worker processes equals the local reextract, row for row."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from crawlers.config import load_config
from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site
from storage.views import connect

pytestmark = pytest.mark.scale

#: Columns that legitimately differ between two extraction runs of the same pages.
_RUN_COLUMNS = {"extracted_at", "snapshot_id"}


@pytest.fixture(scope="module")
def crawled_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive holding the demo site's WARC and pages rows, and no snapshot yet."""
    from crawlers.runner import run_crawl

    tmp = tmp_path_factory.mktemp("dask")
    base_url, stop = serve_demo_site(0)
    try:
        (tmp / "sources.yaml").write_text(yaml.safe_dump(demo_config(base_url)))
        source = load_config(str(tmp / "sources.yaml")).source(DEMO_SOURCE)
        run_crawl(source, str(tmp / "pages-only"))
    finally:
        stop()
    return tmp / "pages-only"


@pytest.fixture
def dask_cluster(prefect_api_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """2 worker processes, 1 thread each; they report task runs to the test's Prefect API."""
    from distributed import LocalCluster

    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)  # inherited by the workers
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        yield str(cluster.scheduler_address)


def _articles(root: Path) -> pa.Table:
    table = connect(str(root)).sql("select * from articles").fetch_arrow_table()
    keep = [c for c in table.column_names if c not in _RUN_COLUMNS]
    return table.select(keep).sort_by([("article_id", "ascending"), ("version", "ascending")])


def test_dask_reextract_equals_local_reextract(
    crawled_pages: Path, tmp_path: Path, dask_cluster: str, prefect_api_url: str
) -> None:
    from distributed import Client, get_task_stream
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect_dask import DaskTaskRunner

    from flows.pipeline import reextract

    local_root, dask_root = tmp_path / "local", tmp_path / "dask"
    shutil.copytree(crawled_pages, local_root)
    shutil.copytree(crawled_pages, dask_root)
    settings = {PREFECT_API_URL: prefect_api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with temporary_settings(updates=settings):
        (local,) = reextract(str(local_root), batch_pages=8)
        runner = DaskTaskRunner(address=dask_cluster)
        flow = reextract.with_options(task_runner=runner)  # type: ignore[arg-type]
        with Client(dask_cluster) as client, get_task_stream(client) as stream:
            (distributed,) = flow(str(dask_root), batch_pages=8, workers=1)
    assert local["new"] > 0 and local["kind"] == distributed["kind"] == "reextract"
    for key in ("new", "changed", "unchanged", "rejected", "rejected_by_reason", "rows"):
        assert distributed[key] == local[key], key
    # The batches really ran on both worker processes of the cluster.
    assert len({t["worker"] for t in stream.data}) == 2
    expected, got = _articles(local_root), _articles(dask_root)
    assert got.num_rows == expected.num_rows == local["rows"]
    assert got.to_pylist() == expected.to_pylist()
