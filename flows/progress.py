"""Progress of crawls and extraction: log records with a `progress` payload, shown by the CLI
as rich progress bars on a terminal and as plain log lines otherwise."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

PROGRESS_LOGGER = "flows.progress"

_logger = logging.getLogger(PROGRESS_LOGGER)


@dataclass(frozen=True)
class Progress:
    """One progress update of one task (e.g. 'extract alder-bay'); total None = unknown."""

    key: str
    description: str
    completed: float
    total: float | None = None
    unit: str = ""
    done: bool = False
    rate: str = ""  # e.g. "12.5 pages/s", computed by the reporter (it knows the start time)


def report(progress: Progress, message: str) -> None:
    """Emit a progress update; `message` is the plain-text form of it."""
    _logger.info(message, extra={"progress": progress})


def recent_pages_files(r: Any, source: str, since: datetime) -> list[str]:
    """Pages files of `source` in the crawl_date partitions of `since`'s UTC day, the day
    before (clock margin) and later: where a crawl started after `since` writes its rows
    (partitioned by the UTC day of fetched_at). A run polls this while its crawl runs, and
    an archive crawled for months holds thousands of older files it need not list each time
    (8,760 files: 27 ms CPU per full listing)."""
    first = (since.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    files: list[str] = []
    for part in r.listdir(f"pages/source={source}"):
        name = part.rsplit("/", 1)[-1]
        if name.startswith("crawl_date=") and name.removeprefix("crawl_date=") >= first:
            files += r.glob(part, ".parquet")
    return files


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@contextmanager
def watch_crawl(
    root: str,
    source: str,
    crawl_id: str,
    interval: float = 2.0,
    budget: int | None = None,
    since: float | None = None,
) -> Iterator[None]:
    """While a crawl runs in its child process, report the pages it has fetched so far (from
    the pages files it flushes every few seconds), the rate, an ETA against the page budget,
    and the WARC bytes archived. Local roots only (polling an object store costs requests).
    `since`: when the crawl started (time.monotonic), if before this call."""
    if "://" in root:
        yield
        return
    import pyarrow.parquet as pq

    from storage.fs import open_root

    r = open_root(root)
    stop = threading.Event()
    started = since if since is not None else time.monotonic()
    # Wall-clock start of the crawl: its pages are in partitions of that day or later.
    wall_start = datetime.now(UTC) - timedelta(seconds=time.monotonic() - started)
    rows_per_file: dict[str, int] = {}  # pages files are immutable once moved into place

    def fetched() -> int:
        for f in recent_pages_files(r, source, wall_start):
            if crawl_id in f and f not in rows_per_file:
                rows_per_file[f] = pq.read_metadata(r.local_path(f)).num_rows
        return sum(rows_per_file.values())

    def poll(final: bool = False) -> None:
        try:
            pages = fetched()
            files = [f for f in r.glob(f"warc/source={source}", ".warc.gz") if crawl_id in f]
            size = sum(r.size(f) for f in files)
        except OSError:
            return
        elapsed = max(time.monotonic() - started, 1e-6)
        per_s = pages / elapsed
        rate = f"{per_s:.1f} pages/s"
        eta = ""
        if budget and per_s > 0 and not final and pages < budget:
            eta = f", at most {(budget - pages) / per_s:.0f} s left for the {budget}-page budget"
        key = f"crawl {source}"
        report(
            Progress(
                key,
                f"{key}: {pages} pages, {_human_bytes(size)}",
                pages,
                pages if final else budget,
                "pages",
                done=final,
                rate=rate,
            ),
            f"{source}: {pages} pages fetched ({rate}{eta}), {_human_bytes(size)} archived",
        )

    def loop() -> None:
        while not stop.wait(interval):
            poll()

    thread = threading.Thread(target=loop, name=f"watch-{source}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 1)
        poll(final=True)


class ConsoleProgressHandler(logging.Handler):
    """Renders progress records as rich progress bars (pages or bytes, rate, ETA) and every
    other record as a plain line above them. Use only when the stream is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.console = Console(file=stream)
        self.bars = RichProgress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        # Started lazily and restarted if needed: logging.config.dictConfig (Prefect configures
        # logging on import) closes every existing handler, this one included.
        if not self.bars.live.is_started:
            self.bars.start()
        progress = getattr(record, "progress", None)
        if not isinstance(progress, Progress):
            self.console.print(self.format(record), markup=False, highlight=False)
            return
        if progress.key not in self.tasks:
            self.tasks[progress.key] = self.bars.add_task(
                progress.description, total=progress.total, rate=""
            )
        self.bars.update(
            self.tasks[progress.key],
            description=progress.description,
            completed=progress.completed,
            total=progress.total,
            rate=progress.rate,
        )

    def close(self) -> None:
        if self.bars.live.is_started:
            self.bars.stop()
        super().close()
