"""A crawl killed with SIGKILL mid-way, then run again: nothing archived is fetched twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
from crawl_helpers import SITE, fixture_server, site_source

from crawlers.runner import child_command, child_env, crawl_job, new_crawl_id, run_crawl
from storage.pages import list_pages_files, read_pages
from storage.warc import iter_records, list_warc_files

ARTICLES = 200


def test_sigkill_then_rerun_completes_without_refetching(tmp_path: Path) -> None:
    root = str(tmp_path / "archive")
    options = fixture_server.ServerOptions(generate=ARTICLES)
    with fixture_server.FixtureServer(SITE, options) as srv:
        source = site_source(
            srv.base,
            start_urls=[],
            feeds=[],
            sitemaps=[srv.base + "/gen/sitemap.xml"],
            article_url_patterns=["/gen/2026/"],
            max_depth=1,
            concurrency_per_domain=1,
        )
        crawl_id = new_crawl_id()
        job = crawl_job(
            source,
            root,
            crawl_id=crawl_id,
            result_path=str(tmp_path / "result.json"),
            pages_batch=20,
        )
        proc = subprocess.Popen(child_command(), stdin=subprocess.PIPE, env=child_env(), text=True)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        deadline = time.monotonic() + 60
        while len(list_pages_files(root, "site", crawl_id)) < 3:
            assert proc.poll() is None, "crawl finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = read_pages(root, "site", crawl_id=crawl_id)
        done_first = {
            u.removeprefix(srv.base)
            for u in killed.filter(pc.equal(killed["status"], 200))["url"].to_pylist()
        }
        assert 0 < len([u for u in done_first if u.startswith("/gen/2026/")]) < ARTICLES
        srv.mark = time.time()
        second = run_crawl(source, root)
        requested_again = {e["path"] for e in srv.log.snapshot() if e["time"] >= srv.mark}
    articles_done = {u for u in done_first if u.startswith("/gen/2026/")}
    assert not (articles_done & requested_again)  # archived pages are not fetched again
    assert second.skipped_archived == len(articles_done)
    table = read_pages(root, "site")
    ok = table.filter(pc.equal(table["status"], 200))
    per_article = Counter(u for u in ok["url"].to_pylist() if "/gen/2026/" in u)
    assert len(per_article) == ARTICLES  # every article stored...
    assert set(per_article.values()) == {1}  # ...exactly once in the pages index
    for warc in list_warc_files(root, "site"):  # the killed crawl's WARC still reads cleanly
        for _ref, rec in iter_records(root, warc):
            assert rec.record_type in ("warcinfo", "response", "request", "metadata")
