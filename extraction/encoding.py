"""Robust decoding of archived HTML bytes: BOM, HTTP charset, <meta charset>, then detection."""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

logger = logging.getLogger(__name__)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE | re.DOTALL
)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]+encoding\s*=\s*[\"']([\w.:-]+)", re.IGNORECASE)
#: WHATWG: these labels mean windows-1252 in browsers, whatever the header says.
_WHATWG_ALIASES = {
    "latin1": "cp1252",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}
#: Share of replacement characters below which a mostly-valid UTF-8 page stays UTF-8.
_UTF8_DAMAGE_TOLERANCE = 0.02
#: Bytes given to the detector (it samples inside them).
_DETECT_BYTES = 200_000


@dataclass(frozen=True)
class Decoded:
    """The decoded text, the codec used and why it was chosen."""

    text: str
    encoding: str
    reason: str  # bom | http | meta | utf8 | detected | fallback


def _normalize(label: str | bytes | None) -> str | None:
    if not label:
        return None
    name = label.decode("ascii", "ignore") if isinstance(label, bytes) else label
    try:
        codec = codecs.lookup(name.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    if codec.startswith("utf-16") or codec.startswith("utf-32"):
        # A page whose bytes we are reading as ASCII-compatible cannot truly be UTF-16.
        return "utf-8"
    return _WHATWG_ALIASES.get(codec, codec)


def http_charset(content_type: str | None) -> str | None:
    """The codec named by a Content-Type header, normalized; None when absent/unknown."""
    if not content_type:
        return None
    match = _HTTP_CHARSET.search(content_type)
    return _normalize(match.group(1)) if match else None


def meta_charset(body: bytes) -> str | None:
    """The codec declared by <meta charset> / http-equiv / an XML declaration in the head."""
    head = body[:4096]
    match = _XML_DECL.search(head) or _META_CHARSET.search(head)
    return _normalize(match.group(1)) if match else None


def _is_ascii(body: bytes) -> bool:
    return body.isascii()


def _detect(body: bytes, candidates: list[str]) -> str | None:
    """Best codec by the detector; declared candidates win unless clearly worse."""
    sample = body[:_DETECT_BYTES]
    try:
        best = from_bytes(sample, preemptive_behaviour=False).best()
    except Exception:  # the detector is a heuristic; never let it fail a page
        logger.debug("charset detection failed", exc_info=True)
        return None
    if best is None:
        return None
    detected = _normalize(best.encoding)
    for cand in candidates:
        if cand == detected:
            return cand
        try:
            mine = from_bytes(sample, cp_isolation=[cand], preemptive_behaviour=False).best()
        except Exception:
            continue
        # Keep the declared codec unless the detector's reading is clearly less garbled.
        if (
            mine is not None
            and mine.chaos <= best.chaos + 0.05
            and (mine.coherence >= best.coherence - 0.2)
        ):
            return cand
    return detected


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode HTML bytes to text; never raises on invalid bytes."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return Decoded(body[len(bom) :].decode(codec, "replace"), codec, "bom")
    declared: list[tuple[str, str]] = []
    for label, reason in ((http_charset(content_type), "http"), (meta_charset(body), "meta")):
        if label and all(label != c for c, _ in declared):
            declared.append((label, reason))
    if _is_ascii(body):
        return Decoded(body.decode("ascii"), declared[0][0] if declared else "ascii", "ascii")
    # Valid UTF-8 with non-ASCII bytes is almost never an accident: trust it over labels.
    try:
        return Decoded(body.decode("utf-8"), "utf-8", "utf8")
    except UnicodeDecodeError:
        pass
    if declared and declared[0][0] == "utf-8":
        text = body.decode("utf-8", "replace")
        non_ascii = sum(1 for b in body if b >= 0x80) or 1
        if text.count("\ufffd") / non_ascii <= _UTF8_DAMAGE_TOLERANCE:
            return Decoded(text, "utf-8", declared[0][1])
    for codec, reason in declared:
        if codec == "utf-8":
            continue
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        # Single-byte codecs decode anything; ask the detector whether this one is plausible.
        detected = _detect(body, [codec])
        if detected in (None, codec):
            return Decoded(text, codec, reason)
        try:
            return Decoded(body.decode(detected), detected, "detected")
        except (UnicodeDecodeError, LookupError):
            return Decoded(text, codec, reason)
    # Undeclared or mislabelled as UTF-8: windows-1252 is the web's default among near-ties.
    detected = _detect(body, ["cp1252"])
    if detected:
        try:
            return Decoded(body.decode(detected, "replace"), detected, "detected")
        except LookupError:
            pass
    return Decoded(body.decode("utf-8", "replace"), "utf-8", "fallback")
