"""Archive root: relative paths, atomic writes, moves, listing, escapes refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from storage.fs import ArchivePathError, open_root


def test_relative_paths_round_trip(tmp_path: Path) -> None:
    root = open_root(str(tmp_path / "archive"))
    assert root.is_local and Path(root.base).is_dir()
    with root.open_output("a/b/c.bin") as out:
        out.write(b"hello world")
    assert root.exists("a/b/c.bin") and root.is_file("a/b/c.bin")
    assert root.size("a/b/c.bin") == 11
    with root.open_input("a/b/c.bin") as f:
        f.seek(6)
        assert f.read(5) == b"world"
    assert root.listdir("a") == ["a/b"]
    assert root.glob("", ".bin") == ["a/b/c.bin"]
    assert root.local_path("a/b/c.bin") == str(tmp_path / "archive" / "a" / "b" / "c.bin")
    root.move("a/b/c.bin", "d/e.bin")
    assert not root.exists("a/b/c.bin") and root.read_bytes("d/e.bin") == b"hello world"
    root.delete("d/e.bin")
    assert not root.exists("d/e.bin")
    root.delete("d/e.bin")  # missing is fine
    assert root.glob("nothing-here") == []


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    root = open_root(str(tmp_path))
    root.write_bytes_atomic("m/x.json", b"{}")
    root.write_bytes_atomic("m/x.json", b'{"a": 1}')
    assert root.read_bytes("m/x.json") == b'{"a": 1}'
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["x.json"]  # no temp left


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "s3://b/x"])
def test_escaping_paths_refused(tmp_path: Path, bad: str) -> None:
    root = open_root(str(tmp_path))
    with pytest.raises(ArchivePathError):
        root.path(bad)


def test_listing_rides_out_a_directory_appearing_and_vanishing(tmp_path: Path) -> None:
    """pyarrow's local listing raises FileNotFoundError when the directory is created between
    its failed opendir and its existence check (seen in CI: a crawl creating its first pages
    partition while the test polled it). The archive's listings never raise for that."""
    r = open_root(str(tmp_path))
    target = tmp_path / "pages" / "source=x"
    stop = threading.Event()

    def toggle() -> None:
        while not stop.is_set():
            (target / "crawl_date=2026-01-01").mkdir(parents=True, exist_ok=True)
            (target / "crawl_date=2026-01-01").rmdir()
            target.rmdir()

    thread = threading.Thread(target=toggle)
    thread.start()
    try:
        for _ in range(3000):
            assert r.glob("pages/source=x", ".parquet") == []
            r.listdir("pages/source=x")
    finally:
        stop.set()
        thread.join()
