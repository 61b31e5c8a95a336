"""Score the pipeline's extraction and trafilatura's defaults on the article-body benchmark."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extraction.evaluation import PageScore, score_page, summarize

#: Fixed fetch time so dates (and therefore the run) do not depend on today.
FETCHED_AT = datetime(2020, 1, 1, tzinfo=UTC)


def _pipeline(html: bytes, url: str) -> str:
    from extraction.extract import Article, extract_article
    from extraction.options import ExtractionOptions

    overrides = json.loads(os.environ.get("NEWSARCHIVE_BENCH_OPTIONS", "{}"))
    result = extract_article(
        html,
        url,
        fetched_at=FETCHED_AT,
        source="benchmark",
        content_type="text/html; charset=utf-8",
        options=ExtractionOptions(**overrides),
    )
    return result.text if isinstance(result, Article) else ""


def _trafilatura(html: bytes, url: str, **kwargs: bool) -> str:
    # The README's reference figures (0.960 / 0.964) are measured with comments excluded.
    import trafilatura

    return (
        trafilatura.extract(
            html.decode("utf-8", "replace"), url=url, include_comments=False, **kwargs
        )
        or ""
    )


def _trafilatura_defaults(html: bytes, url: str) -> str:
    return _trafilatura(html, url)


def _trafilatura_precision(html: bytes, url: str) -> str:
    return _trafilatura(html, url, favor_precision=True)


SYSTEMS: dict[str, Callable[[bytes, str], str]] = {
    "pipeline": _pipeline,
    "trafilatura": _trafilatura_defaults,
    "trafilatura-precision": _trafilatura_precision,
}


def _score_one(args: tuple[str, str, str, str, str]) -> tuple[str, str, PageScore, float]:
    system, page_id, path, url, expected = args
    with gzip.open(path, "rb") as fh:
        html = fh.read()
    start = time.perf_counter()
    predicted = SYSTEMS[system](html, url)
    elapsed = time.perf_counter() - start
    return system, page_id, score_page(predicted, expected), elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="folder with html/ and ground-truth.json")
    parser.add_argument(
        "--systems", default="pipeline,trafilatura", help=f"comma list of {sorted(SYSTEMS)}"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", help="comma list of page ids (debugging)")
    parser.add_argument("--out", help="write per-page scores as JSON here")
    parser.add_argument(
        "--options",
        default="{}",
        help="ExtractionOptions overrides for the pipeline as JSON (ablations), e.g. "
        "'{\"use_jsonld_body\": false}'",
    )
    args = parser.parse_args(argv)

    try:
        overrides = json.loads(args.options)
        from extraction.options import ExtractionOptions

        ExtractionOptions(**overrides)
    except (ValueError, TypeError) as exc:
        parser.error(f"--options: {exc}")
    # Workers are spawned: they read the overrides from the environment.
    os.environ["NEWSARCHIVE_BENCH_OPTIONS"] = json.dumps(overrides)
    data = Path(args.data)
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    ids = sorted(truth) if not args.only else args.only.split(",")
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            parser.error(f"unknown system {s!r}; choose from {sorted(SYSTEMS)}")
    jobs = [
        (
            s,
            pid,
            str(data / "html" / f"{pid}.html.gz"),
            truth[pid]["url"],
            truth[pid]["articleBody"],
        )
        for s in systems
        for pid in ids
    ]
    start = time.perf_counter()
    if args.workers <= 1:
        results = [_score_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_score_one, jobs, chunksize=4))
    wall = time.perf_counter() - start

    per_system: dict[str, dict[str, PageScore]] = {s: {} for s in systems}
    seconds: dict[str, float] = {s: 0.0 for s in systems}
    for system, pid, score, elapsed in results:
        per_system[system][pid] = score
        seconds[system] += elapsed
    print(f"{'system':<24}{'precision':>10}{'recall':>10}{'F1':>8}{'accuracy':>10}{'pages':>7}")
    report: dict[str, object] = {"pages": len(ids), "wall_seconds": round(wall, 1), "systems": {}}
    for system in systems:
        summary = summarize(per_system[system].values())
        print(
            f"{system:<24}{summary.precision:>10.4f}{summary.recall:>10.4f}"
            f"{summary.f1:>8.4f}{summary.accuracy:>10.4f}{summary.pages:>7}"
        )
        report["systems"][system] = {  # type: ignore[index]  # report is built right here
            "precision": summary.precision,
            "recall": summary.recall,
            "f1": summary.f1,
            "accuracy": summary.accuracy,
            "cpu_seconds": round(seconds[system], 1),
            "per_page": {
                pid: {"p": s.precision, "r": s.recall, "exact": s.exact}
                for pid, s in sorted(per_system[system].items())
            },
        }
    print(f"wall time {wall:.1f}s with {args.workers} worker(s)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
