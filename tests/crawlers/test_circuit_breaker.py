"""The per-site circuit breaker: a failing site stops being fetched, a healthy one never does."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from crawl_helpers import answering_site, run_job, site_source

from crawlers.config import ConfigError, parse_config
from crawlers.runner import CrawlResult, crawl_job, run_crawl
from storage.pages import read_pages

ARTICLES = 60


class Site:
    """A site on 127.0.0.1 (port 0): `/sitemap.xml` lists `/a/<i>.html` for i < ARTICLES,
    `/` links to them and to `extra_links`; `status(i, attempt)` answers article i.

    Counts the requests it serves per path (thread-safe).
    """

    def __init__(
        self, status: Callable[[int, int], int], extra_links: list[str] | None = None
    ) -> None:
        self.status = status
        self.extra_links = extra_links or []
        self.base = ""
        self.hits: Counter[str] = Counter()
        self._stack = ExitStack()

    def answer(self, path: str, attempt: int) -> tuple[int, dict[str, str], bytes]:
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/sitemap.xml":
            locs = "".join(f"<url><loc>{self.base}/a/{i}.html</loc></url>" for i in range(ARTICLES))
            xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'
            return 200, {"Content-Type": "application/xml"}, xml.encode()
        if path == "/":
            urls = [f"/a/{i}.html" for i in range(ARTICLES)] + self.extra_links
            links = "".join(f'<a href="{u}">story</a> ' for u in urls)
            return 200, html, f"<html><body>{links}</body></html>".encode()
        if path.startswith("/a/") and path.endswith(".html"):
            i = int(path[3:-5])
            code = self.status(i, attempt)
            body = f"<html><body><h1>Story {i}</h1><p>{'text ' * 50}</p></body></html>"
            return code, html, body.encode()
        return 404, html, b"<html><body>not here</body></html>"

    def article_hits(self) -> Counter[str]:
        return Counter({p: n for p, n in list(self.hits.items()) if p.startswith("/a/")})

    def __enter__(self) -> Site:
        self.base, self.hits = self._stack.enter_context(answering_site(self.answer))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def sitemap_site(base: str, **overrides: Any) -> Any:
    settings: dict[str, Any] = {
        "start_urls": [],
        "feeds": [],
        "sitemaps": [base + "/sitemap.xml"],
        "article_url_patterns": ["/a/"],
        "max_depth": 0,
        "obey_robots": False,
        "retry_times": 1,
        "retry_backoff": 0,
        "concurrency_per_domain": 2,
    }
    settings.update(overrides)
    return site_source(base, **settings)


def closed_port() -> int:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rows_of(root: Path, crawl_id: str) -> list[dict[str, Any]]:
    return read_pages(str(root), "site", crawl_id=crawl_id).to_pylist()


def test_site_answering_503_is_dropped_after_the_limit_and_retried_next_run(
    tmp_path: Path,
) -> None:
    healthy = False

    def status(i: int, attempt: int) -> int:
        return 200 if healthy else 503

    with Site(status) as site:
        source = sitemap_site(site.base, circuit_breaker_failures=5)
        job = crawl_job(source, str(tmp_path), crawl_id="c-down", result_path=str(tmp_path / "r"))
        proc = run_job(job)
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = CrawlResult.from_json(json.loads((tmp_path / "r").read_text()))
        hits = site.article_hits()
        # 5 URLs failed in a row, plus those in flight when the circuit opened: at most
        # `concurrency` answered but not counted yet and as many transfers started in their
        # place. Each URL tried keeps its retry (retry_times 1); none of the others went out.
        assert 5 <= len(hits) <= 5 + 2 * 2, hits
        assert set(hits.values()) == {2}
        assert result.dropped_circuit_open == ARTICLES - len(hits)
        assert result.circuit_open_sites == [site.base]
        assert result.counts["error_CircuitOpen"] == ARTICLES - len(hits)
        # One row per attempt that reached the server, none for the dropped URLs.
        rows = [r for r in rows_of(tmp_path, "c-down") if "/a/" in r["url"]]
        assert Counter(r["url"].removeprefix(site.base) for r in rows) == hits
        assert {r["status"] for r in rows} == {503}
        assert result.status_counts == {"200": 1, "503": sum(hits.values())}
        warnings = [line for line in proc.stderr.splitlines() if "circuit open for" in line]
        assert len(warnings) == 1, proc.stderr[-2000:]
        assert site.base in warnings[0] and "5 URLs in a row" in warnings[0]
        assert "HTTP 503" in warnings[0]

        # Dropped URLs were not archived: the next run, the site healthy again, fetches all.
        healthy = True
        rerun = run_crawl(source, str(tmp_path), crawl_id="c-up")
        assert rerun.dropped_circuit_open == 0 and rerun.circuit_open_sites == []
    fetched = {r["url"] for r in rows_of(tmp_path, "c-up") if r["status"] == 200}
    assert {f"{site.base}/a/{i}.html" for i in range(ARTICLES)} <= fetched


def test_refused_host_is_cut_off_and_the_live_site_is_crawled_fully(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    links = [f"{dead}/a/{i}.html" for i in range(ARTICLES)]
    with Site(lambda i, attempt: 200, extra_links=links) as site:
        source = site_source(
            site.base,
            feeds=[],
            sitemaps=[],
            article_url_patterns=["/a/"],
            max_depth=1,
            obey_robots=True,  # the dead host's robots.txt fails too: it must not count
            retry_times=1,
            retry_backoff=0,
            concurrency_per_domain=2,
            circuit_breaker_failures=4,
        )
        result = run_crawl(source, str(tmp_path), crawl_id="c1")
        hits = site.article_hits()
    assert hits == Counter({f"/a/{i}.html": 1 for i in range(ARTICLES)})  # the live site, all
    rows = rows_of(tmp_path, "c1")
    dead_rows = [r for r in rows if r["url"].startswith(dead + "/a/")]
    tried = Counter(r["url"] for r in dead_rows)
    assert 4 <= len(tried) <= 4 + 2 * 2 and set(tried.values()) == {2}, tried
    assert all(r["status"] is None and "Connection" in r["error"] for r in dead_rows)
    assert result.dropped_circuit_open == ARTICLES - len(tried)
    assert result.circuit_open_sites == [dead]  # the live site on the same host is not
    # Both robots.txt were fetched (the dead one failing, and retried) and recorded.
    robots = Counter(r["url"] for r in rows if r["url"].endswith("/robots.txt"))
    assert robots == {f"{site.base}/robots.txt": 1, f"{dead}/robots.txt": 2}


def test_a_success_resets_the_count(tmp_path: Path) -> None:
    # Every other article always fails; one request at a time, so answers alternate.
    with Site(lambda i, attempt: 503 if i % 2 else 200) as site:
        source = sitemap_site(site.base, circuit_breaker_failures=2, concurrency_per_domain=1)
        result = run_crawl(source, str(tmp_path))
        hits = site.article_hits()
    # Every URL tried; the failing ones twice (retries come last, in a row: not counted).
    assert len(hits) == ARTICLES
    assert [hits[f"/a/{i}.html"] for i in range(ARTICLES)] == [1, 2] * (ARTICLES // 2)
    assert result.dropped_circuit_open == 0 and result.circuit_open_sites == []


def test_zero_turns_the_breaker_off(tmp_path: Path) -> None:
    with Site(lambda i, attempt: 503) as site:
        source = sitemap_site(site.base, circuit_breaker_failures=0, concurrency_per_domain=4)
        result = run_crawl(source, str(tmp_path))
        hits = site.article_hits()
    assert hits == Counter({f"/a/{i}.html": 2 for i in range(ARTICLES)})
    assert result.dropped_circuit_open == 0 and result.status_counts["503"] == 2 * ARTICLES


def test_default_is_on() -> None:
    source = parse_config({"sources": {"a": {}}}).source("a")
    assert source.circuit_breaker_failures == 10


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"sources": {"a": {"circuit_breaker_failures": -1}}},
            "f.yaml: sources.a.circuit_breaker_failures: Input should be greater than or equal",
        ),
        (
            {"defaults": {"circuit_breaker_failures": "many"}, "sources": {"a": {}}},
            "f.yaml: defaults.circuit_breaker_failures: ",
        ),
    ],
)
def test_bad_values_are_one_line_config_errors(doc: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "f.yaml")
    assert expected in str(info.value) and "\n" not in str(info.value)
