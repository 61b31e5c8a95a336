"""The archive root: a pyarrow filesystem plus a base path, addressed by root-relative paths."""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import logging
import os
import posixpath
import uuid
from dataclasses import dataclass
from typing import IO, Any, cast
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

log = logging.getLogger(__name__)

#: Root-relative directory for files being written; outside every dataset tree on purpose
#: (DuckDB's glob also reads names starting with "." or "_" inside a dataset tree).
STAGING_DIR = ".staging"
#: Root-relative directory for per-source lock files (lock objects on s3:// roots).
LOCKS_DIR = ".locks"


class ArchivePathError(ValueError):
    """A root-relative path that would escape the archive root."""


def _clean_rel(rel: str) -> str:
    """Normalize a root-relative path; refuse absolute paths and `..` segments."""
    rel = rel.replace("\\", "/")
    if rel.startswith("/") or "://" in rel:
        raise ArchivePathError(f"archive path must be relative to the root: {rel!r}")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchivePathError(f"archive path must not contain '..': {rel!r}")
    return "/".join(parts)


@dataclass(frozen=True)
class Root:
    """An archive root. All paths taken and returned are relative to it, with `/` separators."""

    fs: pafs.FileSystem
    base: str  # filesystem path of the root ("/abs/archive" or "bucket/prefix")
    uri: str  # what the user passed, normalized ("/abs/archive" or "s3://bucket/prefix")
    scheme: str  # "" for local, else the URI scheme ("s3", ...)
    endpoint: str | None = None  # s3:// roots on an S3-compatible store: its endpoint URL

    @property
    def is_local(self) -> bool:
        return self.scheme == ""

    def path(self, rel: str) -> str:
        """The filesystem path (for `self.fs`) of a root-relative path."""
        rel = _clean_rel(rel)
        return posixpath.join(self.base, rel) if rel else self.base

    def local_path(self, rel: str = "") -> str:
        """A path or URI for tools outside pyarrow (DuckDB, Polars): OS path or `s3://...`."""
        p = self.path(rel)
        if self.is_local:
            return p
        return f"{self.scheme}://{p}"

    def rel(self, fs_path: str) -> str:
        """The root-relative form of a filesystem path under this root."""
        base = self.base.rstrip("/") + "/"
        if not fs_path.startswith(base):
            raise ArchivePathError(f"{fs_path!r} is not under the archive root {self.uri!r}")
        return fs_path[len(base) :]

    # -- reading -------------------------------------------------------------------------
    def open_input(self, rel: str) -> pa.NativeFile:
        """A seekable, random-access file (ranged reads on object stores)."""
        return self.fs.open_input_file(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        with self.open_input(rel) as f:
            return cast(bytes, f.read())

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def is_file(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type == pafs.FileType.File

    def size(self, rel: str) -> int:
        info = self.fs.get_file_info(self.path(rel))
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(f"not a file in the archive: {rel}")
        return int(info.size or 0)

    def mtime(self, rel: str) -> float | None:
        """Modification time (epoch seconds) or None when the filesystem does not say."""
        info = self.fs.get_file_info(self.path(rel))
        if info.type == pafs.FileType.NotFound or info.mtime is None:
            return None
        return float(info.mtime.timestamp())

    def _select(self, sel: pafs.FileSelector) -> list[pafs.FileInfo]:
        """List a selector, riding out a directory created while it is listed: pyarrow's
        local listing fails the directory, then checks it exists; when another process
        creates it in between, pyarrow raises FileNotFoundError for a directory that exists.
        A second listing then sees it (or sees a real absence and returns nothing)."""
        for attempt in range(5):
            try:
                return list(self.fs.get_file_info(sel))
            except FileNotFoundError:
                if attempt == 4:
                    raise
        return []

    def listdir(self, rel: str = "") -> list[str]:
        """Immediate children (files and directories) of a directory, root-relative, sorted."""
        sel = pafs.FileSelector(self.path(rel), allow_not_found=True, recursive=False)
        return sorted(self.rel(i.path) for i in self._select(sel))

    def glob(self, rel: str = "", suffix: str = "") -> list[str]:
        """All files below a directory (recursive) whose names end with `suffix`, sorted."""
        sel = pafs.FileSelector(self.path(rel), allow_not_found=True, recursive=True)
        return sorted(
            self.rel(i.path)
            for i in self._select(sel)
            if i.type == pafs.FileType.File and i.path.endswith(suffix)
        )

    # -- writing -------------------------------------------------------------------------
    def makedirs(self, rel: str) -> None:
        self.fs.create_dir(self.path(rel), recursive=True)

    def open_output(self, rel: str) -> pa.NativeFile:
        """A new output stream (truncates); parent directories are created. Bytes are written
        as given (no compression guessed from the name: `.warc.gz` members are ours)."""
        self.makedirs(posixpath.dirname(_clean_rel(rel)))
        return self.fs.open_output_stream(self.path(rel), compression=None)

    def write_bytes_atomic(self, rel: str, data: bytes) -> None:
        """Write a whole file so readers see either nothing or all of it.

        Local: a temp file in the same directory, fsync, rename. Object stores: a single
        PUT is already atomic.
        """
        rel = _clean_rel(rel)
        if not self.is_local:
            with self.open_output(rel) as out:
                out.write(data)
            return
        final = self.path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        # The temp name is outside any dataset glob: it lives next to the final file but
        # ends with ".tmp", and only manifests (*.json) and parquet files are ever listed.
        tmp = f"{final}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(final))

    def move(self, src: str, dst: str) -> None:
        """Move a file (atomic rename on local disks; copy+delete on object stores)."""
        self.makedirs(posixpath.dirname(_clean_rel(dst)))
        if self.is_local:
            os.replace(self.path(src), self.path(dst))
            return
        self.fs.move(self.path(src), self.path(dst))

    def delete(self, rel: str, *, missing_ok: bool = True) -> None:
        """Delete one file."""
        try:
            self.fs.delete_file(self.path(rel))
        except FileNotFoundError:
            if not missing_ok:
                raise

    def delete_dir(self, rel: str) -> None:
        """Delete a directory and everything below it (no error if it does not exist)."""
        if self.exists(rel):
            self.fs.delete_dir(self.path(rel))

    def fsync(self, rel: str) -> None:
        """Flush a local file to disk (no-op on object stores)."""
        if not self.is_local:
            return
        fd = os.open(self.path(rel), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def open_local_append(self, rel: str) -> IO[bytes]:
        """An unbuffered append-mode file (local roots only): each write reaches the OS at
        once, and a failed write is seen at the write that failed, not at a later flush."""
        if not self.is_local:
            raise OSError(f"append is not supported on {self.scheme}:// roots")
        self.makedirs(posixpath.dirname(_clean_rel(rel)))
        return open(self.path(rel), "ab", buffering=0)


def fsync_dir(path: str) -> None:
    """Make a rename durable by syncing its directory (best effort; not all OSes allow it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Standard AWS SDK variables naming an S3-compatible endpoint (the service-specific one
#: wins). pyarrow's S3FileSystem does not read them itself, so `open_root` does.
ENDPOINT_ENV_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
#: URI query parameters naming the endpoint of an s3:// root (ours, and pyarrow's name).
_ENDPOINT_PARAMS = ("endpoint_url", "endpoint_override")


def s3_endpoint(root: str, endpoint_url: str | None = None) -> str | None:
    """The endpoint an s3:// root uses: the argument, else `?endpoint_url=` in the URI,
    else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, else None (AWS itself)."""
    if endpoint_url:
        return endpoint_url
    query = parse_qs(urlsplit(root).query)
    for name in _ENDPOINT_PARAMS:
        if query.get(name):
            return query[name][-1]
    for var in ENDPOINT_ENV_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return None


def _open_s3(root: str, endpoint_url: str | None) -> tuple[pafs.FileSystem, str]:
    """An S3FileSystem for `s3://bucket/prefix[?endpoint_url=...&region=...]`: credentials
    and region from the standard AWS environment/config, the endpoint from `s3_endpoint`."""
    parts = urlsplit(root)
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {*_ENDPOINT_PARAMS, "region"})
    if unknown:
        raise ArchivePathError(f"unknown option(s) in archive URI {root!r}: {', '.join(unknown)}")
    bucket_path = (parts.netloc + parts.path).strip("/")
    if not parts.netloc:
        raise ArchivePathError(f"s3:// root needs a bucket: {root!r}")
    kwargs: dict[str, Any] = {}
    endpoint = s3_endpoint(root, endpoint_url)
    if endpoint:
        kwargs["endpoint_override"] = endpoint
    region = (
        next(iter(reversed(query.get("region", []))), None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    if not region and endpoint:
        # S3-compatible stores (MinIO, moto, Ceph) answer to us-east-1; without it the
        # AWS SDK would probe the EC2 metadata service for a region first.
        region = "us-east-1"
    if region:
        kwargs["region"] = region
    _bucket_seen(parts.netloc, tuple(sorted(kwargs.items())))
    return pafs.S3FileSystem(**kwargs), bucket_path


@functools.lru_cache(maxsize=64)
def _bucket_seen(bucket: str, options: tuple[tuple[str, Any], ...]) -> bool:
    """A missing bucket is a clear error up front, not an empty archive or a failed write.

    Cached per bucket and filesystem options (open_root runs for every storage call); an
    exception is not cached, so a bucket created later is found on the next call."""
    fs = pafs.S3FileSystem(**dict(options))
    try:
        info = fs.get_file_info(bucket)
    except OSError as e:  # e.g. no s3:HeadBucket permission: let the real calls decide
        log.debug("could not check bucket %r: %s", bucket, e)
        return True
    if info.type == pafs.FileType.NotFound:
        where = dict(options).get("endpoint_override") or "AWS S3"
        raise ArchivePathError(f"no bucket {bucket!r} at {where} (create it first)")
    return True


def _finalize_s3() -> None:
    # Filesystems kept alive only by garbage cycles go first: an S3 client destroyed after
    # the AWS SDK was shut down can abort the process at exit (seen as "terminate called
    # without an active exception", exit code -6, after the command's output was complete).
    gc.collect()
    with contextlib.suppress(Exception):
        pafs.finalize_s3()


@functools.cache
def _register_s3_exit_hook() -> None:
    """Once per process: finalize S3 at exit before pyarrow's own hook runs (LIFO)."""
    atexit.register(_finalize_s3)


def s3_used() -> bool:
    """True once this process has opened an S3 root (its AWS SDK is initialized)."""
    return _register_s3_exit_hook.cache_info().currsize > 0


def open_root(root: str | Root, *, endpoint_url: str | None = None) -> Root:
    """Open an archive root: a local path (created if missing) or a filesystem URI.

    s3:// roots: credentials and region from the standard AWS environment/config; the
    endpoint of an S3-compatible store from `endpoint_url`, a `?endpoint_url=` query
    parameter of the URI, or `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`. Other URIs go
    through `pyarrow.fs.FileSystem.from_uri` (gs://, hdfs://, ...).
    """
    if isinstance(root, Root):
        return root
    if not root:
        raise ArchivePathError("archive root must not be empty")
    if "://" in root and not root.startswith("file://"):
        scheme = root.split("://", 1)[0].lower()
        fs: pafs.FileSystem
        endpoint = None
        if scheme == "s3":
            _register_s3_exit_hook()
            fs, base = _open_s3(root, endpoint_url)
            endpoint = s3_endpoint(root, endpoint_url)
        else:
            fs, base = pafs.FileSystem.from_uri(root)
            base = base.rstrip("/")
        return Root(fs=fs, base=base, uri=f"{scheme}://{base}", scheme=scheme, endpoint=endpoint)
    path = root.removeprefix("file://")
    base = os.path.abspath(os.path.expanduser(path))
    os.makedirs(base, exist_ok=True)
    return Root(fs=pafs.LocalFileSystem(), base=base, uri=base, scheme="")
