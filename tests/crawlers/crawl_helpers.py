"""Helpers for crawler tests: the fixture server module and a source config for the fixture site."""

from __future__ import annotations

import importlib.util
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from crawlers.config import ResolvedSource, parse_config
from crawlers.runner import child_command, child_env

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SITE = FIXTURES / "site"


def load_server_module() -> ModuleType:
    """tests/fixtures/server.py, imported by path (tests/ is not a package)."""
    name = "newsarchive_fixture_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fixture_server = load_server_module()


def site_source(base: str, **overrides: Any) -> ResolvedSource:
    """The fixture site as a configured source (validated like a real config file)."""
    body: dict[str, Any] = {
        "start_urls": [base + "/"],
        "feeds": [base + "/feed.xml"],
        "sitemaps": [base + "/robots.txt"],
        "allowed_domains": ["127.0.0.1"],
        "article_url_patterns": [r"/20\d\d/\d\d/"],
        "max_depth": 2,
        "allow_private_addresses": True,
        "download_maxsize": 1024 * 1024,
        "download_timeout": 1.0,
        "retry_times": 1,
        "retry_backoff": 0.25,
        "autothrottle": False,
    }
    body.update(overrides)
    return parse_config({"sources": {"site": body}}, "<test>").source("site")


def sitemap_source(base: str, **overrides: Any) -> ResolvedSource:
    """The generated site's articles, found through its sitemap only (no links, no robots)."""
    settings: dict[str, Any] = {
        "start_urls": [],
        "feeds": [],
        "sitemaps": [base + "/gen/sitemap.xml"],
        "article_url_patterns": ["/gen/2026/"],
        "max_depth": 0,
        "obey_robots": False,
    }
    settings.update(overrides)
    return site_source(base, **settings)


def spawn_job(job: dict[str, Any], **popen: Any) -> subprocess.Popen[str]:
    """The crawl process (`python -m crawlers.process`) started on `job`; returns at once."""
    popen.setdefault("env", child_env())
    proc = subprocess.Popen(child_command(), stdin=subprocess.PIPE, text=True, **popen)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    proc.stdin = None  # communicate() must not touch it again
    return proc


def run_job(
    job: dict[str, Any], *, timeout: float = 60, **run: Any
) -> subprocess.CompletedProcess[str]:
    """The crawl process run on `job` to its end, output captured (not checked)."""
    run.setdefault("env", child_env())
    return subprocess.run(
        child_command(),
        input=json.dumps(job),
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
        **run,
    )


@contextmanager
def static_site(directory: Path, host: str = "127.0.0.1") -> Iterator[tuple[str, Counter[str]]]:
    """`directory` served by http.server on `host` (an IPv6 address too), port 0; yields
    the base URL and a Counter of the paths requested (percent-decoded)."""
    hits: Counter[str] = Counter()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            hits[unquote(self.path)] += 1

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    httpd = Server((host, 0), partial(Handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    netloc = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{netloc}:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


#: (path, attempt) -> (status, headers, body); `attempt` counts earlier requests of the path.
Answer = Callable[[str, int], tuple[int, dict[str, str], bytes]]


@contextmanager
def answering_site(answer: Answer) -> Iterator[tuple[str, Counter[str]]]:
    """A site on 127.0.0.1, port 0, whose every GET is answered by `answer`; yields the base
    URL and a Counter of the paths requested (with their query strings; thread-safe)."""
    hits: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                attempt = hits[self.path]
                hits[self.path] += 1
            status, headers, body = answer(self.path, attempt)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def http(status_line: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    """An HTTP/1.x response, byte for byte (`raw_site` closes the connection after it)."""
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return status_line + b"\r\n" + head + b"\r\n" + body


#: A route of `raw_site` answers with these exact bytes, or with what a callable returns for
#: (base URL, request bytes).
Route = bytes | Callable[[str, bytes], bytes]


@contextmanager
def raw_site(
    routes: dict[str, Route], *, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, Counter[str]]]:
    """A socket server on 127.0.0.1, port 0: each request gets its route's bytes, then the
    connection is closed (404 for unknown paths); over TLS with `tls`. `routes` is read per
    request, so it may be filled in after the start. Yields the base URL and the paths hit."""
    hits: Counter[str] = Counter()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    def handle(conn: socket.socket) -> None:
        with suppress(OSError), conn:
            stream = tls.wrap_socket(conn, server_side=True) if tls else conn
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = stream.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode("latin-1")
            hits[path] += 1
            route = routes.get(path, not_found)
            stream.sendall(route(base, data) if callable(route) else route)
            if isinstance(stream, ssl.SSLSocket):
                stream.unwrap()  # close_notify: a clean end of the TLS stream
            else:
                stream.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield base, hits
    finally:
        sock.close()
