"""Query speed and size of the `articles` dataset: 1M synthetic rows, DuckDB medians, vs JSONL."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from synthetic import DEFAULT_ROOT, ensure_archive  # noqa: E402  (path set up above)

from storage.views import connect  # noqa: E402

QUERIES = {
    "count per source per day": (
        "SELECT source, crawl_date, count(*) AS n FROM articles GROUP BY ALL ORDER BY ALL"
    ),
    "full-text ILIKE '%ceasefire%'": (
        "SELECT count(*) FROM articles WHERE text ILIKE '%ceasefire%'"
    ),
    "latest_articles count": "SELECT count(*) FROM latest_articles",
}


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.parquet"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--root", default=str(DEFAULT_ROOT), help="synthetic archive (reused)")
    ap.add_argument("--fresh", action="store_true", help="rebuild the synthetic archive")
    ap.add_argument("--remove", action="store_true", help="delete the archive afterwards")
    ap.add_argument("--out", default=str(HERE / "results" / "query_speed.json"))
    args = ap.parse_args(argv)

    root = Path(args.root)
    try:
        print(f"synthetic archive of {args.rows:,} articles in {root} ...", flush=True)
        build = ensure_archive(str(root), args.rows, fresh=args.fresh)
        con = connect(str(root))
        rows = con.sql("SELECT count(*) FROM articles").fetchall()[0][0]
        parquet_bytes = _dir_bytes(root / "articles")
        files = len(list((root / "articles").rglob("*.parquet")))

        jsonl = root.parent / "articles.jsonl"
        t0 = time.perf_counter()
        con.sql(f"COPY (SELECT * EXCLUDE (crawl_date) FROM articles) TO '{jsonl}' (FORMAT json)")
        jsonl_seconds = time.perf_counter() - t0
        jsonl_bytes = jsonl.stat().st_size
        jsonl.unlink()

        timings: dict[str, dict[str, float]] = {}
        for name, sql in QUERIES.items():
            con.sql(sql).fetchall()  # warm-up (file metadata, OS cache)
            runs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                con.sql(sql).fetchall()
                runs.append(time.perf_counter() - t0)
            timings[name] = {
                "median_s": round(statistics.median(runs), 4),
                "min_s": round(min(runs), 4),
                "max_s": round(max(runs), 4),
            }
        hits = con.sql(QUERIES["full-text ILIKE '%ceasefire%'"]).fetchall()[0][0]
        avg_text = con.sql("SELECT avg(length(text)) FROM articles").fetchall()[0][0]

        result = {
            "rows": rows,
            "files": files,
            "build_seconds": build["build_seconds"],
            "avg_text_chars": round(avg_text, 1),
            "parquet_bytes": parquet_bytes,
            "jsonl_bytes": jsonl_bytes,
            "bytes_per_article_parquet": round(parquet_bytes / rows, 1),
            "bytes_per_article_jsonl": round(jsonl_bytes / rows, 1),
            "size_ratio_vs_jsonl": round(parquet_bytes / jsonl_bytes, 3),
            "size_target": 0.35,
            "jsonl_export_seconds": round(jsonl_seconds, 1),
            "ilike_hits": hits,
            "queries": timings,
            "repeat": args.repeat,
            "duckdb_threads": con.sql("SELECT current_setting('threads')").fetchall()[0][0],
            "cpus": os.cpu_count(),
        }
    finally:
        if args.remove:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\n{'metric':<38} {'value':>14}")
    print(f"{'rows / files':<38} {rows:>8,} / {files}")
    print(f"{'bytes per article (Parquet, zstd)':<38} {result['bytes_per_article_parquet']:>14}")
    print(f"{'bytes per article (JSON Lines)':<38} {result['bytes_per_article_jsonl']:>14}")
    print(f"{'size ratio Parquet / JSONL (<= 0.35)':<38} {result['size_ratio_vs_jsonl']:>14}")
    for name, t in timings.items():
        print(f"{'median ' + name:<38} {t['median_s']:>13.3f}s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
