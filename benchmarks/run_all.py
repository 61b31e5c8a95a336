"""`make bench`: run every benchmark script in turn; each prints its table and writes JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "extraction-benchmark"

#: (script, extra arguments). Each script bounds its own run time.
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("extraction_quality.py", ["--data", str(SHARED)]),
    ("extraction_throughput.py", ["--command"]),
    ("crawl_throughput.py", []),
    ("query_speed.py", []),
    ("dedup_index.py", []),
    ("commit_memory.py", []),
    ("dead_site.py", []),
    ("flow_overhead.py", []),
    ("dask_scaling.py", []),
]


def main() -> int:
    failed = []
    for script, args in BENCHMARKS:
        path = HERE / script
        if not path.exists():
            print(f"-- {script}: not present, skipped")
            continue
        print(f"== {script} {' '.join(args)}", flush=True)
        if subprocess.call([sys.executable, str(path), *args]) != 0:
            failed.append(script)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
