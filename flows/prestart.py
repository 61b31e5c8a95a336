"""What a command can start before Prefect is imported: roots, extraction pools (no Prefect)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

#: Sources crawled at once by `crawl_sources` (its task runner's threads).
CRAWL_SOURCES_PARALLEL = 4


def absolute_root(root: str) -> str:
    """The root as every process sees it: a local path made absolute (tasks may run on
    Dask workers or runner processes with another working directory), URIs unchanged."""
    if "://" in root:
        return root
    from storage.fs import open_root

    return open_root(root).uri


def pool_size(workers: int | None) -> int:
    """Worker processes of an extraction pool (`workers`, default: one per CPU)."""
    return max(1, workers if workers is not None else (os.cpu_count() or 1))


def start_pool(workers: int | None) -> ProcessPoolExecutor:
    """A spawn process pool whose workers start (spawn, imports) right away."""
    from extraction.batch import make_pool, warm_pool

    pool = make_pool(pool_size(workers))
    warm_pool(pool, pool_size(workers))
    return pool
