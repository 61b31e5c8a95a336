"""WARC writing and reading: warcio round trip, reads by offset, rotation, redaction, crashes."""

from __future__ import annotations

import gzip
import io
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import storage.warc
from storage.warc import (
    RecordReader,
    WarcError,
    WarcWriter,
    iter_records,
    list_warc_files,
    read_record,
)

HTML = b"<html><body><h1>Title</h1><p>" + "Straße café ".encode() * 40 + b"</p></body></html>"
WHEN = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def _write_pair(w: WarcWriter, i: int) -> tuple:
    url = f"http://news.test/2026/03/story-{i}?a=1"
    resp = w.write_response(
        url,
        200,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ],
        HTML + str(i).encode(),
        fetched_at=WHEN,
        ip_address="127.0.0.1",
    )
    req = w.write_request(
        url,
        [("User-Agent", "newsarchive-test"), ("Cookie", "session=s3cret"), ("Authorization", "x")],
        fetched_at=WHEN,
        concurrent_to=w.last_record_id,
    )
    return resp, req


def test_round_trip_by_offset_and_full_scan(tmp_path: Path) -> None:
    with WarcWriter(str(tmp_path), "news", "crawl1") as w:
        refs = [_write_pair(w, i) for i in range(4)]
        failure = w.write_failure("http://news.test/down", "ConnectionRefusedError: refused")
    assert w.files == ["warc/source=news/crawl1-00000.warc.gz"]

    resp, req = refs[2]
    assert resp.warc_file == w.files[0]
    rec = read_record(str(tmp_path), *resp)
    assert rec.record_type == "response"
    assert rec.target_uri == "http://news.test/2026/03/story-2?a=1"
    assert rec.status == 200 and rec.reason == "OK"
    assert rec.payload == HTML + b"2"
    assert rec.content_type == "text/html; charset=utf-8"
    assert [v for k, v in rec.http_headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert rec.warc_date == WHEN
    assert rec.ip_address == "127.0.0.1"
    assert rec.payload_digest and rec.payload_digest.startswith("sha1:")

    rq = read_record(str(tmp_path), *req)
    assert rq.record_type == "request" and rq.status is None
    assert rq.header("Cookie") == "REDACTED" and rq.header("Authorization") == "REDACTED"
    assert rq.header("User-Agent") == "newsarchive-test"
    assert ("WARC-Concurrent-To", rec.record_id) in rq.warc_headers

    meta = read_record(str(tmp_path), *failure)
    assert meta.record_type == "metadata"
    assert b"fetch-error: ConnectionRefusedError: refused" in meta.payload

    # warcio itself reads the whole file: warcinfo + 4 pairs + 1 metadata, at our offsets.
    path = tmp_path / w.files[0]
    with open(path, "rb") as f:
        seen = []
        it = ArchiveIterator(f)
        for record in it:
            it.read_to_end(record)
            seen.append((record.rec_type, it.get_record_offset(), it.get_record_length()))
    assert [s[0] for s in seen] == ["warcinfo"] + ["response", "request"] * 4 + ["metadata"]
    assert (seen[5][1], seen[5][2]) == (resp.offset, resp.length)
    # ... and every record is its own gzip member.
    raw = path.read_bytes()
    assert gzip.decompress(raw[resp.offset : resp.offset + resp.length]).startswith(b"WARC/1.1")

    scanned = list(iter_records(str(tmp_path), w.files[0]))
    assert [(ref.offset, ref.length) for ref, _ in scanned] == [s[1:] for s in seen]


def test_rotation_and_no_reuse_of_crashed_files(tmp_path: Path) -> None:
    w = WarcWriter(str(tmp_path), "news", "c2", max_size=3000)
    refs = [_write_pair(w, i) for i in range(6)]
    w.close()
    assert len(w.files) > 1
    for resp, _ in refs:
        assert read_record(str(tmp_path), *resp).status == 200
    # A second writer with the same crawl id never appends to existing files.
    w2 = WarcWriter(str(tmp_path), "news", "c2")
    ref = w2.write_failure("http://news.test/x", "timeout")
    w2.close()
    assert ref.warc_file not in w.files
    assert list_warc_files(str(tmp_path), "news") == sorted([*w.files, ref.warc_file])


def test_truncated_trailing_record_keeps_earlier_records(tmp_path: Path) -> None:
    with WarcWriter(str(tmp_path), "news", "c3") as w:
        refs = [_write_pair(w, i) for i in range(3)]
    path = tmp_path / w.files[0]
    last = refs[-1][1]
    with open(path, "r+b") as f:  # a crash half-way through the last record
        f.truncate(last.offset + last.length // 2)
    assert read_record(str(tmp_path), *refs[1][0]).payload == HTML + b"1"
    scanned = list(iter_records(str(tmp_path), w.files[0]))
    assert [d.record_type for _, d in scanned] == ["warcinfo"] + ["response", "request"] * 2 + [
        "response"
    ]
    with pytest.raises(WarcError):
        read_record(str(tmp_path), *last)


def test_encoded_bodies_and_payload_cap(tmp_path: Path) -> None:
    compressed = gzip.compress(HTML)
    with WarcWriter(str(tmp_path), "news", "c4") as w:
        raw = w.write_response(
            "http://news.test/gz",
            200,
            [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            compressed,
        )
        decoded = w.write_response(
            "http://news.test/gz2",
            200,
            [("Content-Encoding", "gzip"), ("Content-Length", str(len(compressed)))],
            HTML,
            body_is_decoded=True,
        )
        missing = w.write_response("http://news.test/404", 404, [], b"not found")
    assert read_record(str(tmp_path), *raw).payload == HTML  # warcio decodes gzip
    d = read_record(str(tmp_path), *decoded)
    assert d.payload == HTML
    assert d.header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert d.header("Content-Length") == str(len(HTML))
    capped = read_record(str(tmp_path), *raw, max_payload=100)
    assert capped.truncated and len(capped.payload) == 100
    nf = read_record(str(tmp_path), *missing)
    assert (nf.status, nf.reason, nf.payload) == (404, "Not Found", b"not found")


def test_bad_locations_are_clear_errors(tmp_path: Path) -> None:
    with WarcWriter(str(tmp_path), "news", "c5") as w:
        resp, _ = _write_pair(w, 0)
    with pytest.raises(WarcError, match="not found"):
        read_record(str(tmp_path), "warc/source=news/nope.warc.gz", 0, 10)
    for shift in range(1, resp.length, 7):  # no wrong offset ever yields a record
        with pytest.raises(WarcError):
            read_record(str(tmp_path), resp.warc_file, resp.offset + shift, resp.length)
    for cut in (1, resp.length // 2, resp.length - 1):  # nor a wrong length
        with pytest.raises(WarcError):
            read_record(str(tmp_path), resp.warc_file, resp.offset, cut)
    with pytest.raises(WarcError, match="extra byte"):
        read_record(str(tmp_path), resp.warc_file, resp.offset, resp.length + 5)
    with pytest.raises(ValueError):
        WarcWriter(str(tmp_path), "../evil", "c6")


def _warcio_reference(kind: str, url: str, warc_fields: dict, http: Any, payload: bytes) -> bytes:
    """The record warcio's own WARCWriter builds from the same values (the writer's old path)."""
    builder = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")
    rec = builder.create_warc_record(
        url,
        kind,
        payload=io.BytesIO(payload),
        length=len(payload),
        http_headers=http,
        warc_content_type="application/warc-fields" if kind == "metadata" else "",
        warc_headers_dict=warc_fields,
    )
    builder.write_record(rec)
    return bytes(builder.out.getvalue())


def test_records_are_byte_identical_to_warcio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer builds records itself (speed); warcio must produce exactly the same bytes.
    fixed = uuid.UUID("12345678-1234-5678-1234-567812345678")
    rid = f"<urn:uuid:{fixed}>"
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)  # warcio's record ids
    monkeypatch.setattr(storage.warc, "_new_record_id", lambda: rid)  # ours
    when = "2026-03-04T05:06:07.123456Z"
    hdrs: list[tuple[str | bytes, str | bytes]] = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        (b"X-Bytes", b"caf\xe9 d\xe9j\xe0"),  # latin-1, %-encoded by warcio
        ("X-Multi", "line\r\nbreak"),
    ]
    with WarcWriter(str(tmp_path), "news", "c7") as w:
        refs = [
            w.write_response(
                "http://news.test/a?b=1", 200, hdrs, HTML, fetched_at=WHEN, ip_address="::1"
            ),
            w.write_response("http://news.test/x", 799, [], b"", fetched_at=WHEN),
            w.write_response(
                "http://news.test/gz",
                200,
                [("Content-Encoding", "gzip")],
                HTML,
                body_is_decoded=True,
                fetched_at=WHEN,
                concurrent_to=rid,
                protocol="HTTP/1.0",
            ),
            w.write_request(
                "http://news.test:8080/a%20b?q=%C3%BC",
                [("Cookie", "s"), ("Accept", "*/*")],
                method="POST",
                body=b"x=1",
                fetched_at=WHEN,
                concurrent_to=rid,
            ),
            w.write_failure("http://news.test/down", "Err: über\nline", fetched_at=WHEN),
        ]
    stored = tmp_path / w.files[0]
    data = stored.read_bytes()
    got = [gzip.decompress(data[r.offset : r.offset + r.length]) for r in refs]
    sh = StatusAndHeaders
    clean = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Bytes", "caf\xe9 d\xe9j\xe0"),
        ("X-Multi", "line  break"),
    ]
    ip = {"WARC-Date": when, "WARC-IP-Address": "::1"}
    conc = {"WARC-Date": when, "WARC-Concurrent-To": rid}
    decoded_hdrs = [("X-Archive-Orig-Content-Encoding", "gzip"), ("Content-Length", str(len(HTML)))]
    request_hdrs = [("Host", "news.test:8080"), ("Cookie", "REDACTED"), ("Accept", "*/*")]
    expected = [
        _warcio_reference(
            "response", "http://news.test/a?b=1", ip, sh("200 OK", clean, "HTTP/1.1"), HTML
        ),
        _warcio_reference(
            "response", "http://news.test/x", {"WARC-Date": when}, sh("799", [], "HTTP/1.1"), b""
        ),
        _warcio_reference(
            "response", "http://news.test/gz", conc, sh("200 OK", decoded_hdrs, "HTTP/1.0"), HTML
        ),
        _warcio_reference(
            "request",
            "http://news.test:8080/a%20b?q=%C3%BC",
            conc,
            sh("POST /a%20b?q=%C3%BC HTTP/1.1", request_hdrs, is_http_request=True),
            b"x=1",
        ),
        _warcio_reference(
            "metadata",
            "http://news.test/down",
            {"WARC-Date": when},
            None,
            "fetch-error: Err: über line\r\n".encode(),
        ),
    ]
    for mine, reference in zip(got, expected, strict=True):
        assert mine == reference
    with open(stored, "rb") as f:  # and warcio reads them back at their offsets
        it = ArchiveIterator(f)
        offsets = []
        for record in it:
            record.content_stream().read()
            offsets.append(it.get_record_offset())
    assert offsets[1:] == [r.offset for r in refs]


def test_record_ids_are_random_version_4_uuids() -> None:
    ids = {storage.warc._new_record_id() for _ in range(200)}
    assert len(ids) == 200
    for rid in ids:
        assert rid.startswith("<urn:uuid:") and rid.endswith(">")
        parsed = uuid.UUID(rid[len("<urn:uuid:") : -1])
        assert str(parsed) == rid[len("<urn:uuid:") : -1]  # canonical lower-case form
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


@given(st.binary(min_size=20, max_size=20))
def test_digest_text_is_base32(digest: bytes) -> None:
    import base64

    assert storage.warc._b32_digest(digest) == "sha1:" + base64.b32encode(digest).decode()


_HEADER_BYTES = st.binary(max_size=12) | st.sampled_from(
    [b"Host", b" host ", b"COOKIE", b"Authorization\x1c", b"\x1fX", b"a\r\nb", b"caf\xe9", b""]
)


def _records(tmp: Path, headers: list, url: str, redact: bool) -> list[bytes]:
    with WarcWriter(str(tmp), "news", "c9", redact_request_headers=redact) as w:
        refs = [
            w.write_response(url, 200, headers, b"body", fetched_at=WHEN, ip_address="::1"),
            w.write_request(url, headers, fetched_at=WHEN, concurrent_to="<urn:uuid:x>"),
        ]
    data = (tmp / w.files[0]).read_bytes()
    return [gzip.decompress(data[r.offset : r.offset + r.length]) for r in refs]


@settings(max_examples=60, deadline=None)
@given(
    headers=st.lists(st.tuples(_HEADER_BYTES, _HEADER_BYTES), max_size=5),
    url=st.sampled_from(["http://news.test/a?b=1", "http://ünï.test/x", "http://news.test:81/"]),
    redact=st.booleans(),
)
def test_bytes_headers_archive_as_their_latin1_text(
    tmp_path_factory: pytest.TempPathFactory, headers: list, url: str, redact: bool
) -> None:
    # Bytes headers (what the crawl hands over) take a shortcut when they are ASCII; the
    # records must be exactly those of the same headers as latin-1 text (the general path).
    ids = iter(range(10**6))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(storage.warc, "_new_record_id", lambda: f"<urn:uuid:{next(ids)}>")
        as_bytes = _records(tmp_path_factory.mktemp("b"), headers, url, redact)
        ids = iter(range(10**6))
        text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        as_text = _records(tmp_path_factory.mktemp("t"), text, url, redact)
    assert as_bytes == as_text


@pytest.mark.parametrize(
    ("header", "archived"),
    [
        # A server may send any bytes as a header name; warcio refuses to write a non-ASCII one.
        ((b"X-caf\xe9", b"1"), ("X-caf%C3%A9", "1")),
        # warcio %-encodes only the `=value` parts of a value with a ';' and raised on the
        # non-ASCII byte before them (found by hypothesis).
        ((b"X-Odd", b";\x80=\x00"), ("X-Odd", ";%C2%80*=UTF-8''%00")),
    ],
)
def test_non_ascii_header_is_archived_percent_encoded(
    tmp_path: Path, header: tuple[bytes, bytes], archived: tuple[str, str]
) -> None:
    with WarcWriter(str(tmp_path), "news", "c10") as w:
        ref = w.write_response("http://news.test/h", 200, [header], b"ok")
    rec = read_record(str(tmp_path), *ref)
    assert rec.http_headers == [archived]
    assert rec.payload == b"ok"


def test_read_by_offset_equals_warcio_full_scan(tmp_path: Path) -> None:
    """read_record (one member inflated by offset) gives what warcio's own streaming scan
    gives, for every kind of record the crawl writes; capped reads are marked truncated."""
    with WarcWriter(str(tmp_path), "news", "eq") as w:
        _write_pair(w, 1)
        w.write_response("http://news.test/404", 404, [("Content-Type", "text/plain")], b"gone")
        w.write_response(
            "http://news.test/old", 301, [("Location", "http://news.test/new")], b"", reason=None
        )
        w.write_response(
            "http://news.test/gz",
            200,
            [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            gzip.compress(HTML * 50),
        )
        w.write_response("http://news.test/big", 200, [("Content-Type", "text/html")], HTML * 500)
        w.write_metadata("http://news.test/m", [("via", "sitemap")])
        w.write_failure("http://news.test/down", "TimeoutError: timed out")
    scanned = list(iter_records(str(tmp_path), w.files[0]))
    assert len(scanned) == 9
    for ref, data in scanned:
        assert read_record(str(tmp_path), *ref) == data
    truncated = set()
    for ref, data in iter_records(str(tmp_path), w.files[0], max_payload=1000):
        capped = read_record(str(tmp_path), *ref, max_payload=1000)
        assert capped == data
        if capped.truncated:
            truncated.add(capped.target_uri)
            assert len(capped.payload) == 1000
    assert truncated == {"http://news.test/gz", "http://news.test/big"}


def test_record_reader_equals_read_record(tmp_path: Path) -> None:
    """RecordReader keeps one input per file open and reads exactly what read_record
    reads, errors included; records appended after it opened a file are readable."""
    root = str(tmp_path)
    with WarcWriter(root, "news", "rr") as w:
        first = [_write_pair(w, i) for i in range(3)]
    with WarcWriter(root, "news", "rr2") as w2:
        other = w2.write_response("http://news.test/o", 404, [], b"gone")
        with RecordReader(root) as reader:
            refs = [ref for pair in first for ref in pair] + [other]
            for ref in refs:
                for cap in (None, 20):
                    assert reader.read(*ref, max_payload=cap) == read_record(
                        root, *ref, max_payload=cap
                    )
            later = w2.write_response("http://news.test/later", 200, [], HTML)
            w2.commit()
            assert reader.read(*later).payload == HTML
            assert len(reader._files) == 2  # one handle per WARC file
            for bad, match in [
                (("warc/source=news/none.warc.gz", 0, 10), "not found"),
                ((first[0][0].warc_file, first[0][0].offset + 1, 50), "no gzip member"),
                ((first[0][0].warc_file, 0, 0), "invalid WARC location"),
            ]:
                with pytest.raises(WarcError, match=match):
                    reader.read(*bad)
                with pytest.raises(WarcError, match=match):
                    read_record(root, *bad)
    assert reader._files == {}
