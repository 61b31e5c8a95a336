"""Text fingerprints for dedup: normalized-text hash (exact) and SimHash (near-duplicate)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

#: Bits of the full SimHash fingerprint. The `simhash` column holds the first 64 (the v1
#: contract); `simhash_ext` holds the other 192. 64 bits alone are too noisy at archive
#: scale: against 1M stored articles, the closest *unrelated* one is typically only ~13
#: bits away, so any useful 64-bit threshold flags unrelated articles. Over 256 bits
#: unrelated texts sit at 128 +- 8 bits.
FINGERPRINT_BITS = 256
#: Distance (out of 256 bits) at or below which two articles are near-duplicates.
#: Measured by `benchmarks/dedup_index.py` on the fixture stories and wire-style variants
#: (dateline + credit, changed lead, dropped/added sentence, 5-10% of words replaced):
#: variants 22-71 bits, unrelated pairs >= 107 bits (median 128): precision and recall 1.0.
#: For random pairs P(d <= 76) = 3.3e-11, i.e. 3e-5 false flags per new article against
#: 1M stored (64 bits at threshold 12 would give 0.23).
NEAR_DUPLICATE_THRESHOLD = 76
#: Fallback for stored rows without `simhash_ext` (64 bits only): same fraction, noisier.
NEAR_DUPLICATE_THRESHOLD_64 = 12

_WORD = re.compile(r"\w+")
_SHINGLE = 3
_LANES = FINGERPRINT_BITS // 64
_NBYTES = FINGERPRINT_BITS // 8
#: ASCII bytes that are not `\w` (anything but letters, digits, "_") -> space, so that on
#: ASCII text ``translate(...).split()`` gives exactly what ``_WORD.findall`` gives.
_ASCII_NON_WORD = bytes(
    c if (chr(c).isalnum() or c == ord("_")) and c < 128 else ord(" ") for c in range(256)
)
#: ASCII whitespace as str.split() sees it (chr(c).isspace(): also \x1c-\x1f) -> space.
_ASCII_SPACES = bytes(32 if chr(c).isspace() else c for c in range(128)) + bytes(range(128, 256))
#: Rows summed at once in `_majority`: 255 keeps every per-bit byte count below 256.
_BLOCK = 255


def normalize_text(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed to single spaces, stripped."""
    if text.isascii():
        return _normalized_ascii(text).decode("ascii")
    # str.split() and re's \s both split on exactly the str.isspace() characters.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _normalized_ascii(text: str) -> bytes:
    """`normalize_text` of ASCII text, as bytes. NFKC leaves ASCII as is and casefold() is
    lower() there; text whose whitespace is single spaces already (paragraphs joined by
    one line break) needs no split and join."""
    data = text.lower().encode("ascii").translate(_ASCII_SPACES)
    if b"  " in data or data[:1] == b" " or data[-1:] == b" ":
        return b" ".join(data.split())  # only spaces are left: bytes.split() splits there
    return data


def content_hash(text: str) -> str:
    """SHA-256 hex digest of the normalized text (the exact-duplicate key)."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def _shingles(text: str) -> list[str]:
    return _normalized_shingles(normalize_text(text))


def _normalized_shingles(normalized: str) -> list[str]:
    words = _WORD.findall(normalized)
    if len(words) < _SHINGLE:
        return [" ".join(words)] if words else []
    return list(map(" ".join, zip(words, words[1:], words[2:], strict=False)))


def _shingle_bytes(normalized: str | bytes) -> list[bytes]:
    """`_normalized_shingles` UTF-8 encoded (each word encoded once; ASCII text never
    leaves bytes: the same words, found by a translate + split). ``normalized``: the
    normalized text, or its ASCII bytes."""
    if isinstance(normalized, bytes):
        words = normalized.translate(_ASCII_NON_WORD).split()
    elif normalized.isascii():
        words = normalized.encode("ascii").translate(_ASCII_NON_WORD).split()
    else:
        words = [w.encode("utf-8") for w in _WORD.findall(normalized)]
    if len(words) < _SHINGLE:
        return [b" ".join(words)] if words else []
    return list(map(b" ".join, zip(words, words[1:], words[2:], strict=False)))


def count_words(text: str) -> int:
    """``len(re.findall(r"\\w+", text))``, without the list of words for ASCII text."""
    if text.isascii():
        return len(text.encode("ascii").translate(_ASCII_NON_WORD).split())
    return len(_WORD.findall(text))


def joined_words(text: str) -> str:
    """``" ".join(re.findall(r"\\w+", text))``; ASCII text without the regex (its words are
    the runs of ASCII letters, digits and "_", found by a translate + split)."""
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(_ASCII_NON_WORD).split()).decode("ascii")
    return " ".join(_WORD.findall(text))


def fingerprint(text: str) -> tuple[int, ...]:
    """256-bit SimHash over word 3-shingles, as four 64-bit lanes (all 0 for empty text).

    Each shingle is hashed with blake2b (never `hash()`: stable across processes), each
    bit set where more than half of the shingles have it set.
    """
    return _fingerprint_normalized(normalize_text(text))


def text_keys(text: str) -> tuple[str, tuple[int, ...]]:
    """`content_hash(text)` and `fingerprint(text)`, normalizing the text once."""
    if text.isascii():  # the normalized text's bytes are its UTF-8 encoding
        data = _normalized_ascii(text)
        return hashlib.sha256(data).hexdigest(), _fingerprint_normalized(data)
    normalized = normalize_text(text)
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
    return digest, _fingerprint_normalized(normalized)


def _fingerprint_normalized(normalized: str | bytes) -> tuple[int, ...]:
    grams = _shingle_bytes(normalized)
    if not grams:
        return (0,) * _LANES
    # blake2b(g, digest_size=...) per shingle, as copies of one empty hash state: copying
    # the state costs less than the constructor's keyword parsing and parameter block.
    copy = hashlib.blake2b(digest_size=_NBYTES).copy
    digests: list[bytes] = []
    append = digests.append
    for gram in grams:
        state = copy()
        state.update(gram)
        append(state.digest())
    return _majority(b"".join(digests), len(grams))


def _majority(raw: bytes, n: int) -> tuple[int, ...]:
    """Lanes with each bit set where more than half of the `n` digests in `raw` have it.

    The digests' bits are unpacked one byte per bit and summed 8 bit positions per uint64
    add (SWAR): a block of at most 255 rows cannot carry from one byte into the next. The
    full blocks are summed by one reduction, the rest by another.
    """
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    rows = bits.view("<u8").reshape(n, FINGERPRINT_BITS // 8)
    full = n - n % _BLOCK
    counts = np.zeros(FINGERPRINT_BITS, dtype=np.int64)
    if full:
        blocks = np.add.reduce(rows[:full].reshape(-1, _BLOCK, FINGERPRINT_BITS // 8), axis=1)
        lanes = blocks.astype("<u8", copy=False).view(np.uint8).reshape(-1, FINGERPRINT_BITS)
        counts += np.add.reduce(lanes, axis=0, dtype=np.int64)
    if full < n:
        counts += np.add.reduce(rows[full:], axis=0).astype("<u8", copy=False).view(np.uint8)
    majority = (2 * counts > n).astype(np.uint8)
    packed = np.packbits(majority, bitorder="little").view("<u8")
    return tuple(packed.tolist())


def simhash(text: str) -> int:
    """The first 64 bits of `fingerprint(text)` (the `simhash` column)."""
    return fingerprint(text)[0]


def simhash_ext(text: str) -> bytes:
    """The other 192 bits of `fingerprint(text)`, little-endian (the `simhash_ext` column)."""
    return b"".join(v.to_bytes(8, "little") for v in fingerprint(text)[1:])


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit fingerprints."""
    return (int(a) ^ int(b)).bit_count()


def fingerprint_distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Differing bits between two full fingerprints."""
    return sum(hamming(x, y) for x, y in zip(a, b, strict=True))


def is_near_duplicate(a: str, b: str, threshold: int = NEAR_DUPLICATE_THRESHOLD) -> bool:
    """True when two texts are near-duplicates by the full fingerprint."""
    return fingerprint_distance(fingerprint(a), fingerprint(b)) <= threshold
