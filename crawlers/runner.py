"""run_crawl: one crawl of one source in a fresh child process (Scrapy's reactor is one-shot)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawlers.config import ResolvedSource

logger = logging.getLogger(__name__)

#: Last lines of the child's stderr quoted in a CrawlError.
STDERR_TAIL = 20


class CrawlError(RuntimeError):
    """The crawl process failed (non-zero exit, killed, or no result written)."""


@dataclass(frozen=True)
class CrawlResult:
    """What one crawl produced: small values only (paths and counts), never page data."""

    crawl_id: str
    source: str
    finish_reason: str
    pages_files: list[str]
    warc_files: list[str]
    bytes_archived: int
    status_counts: dict[str, int]
    fetch_errors: int
    requests_scheduled: int
    dropped_offsite: int
    dropped_non_http: int
    refused_private: int
    robots_forbidden: int
    skipped_archived: int
    counts: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float = 0.0  # the crawl process's peak resident memory
    # Requests not fetched because their site's circuit breaker opened (not fetch attempts:
    # no rows), and those sites as `scheme://host:port`.
    dropped_circuit_open: int = 0
    circuit_open_sites: list[str] = field(default_factory=list)

    @property
    def pages_fetched(self) -> int:
        """Fetch attempts recorded (responses of any status plus failures)."""
        return sum(self.status_counts.values()) + self.fetch_errors

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlResult:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def new_crawl_id(now: datetime | None = None) -> str:
    """A sortable crawl id: `YYYYMMDDTHHMMSSZ-<6 hex>`."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def child_command() -> list[str]:
    """The command line of the crawl process."""
    return [sys.executable, "-m", "crawlers.process"]


def child_env() -> dict[str, str]:
    """The environment of the crawl process: this checkout importable from any cwd."""
    env = dict(os.environ)
    project = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (project, env.get("PYTHONPATH")) if p)
    return env


def crawl_job(
    source: ResolvedSource,
    root: str,
    *,
    crawl_id: str,
    result_path: str,
    max_pages: int | None = None,
    log_level: str = "WARNING",
    pages_batch: int | None = None,
) -> dict[str, Any]:
    """The JSON document the crawl process reads on stdin."""
    return {
        "source": source.model_dump(mode="json"),
        "root": root,
        "crawl_id": crawl_id,
        "max_pages": max_pages,
        "result_path": result_path,
        "log_level": log_level,
        "pages_batch": pages_batch,
    }


class CrawlProcess:
    """One crawl running in its child process (see `start_crawl`): poll it, wait for its
    CrawlResult, or kill it. A context manager: leaving it kills a child still running and
    removes the temporary files."""

    def __init__(
        self,
        source: ResolvedSource,
        root: str,
        *,
        crawl_id: str,
        max_pages: int | None = None,
        log_level: str = "WARNING",
        timeout: float | None = None,
        pages_batch: int | None = None,
    ) -> None:
        self.source = source
        self.root = root
        self.crawl_id = crawl_id
        self.max_pages = max_pages
        self.timeout = timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="newsarchive-crawl-")
        self._result_path = Path(self._tmp.name) / "result.json"
        job = crawl_job(
            source,
            root,
            crawl_id=crawl_id,
            result_path=str(self._result_path),
            max_pages=max_pages,
            log_level=log_level,
            pages_batch=pages_batch,
        )
        logger.info("crawl %s of %s into %s", crawl_id, source.name, root)
        # The child's output goes to files, not pipes: nobody drains a pipe while the parent
        # does other work, and a full pipe would stall the crawl.
        self._stderr = open(Path(self._tmp.name) / "stderr.txt", "w+b")  # noqa: SIM115 - closed in close()
        self.started = time.monotonic()  # when the child was started (time.monotonic)
        try:
            self._proc = subprocess.Popen(
                child_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=child_env(),
            )
            assert self._proc.stdin is not None
            with self._proc.stdin:
                self._proc.stdin.write(json.dumps(job).encode("utf-8"))
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> int | None:
        """None while the crawl runs, else the child's exit code."""
        return self._proc.poll()

    def wait(self) -> CrawlResult:
        """Wait for the crawl to end (at most `timeout` seconds from its start, then it is
        killed); its result, or CrawlError when it failed."""
        name = self.source.name
        try:
            left = None if self.timeout is None else self.started + self.timeout - time.monotonic()
            returncode = self._proc.wait(timeout=None if left is None else max(left, 0.0))
        except subprocess.TimeoutExpired:
            self.kill()
            raise CrawlError(
                f"crawl {self.crawl_id} of {name} timed out after {self.timeout}s"
            ) from None
        if returncode != 0 or not self._result_path.exists():
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace")
            tail = "\n".join(stderr.strip().splitlines()[-STDERR_TAIL:])
            how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
            raise CrawlError(f"crawl {self.crawl_id} of {name} failed ({how}):\n{tail}")
        result = CrawlResult.from_json(json.loads(self._result_path.read_text(encoding="utf-8")))
        logger.info(
            "crawl %s: %d fetches, %s, %d WARC bytes",
            self.crawl_id,
            result.pages_fetched,
            result.status_counts,
            result.bytes_archived,
        )
        return result

    def kill(self) -> None:
        """Kill the child if it still runs (what it flushed stays in the archive)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        """Kill the child if it still runs; remove the temporary files."""
        proc = getattr(self, "_proc", None)
        if proc is not None:
            self.kill()
        self._stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> CrawlProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_crawl(
    source: ResolvedSource,
    root: str,
    *,
    max_pages: int | None = None,
    crawl_id: str | None = None,
    log_level: str = "WARNING",
    timeout: float | None = None,
    pages_batch: int | None = None,
) -> CrawlProcess:
    """Start crawling `source` into the archive at `root` in a child process; returns at once.

    The child flushes its pages rows every few seconds, each row pointing at WARC records
    already committed, so a caller may read (and extract) them while the crawl runs."""
    return CrawlProcess(
        source,
        root,
        crawl_id=crawl_id or new_crawl_id(),
        max_pages=max_pages,
        log_level=log_level,
        timeout=timeout,
        pages_batch=pages_batch,
    )


def run_crawl(
    source: ResolvedSource,
    root: str,
    *,
    max_pages: int | None = None,
    crawl_id: str | None = None,
    log_level: str = "WARNING",
    timeout: float | None = None,
) -> CrawlResult:
    """Crawl `source` into the archive at `root` in a child process; raise CrawlError on failure."""
    with start_crawl(
        source, root, max_pages=max_pages, crawl_id=crawl_id, log_level=log_level, timeout=timeout
    ) as crawl:
        return crawl.wait()
