"""Fetching and archiving against servers that send exact bytes: encodings, status lines, robots."""

from __future__ import annotations

import base64
import gzip
import hashlib
import time
import zlib
from collections import Counter
from email.utils import formatdate
from pathlib import Path
from typing import Any

import brotli
from crawl_helpers import Route, http, raw_site, site_source
from warcio.archiveiterator import ArchiveIterator

from crawlers.runner import run_crawl
from storage.pages import read_pages
from storage.warc import iter_records, read_record

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,unused-ignore,no-redef]

HTML = (
    b"<html><head><title>Edge</title></head><body><p>" + b"news text " * 60 + b"</p></body></html>"
)


def crawl(base: str, paths: list[str], root: Path, **overrides: Any) -> dict[str, dict[str, Any]]:
    """One crawl of `paths` (start pages, links not followed); pages rows by path."""
    settings: dict[str, Any] = {
        "start_urls": [base + p for p in paths],
        "feeds": [],
        "sitemaps": [],
        "obey_robots": False,
        "retry_times": 0,
        "follow_links": False,
    }
    settings.update(overrides)
    run_crawl(site_source(base, **settings), str(root))
    return {r["url"][len(base) :]: r for r in read_pages(str(root), "site").to_pylist()}


def stored_payload(root: Path, row: dict[str, Any]) -> tuple[Any, bytes]:
    """The response record of a row read with warcio alone, and its payload as stored."""
    with open(root / row["warc_file"], "rb") as f:
        f.seek(row["warc_offset"])
        record = next(iter(ArchiveIterator(f)))
        return record, record.raw_stream.read()


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def test_every_content_coding_scrapy_asks_for_is_archived_raw_and_read_back_decoded(
    tmp_path: Path,
) -> None:
    # Scrapy sends `Accept-Encoding: gzip, deflate, br, zstd`: sites answer with any of
    # them. warcio's br decoder fails to start with brotli 1.2 (every br record raised
    # WarcError on read) and it has no zstd (extraction got the compressed bytes).
    bodies = {
        "/gzip": (b"gzip", gzip.compress(HTML)),
        "/x-gzip": (b"x-gzip", gzip.compress(HTML)),  # warcio: returned still compressed
        "/upper-case": (b"GZIP", gzip.compress(HTML)),
        "/zlib-deflate": (b"deflate", zlib.compress(HTML)),
        "/raw-deflate": (b"deflate", _raw_deflate(HTML)),
        "/br": (b"br", brotli.compress(HTML)),
        "/zstd": (b"zstd", zstd.compress(HTML)),
        "/gzip-twice": (b"gzip, gzip", gzip.compress(gzip.compress(HTML))),
        "/br-over-gzip": (b"gzip, br", brotli.compress(gzip.compress(HTML))),
        "/unknown": (b"x-custom", HTML),
    }
    routes: dict[str, Route] = {
        path: http(
            b"HTTP/1.1 200 OK",
            [
                (b"Content-Type", b"text/html; charset=utf-8"),
                (b"Content-Encoding", coding),
                (b"Content-Length", str(len(body)).encode()),
            ],
            body,
        )
        for path, (coding, body) in bodies.items()
    }
    with raw_site(routes) as (base, _):
        rows = crawl(base, list(routes), tmp_path)
    assert set(rows) == set(routes)
    for path, (_, sent) in bodies.items():
        row = rows[path]
        assert row["status"] == 200 and row["error"] is None, (path, row["error"])
        record, stored = stored_payload(tmp_path, row)
        assert stored == sent, path  # the bytes as received
        assert row["payload_digest"] == sha1_b32(sent) == record.rec_headers["WARC-Payload-Digest"]
        data = read_record(str(tmp_path), row["warc_file"], row["warc_offset"], row["warc_length"])
        assert data.payload == HTML, path  # what extraction reads
        capped = read_record(
            str(tmp_path), row["warc_file"], row["warc_offset"], row["warc_length"], max_payload=20
        )
        assert capped.payload == HTML[:20] and capped.truncated, path


def _robots_site(status: bytes) -> dict[str, Route]:
    page = http(b"HTTP/1.1 200 OK", [(b"Content-Length", str(len(HTML)).encode())], HTML)
    error_page = b"<html><body>Service unavailable</body></html>"
    robots = http(
        b"HTTP/1.1 " + status,
        [(b"Content-Type", b"text/html"), (b"Content-Length", str(len(error_page)).encode())],
        error_page,
    )
    return {"/robots.txt": robots, "/2026/11/story.html": page}


def test_robots_txt_answering_5xx_disallows_the_site_for_the_crawl(tmp_path: Path) -> None:
    # RFC 9309 2.3.1.3: a 5xx robots.txt means complete disallow. Scrapy parsed the error
    # page as robots.txt instead (no rules: everything allowed).
    with raw_site(_robots_site(b"503 Service Unavailable")) as (base, hits):
        source = site_source(
            base,
            start_urls=[base + "/2026/11/story.html"],
            feeds=[],
            sitemaps=[],
            retry_times=1,
            retry_backoff=0.0,
        )
        result = run_crawl(source, str(tmp_path))
    assert hits == Counter({"/robots.txt": 2})  # first attempt + 1 retry, then nothing
    assert result.robots_forbidden == 1
    rows = read_pages(str(tmp_path), "site").to_pylist()
    assert [(r["url"], r["status"]) for r in rows] == [(base + "/robots.txt", 503)] * 2


def test_robots_txt_answering_4xx_allows_the_site(tmp_path: Path) -> None:
    for status in (b"404 Not Found", b"410 Gone", b"429 Too Many Requests"):
        root = tmp_path / status.split()[0].decode()
        with raw_site(_robots_site(status)) as (base, hits):
            rows = crawl(base, ["/2026/11/story.html"], root, obey_robots=True)
        assert hits["/2026/11/story.html"] == 1, status
        assert rows["/2026/11/story.html"]["status"] == 200


def warc_block(root: Path, row: dict[str, Any]) -> bytes:
    """The HTTP block (head + payload) of a row's response record, byte for byte."""
    with open(root / row["warc_file"], "rb") as f:
        f.seek(row["warc_offset"])
        raw = zlib.decompress(f.read(row["warc_length"]), 16 + zlib.MAX_WBITS)
    warc_head, _, rest = raw.partition(b"\r\n\r\n")
    length = int(warc_head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return rest[:length]


def test_response_head_is_archived_as_received(tmp_path: Path) -> None:
    # Twisted keeps only the status code, drops Connection / Keep-Alive /
    # Transfer-Encoding, canonicalizes name case, groups repeated headers by name and
    # unfolds obs-fold; Scrapy adds a Content-Length the server never sent (204) and
    # warcio rewrote a latin-1 value as RFC 5987 `filename*=UTF-8''...`.
    heads = {
        "/okay": b"HTTP/1.1 200 Okay\r\n"
        b"Set-Cookie: a=1\r\nLink: <x>; rel=a\r\nSet-Cookie: b=2\r\nLink: <y>; rel=b\r\n"
        b'etag: W/"v1"\r\nConnection: close\r\nX-Folded: one\r\n  two\r\n'
        b'Content-Disposition: inline; filename="caf\xe9.html"\r\n'
        b"Content-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(HTML),
        "/no-reason": b"HTTP/1.1 200\r\nContent-Length: %d\r\n\r\n" % len(HTML),
        "/origin-error": b"HTTP/1.1 520 Origin Error\r\nContent-Length: %d\r\n\r\n" % len(HTML),
        "/old": b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n",  # body ends at close
        "/no-content": b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
    }
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\n\r\n"
    routes: dict[str, Route] = {
        p: h + (b"" if p == "/no-content" else HTML) for p, h in heads.items()
    }
    routes["/chunked"] = chunked + b"%x\r\n%s\r\n0\r\n\r\n" % (len(HTML), HTML)
    with raw_site(routes) as (base, _):
        rows = crawl(base, list(routes), tmp_path)
    for path, head in heads.items():
        body = b"" if path == "/no-content" else HTML
        assert warc_block(tmp_path, rows[path]) == head + body, path
        assert rows[path]["payload_digest"] == sha1_b32(body)
    # De-chunked payload: its Transfer-Encoding is kept under another name, nothing else.
    renamed = chunked.replace(b"Transfer-Encoding", b"X-Archive-Orig-Transfer-Encoding")
    assert warc_block(tmp_path, rows["/chunked"]) == renamed + HTML

    def read(path: str) -> Any:
        row = rows[path]
        return read_record(str(tmp_path), row["warc_file"], row["warc_offset"], row["warc_length"])

    okay = read("/okay")
    assert (okay.status, okay.reason, okay.payload) == (200, "Okay", HTML)
    assert [(k, v) for k, v in okay.http_headers if k in ("Set-Cookie", "Link")] == [
        ("Set-Cookie", "a=1"),
        ("Link", "<x>; rel=a"),
        ("Set-Cookie", "b=2"),
        ("Link", "<y>; rel=b"),
    ]
    assert okay.header("ETag") == 'W/"v1"' and okay.header("Content-Disposition") == (
        'inline; filename="café.html"'
    )
    assert (read("/origin-error").status, read("/origin-error").reason) == (520, "Origin Error")
    assert rows["/origin-error"]["status"] == 520 and rows["/no-content"]["status"] == 204
    assert read("/old").payload == HTML and read("/chunked").payload == HTML
    # The request records: the request line as sent (it had no HTTP version before).
    (warc,) = {r["warc_file"] for r in rows.values()}
    requests = [
        zlib.decompress(
            (tmp_path / warc).read_bytes()[ref.offset : ref.offset + ref.length], 47
        ).split(b"\r\n\r\n", 2)[1]
        for ref, record in iter_records(str(tmp_path), warc)
        if record.record_type == "request"
    ]
    assert sorted(r.split(b"\r\n", 1)[0] for r in requests) == sorted(
        b"GET %s HTTP/1.1" % p.encode() for p in routes
    )


def test_redirects_into_an_article_fetched_or_archived_already_are_not_followed(
    tmp_path: Path,
) -> None:
    def page(body: bytes) -> bytes:
        return http(b"HTTP/1.1 200 OK", [(b"Content-Length", str(len(body)).encode())], body)

    def moved(location: bytes) -> bytes:
        return http(b"HTTP/1.1 301 Moved", [(b"Location", location), (b"Content-Length", b"0")])

    linked = (b"r1", b"r2", b"r3", b"2026/11/b.html", b"2026/11/c.html")
    links = b"".join(b'<a href="/%s">x</a>' % p for p in linked)
    routes: dict[str, Route] = {
        "/": page(b"<html><body>" + links + b"</body></html>"),
        "/r1": moved(b"/2026/11/a.html"),
        "/r2": moved(b"/2026/11/a.html?utm_source=feed"),  # the url_key of /2026/11/a.html
        "/r3": moved(b"/2026/11/b.html?utm_medium=x"),  # b.html is linked directly too
        # A hop to its own chain's key is followed (the site adds a tracking parameter).
        "/2026/11/c.html": moved(b"/2026/11/c.html?utm_source=x"),
        "/2026/11/a.html": page(HTML),
        "/2026/11/a.html?utm_source=feed": page(HTML),
        "/2026/11/b.html": page(HTML),
        "/2026/11/b.html?utm_medium=x": page(HTML),
        "/2026/11/c.html?utm_source=x": page(HTML),
    }
    with raw_site(routes) as (base, hits):
        source = site_source(
            base, start_urls=[base + "/"], feeds=[], sitemaps=[], obey_robots=False, retry_times=0
        )
        run_crawl(source, str(tmp_path))
        first = Counter(hits)
        hits.clear()
        second = run_crawl(source, str(tmp_path))
    # Run 1: each article fetched once, whichever URL led to it (a.html and a.html?utm_source
    # both were before: Scrapy's duplicate filter compares exact URLs).
    assert first["/2026/11/a.html"] + first["/2026/11/a.html?utm_source=feed"] == 1, first
    assert first["/2026/11/b.html"] == 1 and first["/2026/11/b.html?utm_medium=x"] == 0
    assert first["/2026/11/c.html?utm_source=x"] == 1 and first["/2026/11/c.html"] == 1
    # Run 2: the redirects are fetched, their archived targets are not.
    assert set(hits) == {"/", "/r1", "/r2", "/r3"}, hits
    assert second.skipped_archived >= 3
    rows = read_pages(str(tmp_path), "site").to_pylist()
    assert {r["status"] for r in rows} == {200, 301}


def test_robots_txt_redirected_to_another_host_gives_that_files_rules(tmp_path: Path) -> None:
    # RFC 9309 2.3.1.2: robots.txt redirects are followed, across hosts too. Scrapy's
    # offsite filter dropped the hop, so the site had no rules at all.
    rules = b"User-agent: *\nDisallow: /2026/\n"

    def moved(base: str, _: bytes) -> bytes:
        location = base.replace("127.0.0.1", "localhost") + "/moved-robots.txt"
        return http(b"HTTP/1.1 301 Moved", [(b"Location", location.encode())])

    routes: dict[str, Route] = {
        "/robots.txt": moved,
        "/moved-robots.txt": http(b"HTTP/1.1 200 OK", [(b"Content-Type", b"text/plain")], rules),
        "/2026/11/story.html": http(b"HTTP/1.1 200 OK", [], HTML),
        # An article redirected to the other host is still refused (not an allowed domain).
        "/moved.html": moved,
    }
    with raw_site(routes) as (base, hits):
        starts = [base + "/2026/11/story.html", base + "/moved.html"]
        source = site_source(base, start_urls=starts, feeds=[], sitemaps=[], retry_times=0)
        result = run_crawl(source, str(tmp_path))
    assert hits == Counter({"/robots.txt": 1, "/moved-robots.txt": 1, "/moved.html": 1})
    assert result.robots_forbidden == 1 and result.dropped_offsite == 1
    rows = read_pages(str(tmp_path), "site").to_pylist()
    moved_robots = base.replace("127.0.0.1", "localhost") + "/moved-robots.txt"
    robots = {
        r["url"]: (r["status"], r["final_url"]) for r in rows if r["discovered_via"] == "robots"
    }
    assert robots == {base + "/robots.txt": (301, moved_robots), moved_robots: (200, moved_robots)}


def test_retry_after_beyond_the_cap_is_not_retried_early(tmp_path: Path) -> None:
    # Retry-After longer than the 120 s cap: the retry went out after 120 s, long before
    # the server asked (and held the crawl that long). Now the URL waits for the next run.
    later = formatdate(time.time() + 7200, usegmt=True).encode()
    routes: dict[str, Route] = {
        "/2026/11/a.html": http(b"HTTP/1.1 503 Service Unavailable", [(b"Retry-After", b"3600")]),
        "/2026/11/b.html": http(b"HTTP/1.1 429 Too Many Requests", [(b"Retry-After", later)]),
    }
    with raw_site(routes) as (base, hits):
        started = time.monotonic()
        rows = crawl(base, list(routes), tmp_path, retry_times=2)
        took = time.monotonic() - started
    assert hits == Counter({"/2026/11/a.html": 1, "/2026/11/b.html": 1})
    assert {p: r["status"] for p, r in rows.items()} == {
        "/2026/11/a.html": 503,
        "/2026/11/b.html": 429,
    }
    assert took < 60  # not the 120 s cap


def test_a_shorter_retry_after_does_not_end_the_sites_pause(tmp_path: Path) -> None:
    # a.html: 503 with Retry-After: 2 pauses the site. c.html answers later with
    # Retry-After: 0: its retry cancelled the pause and went out at once.
    times: dict[str, list[float]] = {"a": [], "c": []}

    def answer(name: str, first: bytes, delay: float) -> Route:
        def route(base: str, request: bytes) -> bytes:
            times[name].append(time.monotonic())
            if len(times[name]) > 1:
                return http(b"HTTP/1.1 200 OK", [], HTML)
            time.sleep(delay)
            return first

        return route

    routes: dict[str, Route] = {
        "/2026/11/a.html": answer("a", http(b"HTTP/1.1 503 Busy", [(b"Retry-After", b"2")]), 0),
        "/2026/11/c.html": answer("c", http(b"HTTP/1.1 429 Slow", [(b"Retry-After", b"0")]), 0.4),
    }
    with raw_site(routes) as (base, _):
        rows = crawl(base, list(routes), tmp_path, retry_times=1, concurrency_per_domain=2)
    assert rows["/2026/11/a.html"]["status"] == rows["/2026/11/c.html"]["status"] == 200
    assert times["c"][1] - times["a"][0] >= 1.9, times


def test_br_and_zstd_bombs_are_flagged_and_read_back_bounded(tmp_path: Path) -> None:
    zeros = bytes(16 * 1024 * 1024)  # 16 MB decoded, above the test source's 1 MB cap
    bombs = {
        "/bomb-br": (b"br", brotli.compress(zeros)),
        "/bomb-zstd": (b"zstd", zstd.compress(zeros)),
    }
    routes: dict[str, Route] = {
        path: http(
            b"HTTP/1.1 200 OK",
            [(b"Content-Type", b"text/html"), (b"Content-Encoding", coding)],
            body,
        )
        for path, (coding, body) in bombs.items()
    }
    with raw_site(routes) as (base, _):
        rows = crawl(base, list(routes), tmp_path)
    for path, (_, sent) in bombs.items():
        row = rows[path]
        assert "exceeds download_maxsize" in row["error"], path
        assert stored_payload(tmp_path, row)[1] == sent
        data = read_record(
            str(tmp_path),
            row["warc_file"],
            row["warc_offset"],
            row["warc_length"],
            max_payload=4096,
        )
        assert data.truncated and data.payload == bytes(4096), path


def test_a_header_name_twisted_refuses_does_not_fail_the_fetch(tmp_path: Path) -> None:
    # `Content-Type : text/html` (PHP's header() writes what it is given) and a name with
    # a space inside made Twisted raise InvalidHeaderName: the fetch failed as
    # DownloadFailedError and was retried, for a page any browser shows.
    heads = {
        "/space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Type : text/html\r\n",
        "/space-in-name": b"HTTP/1.1 200 OK\r\nX Powered By: php\r\nContent-Type: text/html\r\n",
        "/no-colon": b"HTTP/1.1 200 OK\r\nnot a header line\r\nContent-Type: text/html\r\n",
        "/bare-lf": b"HTTP/1.1 200 OK\nContent-Type: text/html\n",
    }
    routes: dict[str, Route] = {}
    for path, head in heads.items():
        eol = b"\n" if path == "/bare-lf" else b"\r\n"
        routes[path] = head + b"Content-Length: %d%s%s" % (len(HTML), eol, eol) + HTML
    with raw_site(routes) as (base, hits):
        rows = crawl(base, list(routes), tmp_path, retry_times=1)
    assert hits == Counter(dict.fromkeys(routes, 1))
    for path, route in routes.items():
        row = rows[path]
        assert (row["status"], row["error"], row["content_type"]) == (200, None, "text/html"), path
        assert warc_block(tmp_path, row) == route, path  # the bad line archived as sent
        data = read_record(str(tmp_path), row["warc_file"], row["warc_offset"], row["warc_length"])
        assert data.payload == HTML, path


def test_conditional_get_with_a_weak_lower_case_etag_and_a_bare_304(tmp_path: Path) -> None:
    # The validators are read back from the archived head, now stored as sent (`etag:` in
    # lower case, a weak `W/` tag); the 304 carries no validators at all.
    index = b'<html><body><a href="/2026/11/a.html">a</a></body></html>'
    sent: list[bytes] = []

    def start(base: str, request: bytes) -> bytes:
        sent.append(request)
        if b"if-none-match" in request.lower():
            return b"HTTP/1.1 304 Not Modified\r\n\r\n"
        return http(
            b"HTTP/1.1 200 OK",
            [(b"content-type", b"text/html"), (b"etag", b'W/"v1"')],
            index,
        )

    routes: dict[str, Route] = {"/": start, "/2026/11/a.html": http(b"HTTP/1.1 200 OK", [], HTML)}
    with raw_site(routes) as (base, hits):
        source = site_source(
            base, start_urls=[base + "/"], feeds=[], sitemaps=[], obey_robots=False, retry_times=0
        )
        runs = [run_crawl(source, str(tmp_path)) for _ in range(3)]
    assert [r.status_counts for r in runs] == [{"200": 2}, {"304": 1}, {"304": 1}]
    assert hits == Counter({"/": 3, "/2026/11/a.html": 1})
    assert [b'if-none-match: w/"v1"' in r.lower() for r in sent] == [False, True, True]
    assert runs[1].skipped_archived == runs[2].skipped_archived == 1  # links of the stored page


def test_a_start_page_whose_body_was_unusable_is_fetched_again_unconditionally(
    tmp_path: Path,
) -> None:
    # A gzip bomb with an ETag: its row carries an error, so its stored copy may not stand in
    # for a 304 (the spider would decode all of it for the links): no If-None-Match next run.
    bomb = gzip.compress(bytes(16 * 1024 * 1024))
    sent: list[bytes] = []

    def start(base: str, request: bytes) -> bytes:
        sent.append(request)
        if b"if-none-match" in request.lower():
            return b"HTTP/1.1 304 Not Modified\r\n\r\n"
        headers = [(b"Content-Type", b"text/html"), (b"Content-Encoding", b"gzip")]
        return http(b"HTTP/1.1 200 OK", [*headers, (b"ETag", b'"v1"')], bomb)

    with raw_site({"/": start}) as (base, _):
        source = site_source(
            base, start_urls=[base + "/"], feeds=[], sitemaps=[], obey_robots=False, retry_times=0
        )
        runs = [run_crawl(source, str(tmp_path)) for _ in range(2)]
    assert [r.status_counts for r in runs] == [{"200": 1}, {"200": 1}]
    assert [b"if-none-match" in r.lower() for r in sent] == [False, False]
    rows = read_pages(str(tmp_path), "site").to_pylist()
    assert all("exceeds download_maxsize" in (r["error"] or "") for r in rows), rows
