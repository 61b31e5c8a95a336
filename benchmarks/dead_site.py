"""Dead site: a crawl of N URLs that all fail, with the circuit breaker off and on.

Two failing sites, each listed by a sitemap on a live local server (127.0.0.1, port 0):
`refused` (the URLs are on a closed port: every connection refused) and `503` (the live
server answers every article 503). Each is crawled twice with the default retry settings
(`retry_times` 2, `retry_backoff` 1 s, concurrency 8): `circuit_breaker_failures` 0 (off)
and 10 (the default). Reports wall time, the crawl process's CPU time, fetch attempts (pages
rows of the failing URLs; server-side requests for `503`) and the requests dropped.
`--healthy N` instead measures what the breaker costs a healthy crawl: N generated pages
(tests/fixtures/server.py) crawled with it off and on, 3 runs each, CPU ms per page of the
crawl process. Not part of `make test`.

    .venv/bin/python benchmarks/dead_site.py [--urls 200] [--breaker 10] [--healthy 3000]
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from crawlers.config import parse_config  # noqa: E402 - after sys.path
from crawlers.runner import run_crawl  # noqa: E402
from storage.pages import read_pages  # noqa: E402


class Server:
    """`/sitemap.xml` lists `target/a/<i>.html`; `/a/...` answers 503; counts the 503s."""

    def __init__(self, urls: int) -> None:
        self.urls = urls
        self.target = ""
        self.served_503 = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/sitemap.xml":
                    locs = "".join(
                        f"<url><loc>{server.target}/a/{i}.html</loc></url>"
                        for i in range(server.urls)
                    )
                    body = f"<urlset>{locs}</urlset>".encode()
                    code = 200
                elif self.path.startswith("/a/"):
                    with server.lock:
                        server.served_503 += 1
                    body, code = b"<html><body>busy</body></html>", 503
                else:
                    body, code = b"", 404
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def crawl(server: Server, kind: str, breaker: int) -> dict[str, Any]:
    server.target = f"http://127.0.0.1:{closed_port()}" if kind == "refused" else server.base
    server.served_503 = 0
    body = {
        "sitemaps": [server.base + "/sitemap.xml"],
        "allowed_domains": ["127.0.0.1"],
        "article_url_patterns": ["/a/"],
        "max_depth": 0,
        "obey_robots": False,
        "allow_private_addresses": ["127.0.0.1"],
        "autothrottle": False,
        "download_timeout": 5.0,
        "circuit_breaker_failures": breaker,
    }
    source = parse_config({"sources": {"dead": body}}, "<bench>").source("dead")
    with tempfile.TemporaryDirectory() as root:
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        result = run_crawl(source, root, timeout=1800)
        wall = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = read_pages(root, "dead").to_pylist()
    attempts = sum(1 for r in rows if r["url"].startswith(server.target + "/a/"))
    return {
        "site": kind,
        "breaker": breaker,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
        "attempts": attempts,
        "urls_tried": len({r["url"] for r in rows if r["url"].startswith(server.target + "/a/")}),
        "served_503": server.served_503 if kind == "503" else None,
        "dropped": result.dropped_circuit_open,
    }


def healthy(pages: int, breaker: int) -> None:
    """CPU ms per page of a crawl of `pages` generated pages, breaker off vs on (3 runs)."""
    import importlib.util
    import statistics

    path = HERE.parent / "tests" / "fixtures" / "server.py"
    spec = importlib.util.spec_from_file_location("fixture_server", path)
    assert spec is not None and spec.loader is not None
    server = importlib.util.module_from_spec(spec)
    sys.modules["fixture_server"] = server  # its dataclasses look their module up
    spec.loader.exec_module(server)
    per_page: dict[int, list[float]] = {0: [], breaker: []}
    options = server.ServerOptions(generate=pages)
    with server.FixtureServer(server.DEFAULT_ROOT, options) as srv:
        body = {
            "sitemaps": [srv.base + "/gen/sitemap.xml"],
            "allowed_domains": ["127.0.0.1"],
            "article_url_patterns": ["/gen/2026/"],
            "max_depth": 0,
            "max_pages": pages + 10,
            "obey_robots": False,
            "allow_private_addresses": ["127.0.0.1"],
            "concurrency_per_domain": 16,
        }
        for _ in range(3):
            for value in per_page:
                doc = {"sources": {"ok": {**body, "circuit_breaker_failures": value}}}
                source = parse_config(doc, "<bench>").source("ok")
                with tempfile.TemporaryDirectory() as root:
                    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    result = run_crawl(source, root, timeout=1800)
                    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
                per_page[value].append(cpu * 1000 / max(result.pages_fetched, 1))
    for value, runs in per_page.items():
        print(
            f"breaker {value}: crawl CPU {statistics.median(runs):.3f} ms/page (median of "
            f"{[round(x, 3) for x in runs]}), {pages} healthy pages"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=200)
    parser.add_argument("--breaker", type=int, default=10)
    parser.add_argument("--healthy", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.healthy:
        healthy(args.healthy, args.breaker)
        return 0
    server = Server(args.urls)
    print(f"{args.urls} failing URLs, retry_times 2, retry_backoff 1 s, concurrency 8")
    for kind in ("refused", "503"):
        for breaker in (0, args.breaker):
            print(crawl(server, kind, breaker), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
