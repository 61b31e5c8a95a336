"""Text fingerprints for dedup: normalized-text hash (exact) and 64-bit SimHash (near-duplicate)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

#: Hamming distance at or below which two SimHashes count as near-duplicates (wire copies).
#: Chosen from `benchmarks/dedup_index.py`'s precision/recall run on the fixture pairs:
#: unrelated articles sit around 32 bits apart (never below 18 there); wire copies with
#: a changed headline, byline or one extra paragraph stay within 3-10 bits.
NEAR_DUPLICATE_THRESHOLD = 12

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_SHINGLE = 3


def normalize_text(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed to single spaces, stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(text: str) -> str:
    """SHA-256 hex digest of the normalized text (the exact-duplicate key)."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def _shingle_hashes(words: list[str]) -> np.ndarray:
    if len(words) < _SHINGLE:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)]
    # blake2b, never hash(): the fingerprint must be stable across processes and runs.
    raw = b"".join(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest() for g in grams)
    return np.frombuffer(raw, dtype="<u8")


def simhash(text: str) -> int:
    """64-bit SimHash over word 3-shingles of the normalized text (0 for empty text)."""
    words = _WORD.findall(normalize_text(text))
    hashes = _shingle_hashes(words)
    n = len(hashes)
    if n == 0:
        return 0
    # bits[i, j] = bit j (least significant first) of shingle hash i.
    bits = np.unpackbits(hashes.view(np.uint8).reshape(n, 8), axis=1, bitorder="little")
    ones = bits.sum(axis=0, dtype=np.int64)
    result = 0
    for j in np.flatnonzero(2 * ones > n):
        result |= 1 << int(j)
    return result


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit fingerprints."""
    return (int(a) ^ int(b)).bit_count()


def is_near_duplicate(a: int, b: int, threshold: int = NEAR_DUPLICATE_THRESHOLD) -> bool:
    return hamming(a, b) <= threshold
