"""WARC/1.1 files: gzip-per-record writing with offsets, O(1) reads by offset, full scans."""

from __future__ import annotations

import errno
import hashlib
import http
import io
import logging
import os
import re
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple
from urllib.parse import quote, urlsplit

import pyarrow as pa
from isal import isal_zlib
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date, iso_date_to_datetime
from warcio.warcwriter import WARCWriter

from storage.fs import Root, open_root

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 1024**3  # rotate WARC files at ~1 GB
#: gzip levels of ISA-L (0-3). Level 3 compresses a 64 KB news page ~6x faster than zlib's
#: level 6, to a ~5% larger member; ISA-L releases the GIL while it compresses. Level 2
#: takes another third less CPU (85 vs 128 us) for 1.1% more bytes (not taken).
MAX_COMPRESS_LEVEL = 3
#: Request headers replaced by a placeholder in the archive unless a source opts in.
REDACTED_REQUEST_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
REDACTED = "REDACTED"
_REDACTED_NAMES = frozenset(name.encode("ascii") for name in REDACTED_REQUEST_HEADERS)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

HeaderList = Sequence[tuple[str | bytes, str | bytes]]


class WarcError(Exception):
    """A WARC record that cannot be read at the given location."""


class RecordRef(NamedTuple):
    """Where a record lives: root-relative file, byte offset, byte length (gzip member)."""

    warc_file: str
    offset: int
    length: int


@dataclass
class WarcRecordData:
    """One WARC record, parsed into plain values."""

    record_type: str  # response | request | metadata | warcinfo | ...
    target_uri: str | None
    warc_date: datetime | None  # UTC, tz-aware
    record_id: str | None
    ip_address: str | None
    status: int | None  # HTTP status of a response record, else None
    reason: str | None
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    payload: bytes = b""  # transfer/content-encoding decoded by warcio when possible
    content_type: str | None = None  # HTTP Content-Type (WARC Content-Type for non-HTTP)
    payload_digest: str | None = None
    truncated: bool = False  # payload cut at max_payload
    warc_headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """First HTTP header with this name (case-insensitive), or None."""
        lname = name.lower()
        for k, v in self.http_headers:
            if k.lower() == lname:
                return v
        return None


def _s(v: str | bytes) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else v


def _headers(headers: HeaderList) -> list[tuple[str, str]]:
    # Header values must stay on one line or the record would be unparseable.
    return [(_s(k).strip(), _s(v).replace("\r", " ").replace("\n", " ")) for k, v in headers]


def _warc_date(when: datetime | None) -> str:
    when = when or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return str(datetime_to_iso_date(when, use_micros=True))


#: WARC Content-Type of the record types this writer builds itself.
_RECORD_CONTENT_TYPES = {
    "response": "application/http; msgtype=response",
    "request": "application/http; msgtype=request",
    "metadata": "application/warc-fields",
}


_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#: The base32 text of every 10-bit value (two characters): a 160-bit SHA-1 digest is 16.
_B32_PAIRS = tuple(a + b for a in _B32_ALPHABET for b in _B32_ALPHABET)
_B32_SHIFTS = tuple(range(150, -1, -10))


def _b32_digest(digest: bytes) -> str:
    """`sha1:` + the base32 of a 20-byte digest: `base64.b32encode`'s text (no padding is
    needed for 20 bytes), without its per-5-bytes Python loop."""
    n = int.from_bytes(digest, "big")
    return "sha1:" + "".join([_B32_PAIRS[(n >> shift) & 1023] for shift in _B32_SHIFTS])


def _sha1_b32(*parts: bytes) -> str:
    h = hashlib.sha1()  # the WARC digest algorithm (not a security use)
    for part in parts:
        h.update(part)
    return _b32_digest(h.digest())


_EMPTY_SHA1 = _sha1_b32(b"")


def _new_record_id() -> str:
    """`<urn:uuid:...>` with a random (version 4) UUID: `uuid.uuid4()`'s format, minus the
    UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"<urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}>"


#: What `str.strip()` removes from an ASCII header name (bytes.strip() leaves \x1c-\x1f).
_NAME_WHITESPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_REDACTED_B = REDACTED.encode("ascii")


def _ascii_http_block(
    first_line: str, headers: HeaderList, redact: frozenset[bytes] = frozenset()
) -> tuple[bytes, bool] | None:
    """(`_http_block` of `_headers(headers)`, whether a Host header is among them) when
    every name and value is bytes and the block is ASCII; None otherwise (the caller takes
    the general path). Names in `redact` (lower case) get the value REDACTED.

    The crawl hands over bytes headers: this spares decoding each one to str and encoding
    the block back, with the same result (ASCII strips, lowers and replaces alike).
    """
    try:
        lines = [first_line.encode("ascii"), b"\r\n"]
    except UnicodeEncodeError:
        return None
    has_host = False
    for name, value in headers:
        if not (isinstance(name, bytes) and isinstance(value, bytes)):
            return None
        name = name.strip(_NAME_WHITESPACE)
        if redact or len(name) == 4:
            lower = name.lower()
            if lower == b"host":
                has_host = True
            if lower in redact:
                value = _REDACTED_B
        lines += (name, b": ", value.replace(b"\r", b" ").replace(b"\n", b" "), b"\r\n")
    lines.append(b"\r\n")
    block = b"".join(lines)
    return (block, has_host) if block.isascii() else None


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _quote_match(match: re.Match[str]) -> str:
    return quote(match.group())


def _http_block(first_line: str, headers: list[tuple[str, str]], request: bool) -> bytes:
    """The HTTP status/request line and headers as warcio writes them (%-encoded if needed)."""
    text = first_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        # Rare: let warcio %-encode the non-ASCII header values exactly as it always did.
        # It cannot encode a non-ASCII name (it raises, which stopped the crawl): such
        # characters are %-encoded here the way warcio encodes values (UTF-8).
        headers = [(k if k.isascii() else _NON_ASCII.sub(_quote_match, k), v) for k, v in headers]
        if request:
            sh = StatusAndHeaders(first_line, headers, is_http_request=True)
        else:
            proto, _, rest = first_line.partition(" ")
            sh = StatusAndHeaders(rest, headers, protocol=proto)
        try:
            return bytes(sh.to_ascii_bytes())
        except UnicodeEncodeError:
            # warcio %-encodes only the `=value` parts of a value with a ';' and raises
            # when non-ASCII is left outside them (e.g. ';\x80=1'): what is left is
            # %-encoded here as UTF-8, as warcio encodes the rest.
            sh.headers = [(k, _NON_ASCII.sub(_quote_match, v)) for k, v in sh.headers]
            return bytes(sh.to_ascii_bytes())


def _build_record(
    record_type: str,
    uri: str,
    warc_fields: str,
    http_block: bytes,
    payload: bytes,
) -> tuple[bytes, str, str]:
    """One uncompressed WARC/1.1 record: (bytes, record id, payload digest).

    `warc_fields`: the record's own leading header lines (`_warc_fields`). Byte for byte
    what warcio's WARCWriter writes for the same record (header order, digests,
    Content-Length), without its per-record Python stream machinery: the digests and the
    copy are single C calls on whole buffers (the GIL is released).
    """
    record_id = _new_record_id()
    payload_digest = _sha1_b32(payload) if payload else _EMPTY_SHA1
    block_digest = _sha1_b32(http_block, payload) if http_block else payload_digest
    target = f"WARC-Target-URI: {uri}\r\n" if uri else ""
    head = (
        f"WARC/1.1\r\n{warc_fields}WARC-Type: {record_type}\r\n"
        f"WARC-Record-ID: {record_id}\r\n{target}"
        f"WARC-Payload-Digest: {payload_digest}\r\nWARC-Block-Digest: {block_digest}\r\n"
        f"Content-Type: {_RECORD_CONTENT_TYPES[record_type]}\r\n"
        f"Content-Length: {len(http_block) + len(payload)}\r\n\r\n"
    )
    return (
        b"".join((head.encode("utf-8"), http_block, payload, b"\r\n\r\n")),
        record_id,
        payload_digest,
    )


def _check_name(kind: str, value: str) -> None:
    if not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(f"invalid {kind} for a WARC file name: {value!r}")


class WarcWriter:
    """Append WARC/1.1 records (one gzip member each) to rotating files of one crawl.

    Files: `warc/source=<source>/<crawl_id>-<seq:05d>.warc.gz`. Every write returns a
    `RecordRef`; the record's bytes have reached the OS when it returns (local roots), so a
    `pages` row pointing at it survives a crash of the writing process. A write that fails
    half-way (disk full) is truncated away again before the error propagates.
    `compress_level` is ISA-L's gzip level, 0-3 (higher values mean 3).
    """

    def __init__(
        self,
        root: str | Root,
        source: str,
        crawl_id: str,
        max_size: int = DEFAULT_MAX_SIZE,
        *,
        redact_request_headers: bool = True,
        software: str = "newsarchive",
        compress_level: int = MAX_COMPRESS_LEVEL,
    ) -> None:
        _check_name("source", source)
        _check_name("crawl_id", crawl_id)
        self.root = open_root(root)
        self.source = source
        self.crawl_id = crawl_id
        self.max_size = max_size
        self.redact_request_headers = redact_request_headers
        self.software = software
        self.compress_level = max(0, min(compress_level, MAX_COMPRESS_LEVEL))
        self.files: list[str] = []
        self.last_record_id: str | None = None
        self.last_payload_digest: str | None = None
        self._dir = f"warc/source={source}"
        self._seq = self._first_free_seq()
        self._out: IO[bytes] | Any | None = None
        self._file: str | None = None
        self._pos = 0
        self._lock = threading.Lock()
        self._builder = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")

    # -- files ---------------------------------------------------------------------------
    def _first_free_seq(self) -> int:
        # Never append to a file of an earlier (possibly crashed) run with the same crawl_id.
        pat = re.compile(re.escape(self.crawl_id) + r"-(\d+)\.warc\.gz$")
        seqs = [
            int(m.group(1))
            for p in self.root.listdir(self._dir)
            if (m := pat.search(p.rsplit("/", 1)[-1]))
        ]
        return max(seqs) + 1 if seqs else 0

    def _open_next(self) -> None:
        self._close_current()
        name = f"{self._dir}/{self.crawl_id}-{self._seq:05d}.warc.gz"
        self._seq += 1
        if self.root.is_local:
            self._out = self.root.open_local_append(name)
            self._pos = self._out.tell()
        else:
            self._out = self.root.open_output(name)
            self._pos = 0
        self._file = name
        self.files.append(name)
        log.debug("opened WARC file %s", name)
        info = {
            "software": self.software,
            "format": "WARC File Format 1.1",
            "isPartOf": f"{self.source}/{self.crawl_id}",
        }
        rec = self._builder.create_warcinfo_record(name.rsplit("/", 1)[-1], info)
        self._append(self._serialize(rec), rec.rec_headers.get_header("WARC-Record-ID"), None)

    def _close_current(self) -> None:
        if self._out is None:
            return
        out, name = self._out, self._file
        self._out = None
        self._file = None
        try:
            out.flush()
            if self.root.is_local:
                os.fsync(out.fileno())
        finally:
            out.close()
        log.debug("closed WARC file %s", name)

    def commit(self) -> None:
        """Make every record written so far readable by offset before anything points at it.

        Local roots: a no-op (each record reached the OS when its write returned).
        Object stores: an upload becomes visible only when it completes, so the current
        file is closed here and the next write starts a new one. Call it before writing
        `pages` rows that refer to the records (one WARC object per pages flush).
        """
        if self.root.is_local:
            return
        with self._lock:
            self._close_current()

    def close(self) -> None:
        """Flush, sync and close the current file."""
        with self._lock:
            self._close_current()

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records -------------------------------------------------------------------------
    def _serialize(self, record: Any) -> bytes:
        buf = io.BytesIO()
        self._builder.out = buf
        self._builder.write_record(record)
        return buf.getvalue()

    def _append(self, raw: bytes, record_id: str | None, payload_digest: str | None) -> RecordRef:
        # One gzip member per record: any record can be read alone from its offset.
        # A standard gzip member (mtime 0), compressed by ISA-L with the GIL released.
        data = isal_zlib.compress(raw, self.compress_level, wbits=31)
        assert self._out is not None and self._file is not None
        offset = self._pos
        try:
            if self.root.is_local:
                # Raw file: a write may be short (file size limit, disk nearly full).
                view = memoryview(data)
                done = 0
                while done < len(data):
                    n = self._out.write(view[done:])
                    if not n:
                        raise OSError(errno.ENOSPC, f"short write to {self._file}")
                    done += n
            else:
                self._out.write(data)
        except BaseException:
            # Leave no partial record behind (e.g. ENOSPC half-way through a record).
            if self.root.is_local:
                try:
                    self._out.truncate(offset)
                except OSError:
                    log.warning("could not truncate %s after a failed write", self._file)
            raise
        self._pos = offset + len(data)
        self.last_record_id = record_id
        self.last_payload_digest = payload_digest
        return RecordRef(self._file, offset, len(data))

    def _write(self, record: tuple[bytes, str, str]) -> RecordRef:
        with self._lock:
            if self._out is None or self._pos >= self.max_size:
                self._open_next()
            return self._append(*record)

    @staticmethod
    def _warc_fields(
        fetched_at: datetime | None,
        ip_address: str | None,
        concurrent_to: str | None,
    ) -> str:
        """The leading WARC header lines of a record (date, IP address, concurrent record)."""
        h = f"WARC-Date: {_warc_date(fetched_at)}\r\n"
        if ip_address:
            h += f"WARC-IP-Address: {ip_address}\r\n"
        if concurrent_to:
            h += f"WARC-Concurrent-To: {concurrent_to}\r\n"
        return h

    def write_response(
        self,
        url: str,
        status: int,
        headers: HeaderList,
        body: bytes,
        *,
        reason: str | None = None,
        protocol: str = "HTTP/1.1",
        fetched_at: datetime | None = None,
        ip_address: str | None = None,
        body_is_decoded: bool = False,
        concurrent_to: str | None = None,
        http_head: bytes | None = None,
    ) -> RecordRef:
        """Archive an HTTP response: status line, every header (repeats kept), payload.

        `body_is_decoded=True` says the body was already decompressed/de-chunked (as Scrapy
        hands it over): Content-Encoding and Transfer-Encoding are then kept as
        `X-Archive-Orig-*` headers so readers do not try to decode the payload again.
        `http_head`: the status line and header lines exactly as received, up to and
        including the empty line; when given it is the record's HTTP head as is (status,
        reason, protocol and headers then only describe it).
        """
        if http_head is not None:
            rec = _build_record(
                "response",
                url,
                self._warc_fields(fetched_at, ip_address, concurrent_to),
                http_head,
                body,
            )
            return self._write(rec)
        if reason is None:
            try:
                reason = http.HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        statusline = f"{status} {reason}".strip()
        first = f"{protocol} {statusline}" if protocol and statusline else protocol + statusline
        fast = None if body_is_decoded else _ascii_http_block(first, headers)
        if fast is not None:
            block = fast[0]
        else:
            hdrs = _headers(headers)
            if body_is_decoded:
                fixed: list[tuple[str, str]] = []
                for k, v in hdrs:
                    if k.lower() in ("content-encoding", "transfer-encoding", "content-length"):
                        fixed.append((f"X-Archive-Orig-{k}", v))
                    else:
                        fixed.append((k, v))
                fixed.append(("Content-Length", str(len(body))))
                hdrs = fixed
            block = _http_block(first, hdrs, request=False)
        rec = _build_record(
            "response", url, self._warc_fields(fetched_at, ip_address, concurrent_to), block, body
        )
        return self._write(rec)

    def write_request(
        self,
        url: str,
        headers: HeaderList,
        *,
        method: str = "GET",
        body: bytes = b"",
        fetched_at: datetime | None = None,
        concurrent_to: str | None = None,
        redact: bool | None = None,
        protocol: str = "HTTP/1.1",
    ) -> RecordRef:
        """Archive the HTTP request; Authorization/Cookie values are redacted by default."""
        redact = self.redact_request_headers if redact is None else redact
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # The request line as sent (Twisted sends every request as HTTP/1.1). Until session
        # 5 it had no HTTP version (`GET /path`), which is not an HTTP request line.
        first = f"{method} {target} {protocol}" if protocol else f"{method} {target}"
        fast = _ascii_http_block(first, headers, _REDACTED_NAMES if redact else frozenset())
        if fast is not None and (fast[1] or not parts.netloc):
            block = fast[0]
        elif fast is not None and parts.netloc.isascii():
            # The Host header warcio would add goes first, after the request line.
            cut = len(first) + 2
            host = f"Host: {parts.netloc}\r\n".encode("ascii")
            block = fast[0][:cut] + host + fast[0][cut:]
        else:
            hdrs = _headers(headers)
            if redact:
                hdrs = [
                    (k, REDACTED if k.lower() in REDACTED_REQUEST_HEADERS else v) for k, v in hdrs
                ]
            if not any(k.lower() == "host" for k, _ in hdrs) and parts.netloc:
                hdrs.insert(0, ("Host", parts.netloc))
            block = _http_block(first, hdrs, request=True)
        rec = _build_record(
            "request", url, self._warc_fields(fetched_at, None, concurrent_to), block, body
        )
        return self._write(rec)

    def write_metadata(
        self,
        url: str,
        fields: Iterable[tuple[str, str]],
        *,
        fetched_at: datetime | None = None,
        concurrent_to: str | None = None,
    ) -> RecordRef:
        """A `metadata` record of `name: value` lines (application/warc-fields)."""
        lines = "".join(f"{k}: {' '.join(str(v).split())}\r\n" for k, v in fields).encode("utf-8")
        rec = _build_record(
            "metadata", url, self._warc_fields(fetched_at, None, concurrent_to), b"", lines
        )
        return self._write(rec)

    def write_failure(
        self, url: str, error: str, *, fetched_at: datetime | None = None
    ) -> RecordRef:
        """Record a fetch that produced no HTTP response (DNS error, reset, timeout)."""
        return self.write_metadata(url, [("fetch-error", error)], fetched_at=fetched_at)


# -- reading -------------------------------------------------------------------------------
#: Content codings warcio's `content_stream()` decodes correctly. Others take
#: `_decoded_payload`: warcio's `br` decoder fails to start with brotli >= 1.2 (every br
#: record was unreadable), it has no `zstd`, and it returns a list such as `gzip, gzip`
#: undecoded. Scrapy asks for all four (`Accept-Encoding: gzip, deflate, br, zstd`).
_WARCIO_CODINGS = (["gzip"], ["deflate"])
_CHUNK = 1 << 16


def _codings(http_headers: Any) -> list[str]:
    """The Content-Encoding codings of a record's HTTP headers, in the order applied."""
    if http_headers is None:
        return []
    value = http_headers.get_header("Content-Encoding")
    if not value:
        return []
    codings = [c.strip().lower() for c in value.split(",")]
    return [c for c in codings if c and c != "identity"]


def _inflate(data: bytes, wbits: int, limit: int | None) -> bytes:
    """zlib/gzip/raw deflate data; gzip members after the first are inflated too."""
    out: list[bytes] = []
    size = 0
    while data:
        d = zlib.decompressobj(wbits)
        chunk = d.decompress(data, 0 if limit is None else max(limit - size, 1))
        out.append(chunk)
        size += len(chunk)
        if (limit is not None and size >= limit) or not d.eof:
            break
        data = d.unused_data if wbits > zlib.MAX_WBITS else b""
    return b"".join(out)


def _unbrotli(data: bytes, limit: int | None) -> bytes:
    import brotli  # a dependency (Scrapy decodes br with it too)

    d = brotli.Decompressor()
    out = [d.process(data, output_buffer_limit=_CHUNK)]
    size = len(out[0])
    while not d.is_finished() and (limit is None or size < limit):
        chunk = d.process(b"", output_buffer_limit=_CHUNK)
        if not chunk:
            break
        out.append(chunk)
        size += len(chunk)
    return b"".join(out)


def _unzstd(data: bytes, limit: int | None) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,unused-ignore,no-redef]
    return bytes(zstd.ZstdDecompressor().decompress(data, -1 if limit is None else limit))


def _decode(data: bytes, coding: str, limit: int | None) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(data, 16 + zlib.MAX_WBITS, limit)
    if coding == "deflate":
        try:
            return _inflate(data, zlib.MAX_WBITS, limit)  # zlib-wrapped, as RFC 9110 says
        except zlib.error:
            return _inflate(data, -zlib.MAX_WBITS, limit)  # raw deflate, as some servers send
    if coding == "br":
        return _unbrotli(data, limit)
    if coding == "zstd":
        return _unzstd(data, limit)
    raise ValueError(f"unknown content coding {coding!r}")


def _decoded_payload(record: Any, codings: list[str], max_payload: int | None) -> bytes:
    """The payload with every content coding undone (the last applied first), bounded by
    `max_payload` (+1 byte, so the caller sees it was cut). A coding that is unknown or
    fails leaves the bytes as archived, as warcio does."""
    stream = record.raw_stream
    if (record.http_headers.get_header("Transfer-Encoding") or "").lower() == "chunked":
        stream = ChunkedDataReader(stream)  # another tool's WARC: de-chunk, do not decode
    data = stream.read()
    limit = None if max_payload is None else max_payload + 1
    try:
        decoded = data
        for i in range(len(codings) - 1, -1, -1):
            # An inner coding's bytes are compressed: a step before the last gets more room.
            room = limit if limit is None or i == 0 else limit + (1 << 20)
            decoded = _decode(decoded, codings[i], room)
    except Exception as e:  # undecodable: the archived bytes are the payload
        log.debug("payload left encoded (%s): %s", ",".join(codings), e)
        return bytes(data)
    return decoded


def _parse_record(record: Any, max_payload: int | None) -> WarcRecordData:
    rh = record.rec_headers
    date_s = rh.get_header("WARC-Date")
    warc_date = iso_date_to_datetime(date_s, tz_aware=True) if date_s else None
    status: int | None = None
    reason: str | None = None
    headers: list[tuple[str, str]] = []
    content_type: str | None = None
    if record.http_headers is not None:
        headers = [(str(k), str(v)) for k, v in record.http_headers.headers]
        if record.rec_type in ("response", "revisit"):
            code = record.http_headers.get_statuscode()
            status = int(code) if code and str(code).isdigit() else None
            statusline = record.http_headers.statusline or ""
            reason = statusline.split(" ", 1)[1] if " " in statusline else ""
        content_type = record.http_headers.get_header("Content-Type")
    else:
        content_type = record.content_type
    codings = _codings(record.http_headers)
    if codings and codings not in _WARCIO_CODINGS:
        payload = _decoded_payload(record, codings, max_payload)
    else:
        stream = record.content_stream()
        payload = stream.read() if max_payload is None else stream.read(max_payload + 1)
    truncated = False
    if max_payload is not None and len(payload) > max_payload:
        payload, truncated = payload[:max_payload], True
    return WarcRecordData(
        record_type=record.rec_type,
        target_uri=rh.get_header("WARC-Target-URI"),
        warc_date=warc_date,
        record_id=rh.get_header("WARC-Record-ID"),
        ip_address=rh.get_header("WARC-IP-Address"),
        status=status,
        reason=reason,
        http_headers=headers,
        payload=payload,
        content_type=content_type,
        payload_digest=rh.get_header("WARC-Payload-Digest"),
        truncated=truncated,
        warc_headers=[(str(k), str(v)) for k, v in rh.headers],
    )


def read_record(
    root: str | Root,
    warc_file: str,
    offset: int,
    length: int,
    *,
    max_payload: int | None = None,
) -> WarcRecordData:
    """Read one record by seek: a single ranged read of `length` bytes at `offset`.

    `max_payload` bounds the decoded payload (decompression bombs); `truncated` says so.
    """
    r = open_root(root)
    if offset < 0 or length <= 0:
        raise WarcError(f"invalid WARC location {warc_file}@{offset}+{length}")
    try:
        with r.open_input(warc_file) as f:
            return _read_open(f, warc_file, offset, length, max_payload)
    except FileNotFoundError as e:
        raise WarcError(f"WARC file not found: {warc_file}") from e


class RecordReader:
    """`read_record` for many records: one open input per WARC file, kept until `close()`
    (a context manager). Local roots see records appended after the file was opened; on
    object stores, read only records committed before the reader first opened their file
    (as any reader of `pages` rows does)."""

    def __init__(self, root: str | Root) -> None:
        self._root = open_root(root)
        self._files: dict[str, pa.NativeFile] = {}

    def read(
        self, warc_file: str, offset: int, length: int, *, max_payload: int | None = None
    ) -> WarcRecordData:
        """The record at `offset` (what `read_record` returns; WarcError likewise)."""
        if offset < 0 or length <= 0:
            raise WarcError(f"invalid WARC location {warc_file}@{offset}+{length}")
        f = self._files.get(warc_file)
        if f is None:
            try:
                f = self._files[warc_file] = self._root.open_input(warc_file)
            except FileNotFoundError as e:
                raise WarcError(f"WARC file not found: {warc_file}") from e
        return _read_open(f, warc_file, offset, length, max_payload)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_open(
    f: pa.NativeFile, warc_file: str, offset: int, length: int, max_payload: int | None
) -> WarcRecordData:
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise WarcError(f"short read in {warc_file}@{offset}: {len(data)} of {length} bytes")
    where = f"{warc_file}@{offset}+{length}"
    return _parse_with_warcio(_inflate_member(data, where, max_payload), where, max_payload)


def _parse_with_warcio(raw: bytes, where: str, max_payload: int | None) -> WarcRecordData:
    """The record in `raw` (uncompressed) as warcio's ArchiveIterator reads it."""
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(raw))))
        return _parse_record(record, max_payload)
    except StopIteration as e:
        raise WarcError(f"no WARC record at {where}") from e
    except Exception as e:  # any parser error on damaged bytes means the same thing here
        raise WarcError(f"no readable WARC record at {where}: {e}") from e


def _inflate_member(data: bytes, where: str, max_payload: int | None) -> bytes:
    """The record bytes of exactly one complete gzip member (uncompressed WARC: as is).

    A slice that is cut short, starts mid-member or runs into the next member is an error,
    so a wrong offset/length never yields a half record that happens to parse.
    """
    if data[:2] != b"\x1f\x8b":
        if where.split("@", 1)[0].endswith(".gz"):
            raise WarcError(f"no gzip member starts at {where} (wrong offset?)")
        return data
    # zlib, not ISA-L: ISA-L inflates a page in 40% of zlib's CPU time, but the extraction
    # that follows it in the same process then ran ~0.6 ms/page slower (7.2 -> 7.8 ms of
    # user CPU on the realistic pages, measured here; likely its wide-vector code slowing
    # the core down), more than the 0.08 ms it saves.
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    # Bound the inflated size when the caller bounds the payload (decompression bombs).
    limit = 0 if max_payload is None else max_payload + (1 << 20)
    try:
        raw = d.decompress(data, limit)
    except zlib.error as e:
        raise WarcError(f"damaged gzip member at {where}: {e}") from e
    if limit and not d.eof and len(raw) >= limit:
        return raw  # capped on purpose: the payload will be marked truncated
    if not d.eof:
        raise WarcError(f"incomplete gzip member at {where} (truncated record)")
    if d.unused_data:
        raise WarcError(f"{len(d.unused_data)} extra byte(s) after the record at {where}")
    return raw


def _member_complete(f: pa.NativeFile, ref: RecordRef) -> bool:
    f.seek(ref.offset)
    data = f.read(ref.length)
    if len(data) != ref.length:
        return False
    try:
        _inflate_member(data, f"{ref.warc_file}@{ref.offset}", None)
    except WarcError:
        return False
    return True


def iter_records(
    root: str | Root,
    warc_file: str,
    *,
    max_payload: int | None = None,
) -> Iterator[tuple[RecordRef, WarcRecordData]]:
    """Scan a whole WARC file; a truncated trailing record (crash) ends the scan quietly.

    One record of lookahead: the last record is only yielded once its gzip member is
    known to be complete (a half-written tail can otherwise parse as a shorter record).
    """
    r = open_root(root)
    with r.open_input(warc_file) as f:
        it = ArchiveIterator(f)
        held: tuple[RecordRef, WarcRecordData] | None = None
        try:
            for record in it:
                data = _parse_record(record, max_payload)
                it.read_to_end(record)
                ref = RecordRef(warc_file, it.get_record_offset(), it.get_record_length())
                if held is not None:
                    yield held
                held = (ref, data)
        except (ArchiveLoadFailed, zlib.error, EOFError) as e:
            log.warning("stopped reading %s at a damaged/truncated record: %s", warc_file, e)
        if held is not None:
            if _member_complete(f, held[0]):
                yield held
            else:
                log.warning("ignoring the truncated last record of %s", warc_file)


def list_warc_files(root: str | Root, source: str | None = None) -> list[str]:
    """Root-relative WARC files, optionally of one source."""
    r = open_root(root)
    sub = f"warc/source={source}" if source else "warc"
    return r.glob(sub, ".warc.gz")
