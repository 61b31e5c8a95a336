"""Per-source locks so one source is committed by one process at a time: fcntl on local
roots, a leased lock object (conditional PUT) on s3:// roots, shared by every machine."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from storage.fs import LOCKS_DIR, Root, open_root

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 600.0
#: Lease of an s3:// lock object: renewed every third of it while held; a holder that died
#: (no renewal for this long, by the store's own clock) is taken over.
DEFAULT_LEASE_SECONDS = 60.0


class LockTimeout(RuntimeError):
    """Another process holds the lock for longer than we were willing to wait."""


def _lock_path(root: Root, name: str) -> str:
    if root.is_local:
        d = root.path(LOCKS_DIR)
    else:
        # Stores without conditional writes (not s3://, or boto3 missing): this host only.
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
    if r.scheme == "s3" and _has_boto3():
        with s3_lock(
            r,
            f"{purpose}-{source}",
            what=f"source {source!r} ({purpose})",
            timeout=timeout,
            poll=max(poll, 0.2),
        ):
            yield
        return
    if not r.is_local:
        log.warning(
            "%s roots have no cross-machine lock: commits of %r are serialized on this host only",
            r.scheme,
            source,
        )
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


# -- s3:// roots: a lock object created with a conditional PUT ---------------------------


def _has_boto3() -> bool:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return False
    return True


def _s3_client(r: Root) -> Any:
    import boto3

    region = getattr(r.fs, "region", None) or None
    return boto3.client("s3", endpoint_url=r.endpoint, region_name=region)


def _status(exc: Exception) -> int | None:
    resp = getattr(exc, "response", None) or {}
    code = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(code) if code is not None else None


def _dead_here(host: str, pid: int) -> bool:
    """A holder on this very host whose process is gone (a killed crawl): no need to wait
    for its lease to run out."""
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


class _S3Lease:
    """One held lock object: its ETag proves ownership for renewal and release."""

    def __init__(self, client: Any, bucket: str, key: str, body: bytes, lease: float) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.body, self.lease = body, lease
        self.etag: str | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Create the lock object only if there is none (If-None-Match: *)."""
        try:
            resp = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=self.body, IfNoneMatch="*"
            )
        except Exception as e:
            if _status(e) in (409, 412):  # exists, or a concurrent create won
                return False
            raise
        self.etag = resp["ETag"]
        return True

    def holder(self) -> tuple[str, str | None, bool]:
        """(description, etag, expired) of the current lock object; expiry by the store's
        clock (Last-Modified against the response's Date), so host clocks do not matter."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as e:
            if _status(e) == 404:
                return ("nobody", None, True)
            raise
        body = resp["Body"].read()
        dead = False
        try:
            info = json.loads(body)
            desc = f"pid {info['pid']} on {info['host']}"
            lease = float(info.get("lease", DEFAULT_LEASE_SECONDS))
            dead = _dead_here(info["host"], int(info["pid"]))
        except (ValueError, KeyError, TypeError):
            desc, lease = "unknown holder", DEFAULT_LEASE_SECONDS
        date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = parsedate_to_datetime(date) if date else datetime.now(resp["LastModified"].tzinfo)
        age = (now - resp["LastModified"]).total_seconds()
        return (desc, resp["ETag"], dead or age > lease)

    def break_stale(self, etag: str) -> None:
        """Delete an expired lock object, only if it is still the one we saw (If-Match)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except Exception as e:
            if _status(e) not in (404, 412):
                raise

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                resp = self.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=self.body, IfMatch=self.etag
                )
                self.etag = resp["ETag"]
            except Exception as e:
                if _status(e) in (404, 412):
                    log.error(
                        "lost the lock s3://%s/%s (taken over after expiry)", self.bucket, self.key
                    )
                    self.lost.set()
                    return
                log.warning("could not renew the lock s3://%s/%s: %s", self.bucket, self.key, e)

    def start_renewal(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="s3-lock-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.lost.is_set() or self.etag is None:
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except Exception as e:
            # Expired and taken over meanwhile (412), or gone: not ours to delete.
            log.warning("could not release the lock s3://%s/%s: %s", self.bucket, self.key, e)


@contextlib.contextmanager
def s3_lock(
    root: str | Root,
    name: str,
    *,
    what: str | None = None,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    poll: float = 0.2,
    lease: float = DEFAULT_LEASE_SECONDS,
) -> Iterator[None]:
    """Hold the lock object `<root>/.locks/<name>.lock` of an s3:// root, shared by every
    machine using the bucket: created with `If-None-Match: *` (at most one creator wins),
    renewed with `If-Match` every `lease / 3` seconds, deleted with `If-Match` on release.
    A holder that died stops renewing; after `lease` seconds without renewal (by the
    store's clock) a waiter deletes the stale object (`If-Match` its ETag) and competes
    again. Raises `LockTimeout` after `timeout` seconds."""
    r = open_root(root)
    if r.scheme != "s3":
        raise ValueError(f"s3_lock needs an s3:// root, not {r.uri!r}")
    bucket, _, prefix = r.path(LOCKS_DIR).partition("/")
    key = f"{prefix}/{name}.lock"
    body = json.dumps(
        {
            "owner": uuid.uuid4().hex,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "lease": lease,
            "acquired": time.time(),
        }
    ).encode()
    lk = _S3Lease(_s3_client(r), bucket, key, body, lease)
    what = what or name
    deadline = time.monotonic() + timeout
    waited = False
    while not lk.try_acquire():
        desc, etag, expired = lk.holder()
        if expired and etag is not None:
            log.warning("taking over the expired lock of %s held by %s", what, desc)
            lk.break_stale(etag)
            continue
        if not waited:
            log.info("waiting for the lock of %s (s3://%s/%s)", what, bucket, key)
            waited = True
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"{what} is locked by {desc}; gave up after {timeout:g}s "
                f"(lock object s3://{bucket}/{key})"
            )
        time.sleep(poll)
    lk.start_renewal()
    try:
        yield
    finally:
        lk.release()
