"""`newsarchive demo`: serve the bundled sample site on 127.0.0.1 and crawl it end to end."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from flows.demo_site import DemoSite, load_site, render

logger = logging.getLogger(__name__)

DEMO_SOURCE = "alder-bay"


def serve_demo_site(
    port: int = 0, *, updates: Mapping[str, str] | None = None
) -> tuple[str, Callable[[], None]]:
    """Serve the sample site on 127.0.0.1:`port` (0 = a free port) in a background thread.

    Returns the base URL and a function that stops the server. `updates` (slug -> extra
    paragraph) is read on every request, so a caller may change it between two crawls.
    """
    site = load_site()
    server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(site, updates))
    server.daemon_threads = True
    base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return base_url, stop


def _make_handler(
    site: DemoSite, updates: Mapping[str, str] | None
) -> type[BaseHTTPRequestHandler]:
    class DemoHandler(BaseHTTPRequestHandler):
        server_version = "AlderBayChronicle/1.0"

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def _respond(self, *, send_body: bool) -> None:
            port = cast(ThreadingHTTPServer, self.server).server_port
            response = render(site, self.path, f"http://127.0.0.1:{port}", updates)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if send_body:
                self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("demo site: " + format, *args)

    return DemoHandler


def demo_config(base_url: str) -> dict[str, Any]:
    """A sources document (the shape of config/sources.yaml) for the sample site."""
    return {
        "defaults": {
            "user_agent": "newsarchive-demo/0.1 (+https://github.com/newsarchive/newsarchive)",
            "obey_robots": True,
            "max_pages": 200,
            "allow_private_addresses": True,
            "autothrottle": False,
        },
        "sources": {
            DEMO_SOURCE: {
                "start_urls": [f"{base_url}/"],
                "feeds": [f"{base_url}/feed/"],
                "sitemaps": [f"{base_url}/robots.txt"],
                "allowed_domains": ["127.0.0.1"],
                "follow_links": True,
                "max_depth": 2,
                "article_url_patterns": [r"/20\d\d/\d\d/[^/]+/$"],
            }
        },
    }


#: The demo prefers a fixed port so that URLs (and so article ids) are the same on every
#: run: a second `newsarchive demo` then shows dedup at work (no new rows).
DEMO_PORT = 8931


def run_demo(root: str = "archive-demo", *, quiet: bool = False) -> int:
    """Serve the sample site, crawl it through the real flow into `root`, print what landed."""
    from crawlers.config import parse_config
    from flows.cli import _print_crawl_results, prefect_api
    from flows.pipeline import crawl_sources

    try:
        base_url, stop = serve_demo_site(DEMO_PORT)
    except OSError:
        base_url, stop = serve_demo_site(0)
    source = parse_config(demo_config(base_url), "<demo config>").source(DEMO_SOURCE)
    where = root if "://" in root else str(Path(root).expanduser().resolve())
    print(f"sample site: {base_url}/  ({len(load_site().articles)} articles)")
    print(f"archive:     {where}")
    print("starting Prefect and crawling (about 30 s) ...", flush=True)
    try:
        with prefect_api():
            results = crawl_sources(root=root, sources=[source])
    finally:
        stop()
    code = _print_crawl_results(results, quiet=quiet)
    if code == 0:
        _print_landed(root)
    return code


def _print_landed(root: str) -> None:
    from flows.cli import _table
    from storage.views import connect

    con = connect(root)
    per_snapshot = con.sql(
        "select snapshot_id, count(*) as articles from articles group by 1 order by 1"
    ).fetchall()
    print("\narticles per snapshot:")
    print(_table(["snapshot_id", "articles"], [[str(a), str(b)] for a, b in per_snapshot]))
    titles = con.sql(
        "select cast(published_at as date) as published, language, title"
        " from latest_articles order by published_at desc nulls last limit 5"
    ).fetchall()
    print("latest articles:")
    print(_table(["published", "language", "title"], [[str(c or "") for c in r] for r in titles]))
    root_flag = "" if root == "archive" else f" --root {root}"
    print("next, try:")
    print(
        f'  newsarchive query "select title, published_at, word_count from latest_articles"'
        f"{root_flag}"
    )
    print(f"  newsarchive snapshots{root_flag}")
    print(f"  duckdb -c \"select count(*) from read_parquet('{root}/articles/**/*.parquet')\"")
