"""run_crawl: one crawl of one source in a fresh child process (Scrapy's reactor is one-shot)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
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
    crawl_id = crawl_id or new_crawl_id()
    with tempfile.TemporaryDirectory(prefix="newsarchive-crawl-") as tmp:
        result_path = Path(tmp) / "result.json"
        job = crawl_job(
            source,
            root,
            crawl_id=crawl_id,
            result_path=str(result_path),
            max_pages=max_pages,
            log_level=log_level,
        )
        env = child_env()
        logger.info("crawl %s of %s into %s", crawl_id, source.name, root)
        try:
            proc = subprocess.run(
                child_command(),
                input=json.dumps(job),
                text=True,
                capture_output=True,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CrawlError(
                f"crawl {crawl_id} of {source.name} timed out after {timeout}s"
            ) from None
        if proc.returncode != 0 or not result_path.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-STDERR_TAIL:])
            how = (
                f"killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exit code {proc.returncode}"
            )
            raise CrawlError(f"crawl {crawl_id} of {source.name} failed ({how}):\n{tail}")
        data = json.loads(result_path.read_text(encoding="utf-8"))
    result = CrawlResult.from_json(data)
    logger.info(
        "crawl %s: %d fetches, %s, %d WARC bytes",
        crawl_id,
        result.pages_fetched,
        result.status_counts,
        result.bytes_archived,
    )
    return result
