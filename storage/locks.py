"""Per-source advisory locks (fcntl) so one source is committed by one process at a time."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator

from storage.fs import LOCKS_DIR, Root, open_root

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 600.0


class LockTimeout(RuntimeError):
    """Another process holds the lock for longer than we were willing to wait."""


def _lock_path(root: Root, name: str) -> str:
    if root.is_local:
        d = root.path(LOCKS_DIR)
    else:
        # Object stores have no advisory locks: serialize on this host only (documented).
        digest = hashlib.sha256(root.uri.encode()).hexdigest()[:16]
        d = os.path.join(tempfile.gettempdir(), "newsarchive-locks", digest)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"{name}.lock")


@contextlib.contextmanager
def source_lock(
    root: str | Root,
    source: str,
    *,
    purpose: str = "commit",
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    poll: float = 0.05,
) -> Iterator[None]:
    """Hold the `<purpose>-<source>` lock; wait up to `timeout` seconds, then `LockTimeout`.

    The lock is released by the kernel when the holder dies, so a crashed run never leaves
    a stale lock behind.
    """
    r = open_root(root)
    path = _lock_path(r, f"{purpose}-{source}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if not waited:
                    log.info("waiting for the %s lock of source %r (%s)", purpose, source, path)
                    waited = True
                if time.monotonic() >= deadline:
                    holder = _read_holder(path)
                    raise LockTimeout(
                        f"source {source!r} is locked by another {purpose} ({holder}); "
                        f"gave up after {timeout:g}s (lock file {path})"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(200).strip() or "unknown holder"
    except OSError:
        return "unknown holder"
