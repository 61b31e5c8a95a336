"""Extraction output fingerprint and CPU cost: prove a speed change leaves every field as is.

dump OUT.json       every Article/Rejection field for the benchmark pages, the
                    tests/extraction fixtures, tests/fixtures/site and generated crawl
                    benchmark pages, under 4 option sets
compare A.json B.json
cpu                 extract_article vs trafilatura.extract (defaults, text only) CPU ms/doc,
                    interleaved per page so that a shared machine's load hits both alike
                    (--corpus realistic: 200 of the crawl benchmark's generated pages)
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "extraction"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from extraction.extract import extract_article  # noqa: E402
from extraction.options import ExtractionOptions  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "extraction-benchmark"
FETCHED = datetime(2020, 1, 1, tzinfo=UTC)
VARIANTS = {
    "default": ExtractionOptions(),
    "balanced": ExtractionOptions(favor_precision=False),
    "recall": ExtractionOptions(favor_precision=False, favor_recall=True, include_comments=True),
    "trafmeta": ExtractionOptions(trafilatura_metadata=True),
}
Page = tuple[str, bytes, str, str | None, dict[str, Any]]


def benchmark_pages(data: Path) -> list[Page]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        (
            pid,
            gzip.decompress((data / "html" / f"{pid}.html.gz").read_bytes()),
            truth[pid]["url"],
            "text/html; charset=utf-8",
            {},
        )
        for pid in sorted(truth)
    ]


def fixture_pages() -> Iterator[Page]:
    from extraction_helpers import load_cases

    for case in load_cases():
        yield case.name, case.html, case.url, case.content_type, case.hints
    site = ROOT / "tests" / "fixtures" / "site"
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        yield rel, path.read_bytes(), f"http://127.0.0.1:8000/{rel}", "text/html", {}


def generated_pages(realistic: int = 40, plain: int = 10) -> list[Page]:
    """The crawl benchmark's generated articles (tests/fixtures/server.py): the realistic
    ~66 KB template-heavy pages, and the plain ones."""
    from server import gen_article, gen_article_path, gen_article_realistic

    pages: list[Page] = []
    for i in range(realistic):
        url = f"http://127.0.0.1:8000{gen_article_path(i)}"
        pages.append((f"gen-realistic-{i}", gen_article_realistic(i), url, "text/html", {}))
    for i in range(plain):
        url = f"http://127.0.0.1:8000{gen_article_path(i)}"
        pages.append((f"gen-plain-{i}", gen_article(i), url, "text/html", {}))
    return pages


def dump(data: Path, out: Path) -> int:
    pages = benchmark_pages(data) + list(fixture_pages()) + generated_pages()
    records = {}
    for variant, options in VARIANTS.items():
        for name, html, url, ctype, hints in pages:
            result = extract_article(
                html,
                url,
                fetched_at=FETCHED,
                source="bench",
                content_type=ctype,
                options=options,
                hints=hints,
            )
            fields = json.loads(json.dumps(asdict(result), default=repr, sort_keys=True))
            records[f"{variant}:{name}"] = fields
    out.write_text(json.dumps(records, indent=0, sort_keys=True), encoding="utf-8")
    print(f"{len(records)} records written to {out}")
    return 0


def compare(a: Path, b: Path, ignore: frozenset[str] = frozenset()) -> int:
    old = json.loads(a.read_text(encoding="utf-8"))
    new = json.loads(b.read_text(encoding="utf-8"))
    differing = 0
    for key in sorted(set(old) | set(new)):
        x, y = old.get(key) or {}, new.get(key) or {}
        fields = sorted(f for f in (set(x) | set(y)) - ignore if x.get(f) != y.get(f))
        if fields:
            differing += 1
            if differing <= 20:
                print(f"DIFF {key}: {fields}")
    print(f"{len(old)} vs {len(new)} records, {differing} differing")
    return 1 if differing else 0


def cpu(data: Path, rounds: int, corpus: str = "benchmark") -> int:
    import trafilatura

    pages = benchmark_pages(data) if corpus == "benchmark" else generated_pages(200, 0)
    options = ExtractionOptions()
    # The generated pages are dated 2026-MM-10: fetched late in 2026 as in a crawl (with
    # FETCHED every one of them would look post-dated and pay htmldate's search).
    fetched = FETCHED if corpus == "benchmark" else datetime(2026, 11, 25, 12, tzinfo=UTC)

    def ours(html: bytes, url: str) -> None:
        extract_article(
            html, url, fetched_at=fetched, source="b", content_type=pages[0][3], options=options
        )

    def theirs(html: bytes, url: str) -> None:
        trafilatura.extract(html, url=url)

    for _, html, url, _, _ in pages[:20]:  # warm-up: imports, language model, caches
        ours(html, url)
        theirs(html, url)
    spent: dict[Callable[[bytes, str], None], float] = {ours: 0.0, theirs: 0.0}
    for r in range(rounds):
        for i, (_, html, url, _, _) in enumerate(pages):
            order: tuple[Callable[[bytes, str], None], ...] = (
                (ours, theirs) if (i + r) % 2 == 0 else (theirs, ours)
            )
            for fn in order:
                start = time.process_time()
                fn(html, url)
                spent[fn] += time.process_time() - start
    n = rounds * len(pages)
    a, b = spent[ours] * 1000 / n, spent[theirs] * 1000 / n
    print(f"extract_article {a:.2f} ms/doc, trafilatura.extract {b:.2f} ms/doc, ratio {a / b:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="extraction-benchmark folder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dump").add_argument("out")
    cmp_parser = sub.add_parser("compare")
    cmp_parser.add_argument("a")
    cmp_parser.add_argument("b")
    cmp_parser.add_argument("--ignore", action="append", default=[], help="a field to skip")
    cpu_parser = sub.add_parser("cpu")
    cpu_parser.add_argument("--rounds", type=int, default=3)
    cpu_parser.add_argument(
        "--corpus", choices=("benchmark", "realistic"), default="benchmark", help="pages to time"
    )
    args = parser.parse_args(argv)
    data = Path(args.data)
    if args.command != "compare" and not (data / "ground-truth.json").exists():
        print(f"no benchmark data at {data}; pass --data", file=sys.stderr)
        return 2
    if args.command == "dump":
        return dump(data, Path(args.out))
    if args.command == "compare":
        return compare(Path(args.a), Path(args.b), frozenset(args.ignore))
    return cpu(data, args.rounds, args.corpus)


if __name__ == "__main__":
    raise SystemExit(main())
