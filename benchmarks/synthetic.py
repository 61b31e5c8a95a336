"""Synthetic `articles` rows for the storage benchmarks (deterministic, seeded, no network)."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from storage.fs import open_root
from storage.schemas import ARTICLES_SCHEMA, SCHEMA_VERSION
from storage.snapshots import (
    SnapshotInfo,
    committed_state,
    new_snapshot_id,
    write_article_files,
    write_manifest,
)

#: Rare words planted in a known share of texts so ILIKE searches have real hits.
NEEDLES = {"ceasefire": 0.001, "referendum": 0.01}
_ONSETS = [*"bcdfghjklmnprstvwyz", "br", "ch", "cl", "dr", "fl", "gr", "pl", "sh", "st", "th", "tr"]
_NUCLEI = ["a", "e", "i", "o", "u", "y", "ea", "ie", "ou", "ai", "oo", "ee"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "m"]


def vocabulary(rng: np.random.Generator, size: int = 300_000) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-words of 1-4 syllables with Zipf (s=0.9) frequencies.

    Calibrated so that zstd (level 6) compresses the generated text about as well as real
    English news text (0.357 vs 0.354 measured on 181 real article bodies), so the size
    numbers are not flattered by an overly repetitive generator.
    """
    lengths = rng.choice([1, 2, 3, 4], size=size, p=[0.5, 0.35, 0.12, 0.03])
    total = int(lengths.sum())
    on = np.array(_ONSETS, dtype=object)[rng.integers(0, len(_ONSETS), total)]
    nu = np.array(_NUCLEI, dtype=object)[rng.integers(0, len(_NUCLEI), total)]
    co = np.array(_CODAS, dtype=object)[rng.integers(0, len(_CODAS), total)]
    syllables = (on + nu + co).tolist()
    words_set: set[str] = set()
    pos = 0
    for n in lengths.tolist():
        words_set.add("".join(syllables[pos : pos + n]))
        pos += n
    words_arr = np.array(sorted(words_set), dtype=object)
    rng.shuffle(words_arr)
    ranks = np.arange(1, len(words_arr) + 1, dtype=np.float64)
    p = 1.0 / ranks**0.9
    return words_arr, p / p.sum()


def _texts(
    rng: np.random.Generator, words: np.ndarray, p: np.ndarray, n: int, mean: int
) -> list[str]:
    counts = np.clip(rng.normal(mean, mean / 3, n).astype(int), 20, mean * 3)
    idx = rng.choice(len(words), size=int(counts.sum()), p=p)
    flat = words[idx]
    # Sentences of ~18 words: a full stop every 18th word (vectorized, one join per text).
    flat[17::18] = flat[17::18] + "."
    out = []
    pos = 0
    for c in counts.tolist():
        out.append(" ".join(flat[pos : pos + c].tolist()) + ".")
        pos += c
    for needle, share in NEEDLES.items():
        for i in np.flatnonzero(rng.random(n) < share).tolist():
            out[i] = out[i] + f" The {needle} was discussed."
    return out


def partition_table(
    rng: np.random.Generator,
    words: np.ndarray,
    p: np.ndarray,
    source: str,
    day: datetime,
    start: int,
    n: int,
    snapshot_id: str,
    mean_words: int,
) -> pa.Table:
    """`n` synthetic ARTICLES_SCHEMA rows of one source and day."""
    texts = _texts(rng, words, p, n, mean_words)
    titles = _texts(rng, words, p, n, 9)
    descriptions = _texts(rng, words, p, n, 25)
    urls = [f"https://{source}.example/{day:%Y/%m/%d}/story-{start + i}" for i in range(n)]
    keys = [u.split("://", 1)[1] for u in urls]
    fetched = [day + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)]
    authors_pool = [
        f"{a.title()} {b.title()}" for a, b in zip(words[:300], words[300:600], strict=True)
    ]
    cols = {
        "article_id": [hashlib.blake2b(k.encode(), digest_size=10).hexdigest() for k in keys],
        "version": [1] * n,
        "url": urls,
        "canonical_url": urls,
        "source": [source] * n,
        "title": titles,
        "authors": [[authors_pool[int(j)]] for j in rng.integers(0, 300, n)],
        "published_at": [f - timedelta(hours=2) for f in fetched],
        "modified_at": [None] * n,
        "language": ["en"] * n,
        "sitename": [source.title()] * n,
        "description": descriptions,
        "categories": [[c] for c in rng.choice(["politics", "sport", "business", "culture"], n)],
        "tags": [[] for _ in range(n)],
        "image": [f"https://{source}.example/img/{start + i}.jpg" for i in range(n)],
        "text": texts,
        "word_count": [t.count(" ") + 1 for t in texts],
        "content_hash": [hashlib.sha256(t.encode()).hexdigest() for t in texts],
        "simhash": rng.integers(0, 2**63, n, dtype=np.uint64) * 2,
        "duplicate_of": [None] * n,
        "fetched_at": fetched,
        "extracted_at": [f + timedelta(minutes=1) for f in fetched],
        "extractor": ["trafilatura 2.3.1; options=3f2a9c"] * n,
        "snapshot_id": [snapshot_id] * n,
        "warc_file": [f"warc/source={source}/{day:%Y%m%d}-00000.warc.gz"] * n,
        "warc_offset": rng.integers(0, 10**9, n),
        "warc_length": rng.integers(2_000, 90_000, n),
        "url_key": keys,
        "simhash_ext": pa.Array.from_buffers(
            pa.binary(24), n, [None, pa.py_buffer(rng.bytes(24 * n))]
        ),
    }
    return pa.Table.from_pydict(cols, schema=ARTICLES_SCHEMA)


def iter_partitions(
    n_rows: int, sources: int, days: int, seed: int = 7, mean_words: int = 150
) -> Iterator[tuple[str, datetime, pa.Table]]:
    rng = np.random.default_rng(seed)
    words, p = vocabulary(rng)
    per = n_rows // (sources * days)
    extra = n_rows - per * sources * days
    start = 0
    d0 = datetime(2026, 1, 1, tzinfo=UTC)
    for s in range(sources):
        for d in range(days):
            n = per + (1 if s * days + d < extra else 0)
            day = d0 + timedelta(days=d)
            sid = new_snapshot_id(day)
            yield (
                f"source{s:02d}",
                day,
                partition_table(rng, words, p, f"source{s:02d}", day, start, n, sid, mean_words),
            )
            start += n


def build_archive(root: str, n_rows: int, sources: int = 10, days: int = 30) -> dict[str, float]:
    """Write `n_rows` synthetic articles as committed snapshots (one per partition), with
    the same Parquet options and commit protocol as real commits. Returns timings."""
    r = open_root(root)
    t0 = time.perf_counter()
    rows = 0
    for source, day, table in iter_partitions(n_rows, sources, days):
        sid = table["snapshot_id"][0].as_py()
        files = write_article_files(r, [(f"{day:%Y-%m-%d}", table)], source, sid, 10**9, None)
        counts = {
            "new": table.num_rows,
            "changed": 0,
            "unchanged": 0,
            "duplicates_same_source": 0,
            "near_duplicates_flagged": 0,
            "rejected": {},
        }
        info = SnapshotInfo(
            snapshot_id=sid,
            source=source,
            kind="crawl",
            created_at=day.isoformat(),
            schema_version=SCHEMA_VERSION,
            extractor="synthetic",
            crawl_id=None,
            files=files,
            counts=counts,
        )
        write_manifest(r, info)
        rows += table.num_rows
    return {"rows": rows, "build_seconds": round(time.perf_counter() - t0, 1)}


DEFAULT_ROOT = Path(__file__).resolve().parent / "results" / "synthetic-archive"


def ensure_archive(root: str, n_rows: int, *, fresh: bool = False) -> dict[str, float]:
    """Reuse a synthetic archive of exactly `n_rows` committed rows at `root`, else build it
    (so query_speed.py and dedup_index.py generate the million rows only once)."""
    path = Path(root)
    if path.exists() and not fresh:
        rows = sum(f.rows for f in committed_state(root).live)
        if rows == n_rows:
            return {"rows": rows, "build_seconds": 0.0, "reused": True}
    if path.exists():
        shutil.rmtree(path)
    return build_archive(root, n_rows)
