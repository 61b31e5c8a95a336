"""WARC writing and reading: warcio round trip, reads by offset, rotation, redaction, crashes."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from storage.warc import WarcError, WarcWriter, iter_records, list_warc_files, read_record

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
