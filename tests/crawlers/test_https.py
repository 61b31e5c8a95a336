"""HTTPS: most news sites answer over TLS. Fetched, archived as received, redirects kept."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import ssl
from collections import Counter
from pathlib import Path
from typing import Any

from crawl_helpers import Route, http, raw_site, site_source
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from warcio.archiveiterator import ArchiveIterator

from crawlers.runner import run_crawl
from storage.pages import read_pages
from storage.warc import read_record

ARTICLE = (
    b"<html><head><title>Over TLS</title></head><body><p>"
    + b"secure news text " * 50
    + b"</p></body></html>"
)
OK = http(
    b"HTTP/1.1 200 OK",
    [(b"Content-Type", b"text/html"), (b"Content-Length", str(len(ARTICLE)).encode())],
    ARTICLE,
)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (as a staging site may have)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def tls_context(tmp_path: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*self_signed(tmp_path))
    return ctx


def crawl(start_urls: list[str], root: Path, **overrides: Any) -> list[dict[str, Any]]:
    """One crawl of `start_urls` (links not followed); its pages rows."""
    settings: dict[str, Any] = {
        "start_urls": start_urls,
        "feeds": [],
        "sitemaps": [],
        "obey_robots": False,
        "retry_times": 0,
        "follow_links": False,
    }
    settings.update(overrides)
    run_crawl(site_source("http://127.0.0.1", **settings), str(root))
    return read_pages(str(root), "site").to_pylist()


def test_an_https_page_is_archived_with_its_head_as_received(tmp_path: Path) -> None:
    body = gzip.compress(ARTICLE)
    answer = (
        b"HTTP/1.1 200 Okay\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Encoding: gzip\r\n"
        b"Set-Cookie: a=1\r\n"
        b"X-Custom: first\r\n"
        b"Set-Cookie: b=2\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with raw_site({"/news/a": answer}, tls=tls_context(tmp_path)) as (base, hits):
        rows = crawl([base + "/news/a"], tmp_path / "archive")
    assert hits == Counter({"/news/a": 1})
    (row,) = rows
    assert (row["url"], row["status"], row["error"]) == (base + "/news/a", 200, None)

    # The response record: the head byte for byte (reason phrase, header order, repeated
    # Set-Cookie), the body as sent (gzip), the peer's address; warcio reads it by offset.
    with open(tmp_path / "archive" / row["warc_file"], "rb") as f:
        f.seek(row["warc_offset"])
        record = next(iter(ArchiveIterator(f)))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Target-URI") == base + "/news/a"
        assert record.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
        assert record.http_headers.statusline == "200 Okay"
        assert record.http_headers.headers == [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Set-Cookie", "a=1"),
            ("X-Custom", "first"),
            ("Set-Cookie", "b=2"),
            ("Content-Length", str(len(body))),
        ]
        assert record.raw_stream.read() == body
    data = read_record(
        str(tmp_path / "archive"), row["warc_file"], row["warc_offset"], row["warc_length"]
    )
    assert data.payload == ARTICLE

    # The request record: an HTTP/1.1 request line for the path, the Host header.
    with open(tmp_path / "archive" / row["warc_file"], "rb") as f:
        requests = [r for r in ArchiveIterator(f) if r.rec_type == "request"]
        assert len(requests) == 1
        assert requests[0].http_headers.protocol == "GET"
        assert requests[0].http_headers.statusline == "/news/a HTTP/1.1"
        assert requests[0].http_headers.get_header("Host") == base.removeprefix("https://")


def test_a_redirect_from_http_to_https_is_archived_hop_by_hop(tmp_path: Path) -> None:
    plain_routes: dict[str, Route] = {}  # filled once the https port is known
    with (
        raw_site(plain_routes) as (plain, plain_hits),
        raw_site({"/secure/a": OK}, tls=tls_context(tmp_path)) as (secure, secure_hits),
    ):
        plain_routes["/a"] = (
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: "
            + (secure + "/secure/a").encode()
            + b"\r\nContent-Length: 0\r\n\r\n"
        )
        rows = crawl([plain + "/a"], tmp_path / "archive")
    assert plain_hits == Counter({"/a": 1})
    assert secure_hits == Counter({"/secure/a": 1})
    by_status = {r["status"]: r for r in rows}
    assert set(by_status) == {301, 200}
    assert by_status[301]["url"] == plain + "/a"
    assert by_status[301]["final_url"] == secure + "/secure/a"
    assert by_status[200]["url"] == secure + "/secure/a"
    data = read_record(
        str(tmp_path / "archive"),
        by_status[200]["warc_file"],
        by_status[200]["warc_offset"],
        by_status[200]["warc_length"],
    )
    assert data.payload == ARTICLE


def test_a_failed_tls_handshake_is_a_failed_fetch_and_the_crawl_goes_on(tmp_path: Path) -> None:
    # A plain-HTTP server on an https:// URL: the TLS handshake gets an HTTP answer.
    with (
        raw_site({"/broken": OK}) as (plain, _),
        raw_site({"/fine": OK}, tls=tls_context(tmp_path)) as (secure, hits),
    ):
        broken = plain.replace("http://", "https://") + "/broken"
        rows = crawl([broken, secure + "/fine"], tmp_path / "archive")
    by_url = {r["url"]: r for r in rows}
    assert by_url[secure + "/fine"]["status"] == 200
    failed = by_url[broken]
    assert failed["status"] is None
    assert failed["warc_file"] is None
    assert failed["error"]
    assert "\n" not in failed["error"]
    assert hits == Counter({"/fine": 1})
