"""The `newsarchive` command: crawl, reextract, query, snapshots, compact, serve, demo.

Exit codes: 0 success, 1 the run failed, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from prefect.task_runners import TaskRunner

    from crawlers.runner import CrawlProcess
    from flows.server import LocalPrefectServer

logger = logging.getLogger(__name__)

DEFAULT_ROOT = "archive"
DEFAULT_CONFIG = "config/sources.yaml"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Prefect settings the CLI applies unless the user set them: Prefect's console output off
#: (its logs still reach the API/UI), no telemetry. Must be set before prefect is imported.
_PREFECT_QUIET_ENV = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL": "CRITICAL",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's client prints a telemetry banner on a terminal; our servers send none anyway.
    "DO_NOT_TRACK": "1",
}


#: Commands that run without pandas as a program (crawlers/no_pandas.py): nothing in them
#: converts to or from pandas, and importing pyarrow.dataset (the flows, the storage
#: modules) imports it, ~0.15 s of CPU per command (flows.pipeline and the storage
#: modules: 1.17-1.31 -> 1.05-1.07 s). Not `query` or `reextract --dask` (DuckDB's and
#: Dask's optional pandas paths), not in-process callers of main().
_NO_PANDAS_COMMANDS = frozenset({"crawl"})


class UsageError(Exception):
    """A bad argument value the parser cannot check (printed as one line, exit 2)."""


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs test)."""
    parser = argparse.ArgumentParser(
        prog="newsarchive",
        description="Scrape-and-archive pipeline for news: crawl to WARC, extract articles,"
        " write versioned Parquet snapshots, query them with DuckDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_root(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--root",
            default=DEFAULT_ROOT,
            metavar="PATH|URI",
            help=f"archive root, a local path or s3://... (default: ./{DEFAULT_ROOT})",
        )

    def add_quiet(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--quiet", "-q", action="store_true", help="only errors and the final summary"
        )

    p = sub.add_parser("crawl", help="crawl sources now (all sources when none is named)")
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="source names from the config")
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH", help="sources file")
    add_root(p)
    p.add_argument("--max-pages", type=_positive_int, metavar="N", help="stop after N pages")
    add_quiet(p)
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("reextract", help="extract again from stored WARC (no network)")
    p.add_argument("--source", metavar="S", help="only this source")
    p.add_argument(
        "--since", type=_date, metavar="DATE", help="only pages fetched on/after YYYY-MM-DD"
    )
    add_root(p)
    p.add_argument(
        "--dask", metavar="ADDRESS", help="run extraction batches on this Dask scheduler"
    )
    add_quiet(p)
    p.set_defaults(func=cmd_reextract)

    p = sub.add_parser("query", help="run SQL over the archive (DuckDB)")
    p.add_argument("sql", metavar="SQL", help="views: articles, latest_articles, pages, snapshots")
    add_root(p)
    p.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help="json: a JSON array of row objects; parquet: binary, to --output or a pipe",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write the result to FILE")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("snapshots", help="list committed snapshots")
    add_root(p)
    p.set_defaults(func=cmd_snapshots)

    p = sub.add_parser("compact", help="merge small article files of a source")
    p.add_argument("--source", metavar="S", help="only this source (default: all)")
    add_root(p)
    add_quiet(p)
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("serve", help="run scheduled crawls (cron from the config) until Ctrl-C")
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH", help="sources file")
    add_root(p)
    add_quiet(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="serve the bundled sample site, crawl it, show what landed")
    p.add_argument(
        "--root",
        default="archive-demo",
        metavar="PATH",
        help="archive root for the demo (default: ./archive-demo)",
    )
    add_quiet(p)
    p.set_defaults(func=cmd_demo)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-01-31: {text!r}") from None


# -- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code (as a program: exits)."""
    code = _main(argv, program=argv is None)
    if argv is None:  # the program itself, not an in-process caller
        _exit_skipping_static_destructors(code)
    return code


def _exit_skipping_static_destructors(code: int) -> NoReturn:
    """Exit the program: the interpreter's own exit steps (threading's exit hooks, every
    non-daemon thread joined, atexit hooks run: Prefect's, logging's, multiprocessing's,
    our S3 finalizer), then os._exit instead of tearing the modules down and the C
    runtime's exit. The teardown of everything a crawl imported (prefect, pyarrow, ...)
    cost ~0.3 s of CPU at the end of every command, with nothing left to flush. And after
    an S3 root, pyarrow's AWS SDK can abort a command whose output is complete from a C++
    static destructor ("terminate called without an active exception", exit -6; seen once
    in about eight full test runs, tests/scale/test_cli_s3.py); skipping those cannot."""
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter calls first
    if shutdown is not None:
        shutdown()
    else:
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None, *, program: bool = False) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if program and args.command in _NO_PANDAS_COMMANDS:
        from crawlers.no_pandas import install

        install()
    for key, value in _PREFECT_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    from crawlers.config import ConfigError
    from storage.fs import ArchivePathError

    with _console_logging(quiet=getattr(args, "quiet", False)):
        try:
            return int(args.func(args))
        except (ConfigError, UsageError, ArchivePathError) as exc:
            print(f"newsarchive: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("newsarchive: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # a failed run: one line, the details are in Prefect's UI
            logger.debug("%s failed", args.command, exc_info=True)
            print(f"newsarchive: {args.command} failed: {_brief_exc(exc)}", file=sys.stderr)
            return EXIT_FAILED


@contextlib.contextmanager
def _console_logging(*, quiet: bool) -> Iterator[None]:
    """Progress lines of the flows on stderr (library loggers: warnings only); restored after,
    so calling main() in-process leaves logging as it was."""
    handler: logging.Handler
    if sys.stderr.isatty() and not quiet:
        from flows.progress import ConsoleProgressHandler

        handler = ConsoleProgressHandler(sys.stderr)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    levels = {"flows": logging.WARNING if quiet else logging.INFO}
    levels.update(dict.fromkeys(("crawlers", "extraction", "storage"), logging.WARNING))
    saved = []
    for name, level in levels.items():
        log = logging.getLogger(name)
        saved.append((log, log.handlers[:], log.level, log.propagate))
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
    try:
        yield
    finally:
        handler.close()
        for log, handlers, level, propagate in saved:
            log.handlers[:] = handlers
            log.setLevel(level)
            log.propagate = propagate


def _api_configured() -> bool:
    """True when PREFECT_API_URL is set (environment, Prefect profile, or a test harness)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


class PrefectApiError(Exception):
    """The Prefect API the environment names does not answer."""


def check_api_answers(timeout: float = 10.0) -> None:
    """With PREFECT_API_URL in the environment: raise PrefectApiError when nothing answers
    there (refused, unknown host, timeout), so that `crawl` fails before it starts crawls
    that no flow would take over. Any HTTP answer counts (Prefect Cloud wants a key)."""
    import urllib.error
    import urllib.request

    url = os.environ.get("PREFECT_API_URL", "").strip()
    if not url:
        return
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PrefectApiError(f"the Prefect API at {url} does not answer: {reason}") from None


def launch_private_server() -> LocalPrefectServer | None:
    """Without a configured Prefect API: launch this command's private server now, without
    waiting for it (pass it to `prefect_api`), so the command can work while it boots.

    Launched before prefect is imported when the environment names no API (importing
    prefect costs ~1 s of CPU, which the server's boot then overlaps); should a Prefect
    profile or settings file name one, `prefect_api` sees it and stops the server."""
    from flows.server import LocalPrefectServer

    if os.environ.get("PREFECT_API_URL") or ("prefect" in sys.modules and _api_configured()):
        return None
    server = LocalPrefectServer(services=False)
    server.launch()
    return server


@contextlib.contextmanager
def prefect_api(server: LocalPrefectServer | None = None) -> Iterator[None]:
    """Use PREFECT_API_URL when set; else a private, API-only Prefect server for this command
    (`server`, launched already by `launch_private_server`, or started here).

    Prefect would start its own temporary server, but that one writes its log noise to our
    terminal; ours writes it to a file under the Prefect home. Queued events and logs are
    flushed before the server stops (no "failed to send events" at exit).

    Flow-run heartbeats are off for these in-process runs unless
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY is set: the heartbeat thread sleeps in 1 s steps and
    made every flow run ~1 s slower at exit, and only an automation reads them.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    updates: dict[Any, Any] = {}
    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" not in os.environ:
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
    if server is not None and _api_configured():
        server.stop()  # launched before the settings were read, and they name an API
        server = None
    if server is None and _api_configured():
        with temporary_settings(updates=updates):
            yield
        return

    from flows.server import LocalPrefectServer

    if server is None:
        server = LocalPrefectServer(services=False)
        server.launch()
    try:
        updates[PREFECT_API_URL] = server.wait_ready()
        with temporary_settings(updates=updates):
            try:
                yield
            finally:
                _drain_prefect_workers()
    finally:
        server.stop()


def _drain_prefect_workers() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=10)


def _check_root_exists(root: str) -> None:
    """Reading commands never create a local root: a missing one is a usage error."""
    if "://" not in root and not Path(root).expanduser().is_dir():
        raise UsageError(f"no archive at {root!r} (run `newsarchive crawl` first, or pass --root)")


# -- commands -----------------------------------------------------------------------------


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawlers.config import load_config

    config = load_config(args.config)
    sources = config.resolved(args.sources or None)  # unknown name -> ConfigError, exit 2
    with contextlib.ExitStack() as stack:
        # While prefect and the flows are imported (~2 s) and a private Prefect server
        # boots (seconds), the crawls already run and the extraction pools start (spawn,
        # imports): each source's flow run takes over its crawl (its first crawl attempt)
        # and its pool. All of it starts before prefect is imported, with or without a
        # configured Prefect API.
        check_api_answers()  # a configured API that is down: fail before anything starts
        server = launch_private_server()
        if server is not None:
            stack.callback(server.stop)
        from crawlers.runner import start_crawl
        from flows.prestart import CRAWL_SOURCES_PARALLEL, absolute_root, start_pool

        crawls: dict[str, CrawlProcess] = {}
        pools: dict[str, ProcessPoolExecutor] = {}
        root = absolute_root(args.root)
        for source in sources[:CRAWL_SOURCES_PARALLEL]:  # those the flow runs first
            crawls[source.name] = stack.enter_context(
                start_crawl(source, root, max_pages=args.max_pages)
            )
        for source in sources[:CRAWL_SOURCES_PARALLEL]:
            pools[source.name] = pool = start_pool(None)
            stack.callback(pool.shutdown, cancel_futures=True)  # a no-op once a run took it
        from flows.pipeline import crawl_sources, started_crawls, started_pools

        with prefect_api(server), started_crawls(crawls), started_pools(pools):
            results = crawl_sources(
                root=args.root, max_pages=args.max_pages, sources=sources, config_path=args.config
            )
    return _print_crawl_results(results, quiet=args.quiet)


def _print_crawl_results(results: list[dict[str, Any]], *, quiet: bool) -> int:
    failed = [r for r in results if not r.get("ok")]
    for r in results:
        if not r.get("ok"):
            print(
                f"newsarchive: crawl of {r['source']} failed: {_brief(r.get('error'))}",
                file=sys.stderr,
            )
            continue
        crawl, snap, ext = r["crawl"], r.get("snapshot") or {}, r["extraction"]
        print(
            f"{r['source']}: {crawl['pages_fetched']} pages"
            f" ({_fmt_counts(crawl['status_counts'])}), {ext['articles']} articles extracted,"
            f" {_snapshot_counts(snap)}; snapshot {snap.get('snapshot_id', '-')}"
            f" ({r['durations'].get('total', 0):.1f}s)"
        )
        if not quiet and ext.get("rejected"):
            print(f"  rejected: {_fmt_counts(ext['rejected'])}")
        if crawl.get("circuit_open_sites"):
            print(
                f"  {r['source']}: stopped fetching {', '.join(crawl['circuit_open_sites'])}"
                f" after failures in a row (circuit breaker):"
                f" {crawl.get('dropped_circuit_open', 0)} URLs left for the next run",
                file=sys.stderr,
            )
        for problem in crawl.get("problems", []):
            if "more" in problem:
                print(f"  ... and {problem['more']} more failed fetches", file=sys.stderr)
                continue
            why = problem["error"] or f"HTTP {problem['status']}"
            print(f"  {r['source']}: {problem['url']}: {why}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _brief(error: object) -> str:
    """First and last line of an error (a crawl error quotes the child's traceback tail)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "unknown error"
    return f"{lines[0]} ... {lines[-1]}"


def _brief_exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_brief(exc)}"


def _fmt_counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


def _snapshot_counts(snap: dict[str, Any]) -> str:
    parts = [f"{snap[k]} {k}" for k in ("new", "changed", "unchanged") if k in snap]
    return ", ".join(parts) or "no snapshot counts"


def cmd_reextract(args: argparse.Namespace) -> int:
    _check_root_exists(args.root)
    with contextlib.ExitStack() as stack:
        server = launch_private_server()  # boots while prefect and the flows are imported
        if server is not None:
            stack.callback(server.stop)
        from flows.pipeline import reextract

        flow_fn = reextract
        workers: int | None = None
        if args.dask:
            from prefect_dask import DaskTaskRunner

            runner = cast("TaskRunner[Any]", DaskTaskRunner(address=args.dask))
            flow_fn = reextract.with_options(task_runner=runner)
            workers = 1  # Dask spreads the batches; each batch extracts inline on its worker
        with prefect_api(server):
            snapshots = flow_fn(
                root=args.root, source=args.source, since=args.since, workers=workers
            )
    for snap in snapshots:
        print(
            f"{snap.get('source')}: snapshot {snap.get('snapshot_id')} (reextract),"
            f" {_snapshot_counts(snap)}"
        )
    if not snapshots:
        print("nothing to reextract (no stored pages matched)")
    return EXIT_OK


def cmd_compact(args: argparse.Namespace) -> int:
    _check_root_exists(args.root)
    with contextlib.ExitStack() as stack:
        server = launch_private_server()  # boots while prefect and the flows are imported
        if server is not None:
            stack.callback(server.stop)
        from flows.pipeline import compact

        with prefect_api(server):
            results = compact(root=args.root, source=args.source)
    for row in results:
        print(
            f"{row['source']}: snapshot {row['snapshot_id']} (compact), {row['files']} files"
            f" replacing {row['replaces']}"
        )
    if not results:
        print("nothing to compact")
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    _check_root_exists(args.root)
    import duckdb

    from storage.views import connect

    if args.format == "parquet" and not args.output and sys.stdout.isatty():
        raise UsageError("parquet is binary: pass --output FILE or redirect stdout")
    con = connect(args.root)
    try:
        relation = con.sql(args.sql)
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise UsageError(_one_line(exc)) from None
    except duckdb.Error as exc:
        print(f"newsarchive: query failed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    if relation is None:  # a statement without a result (e.g. SET)
        return EXIT_OK
    try:
        if args.format == "parquet":
            import pyarrow.parquet as pq

            table = relation.fetch_arrow_table()
            if args.output:
                pq.write_table(table, args.output)
            else:
                buf = io.BytesIO()
                pq.write_table(table, buf)
                sys.stdout.buffer.write(buf.getvalue())
            return EXIT_OK
        columns = [d[0] for d in relation.description]
        rows = relation.fetchall()
    except duckdb.Error as exc:
        print(f"newsarchive: query failed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    text = format_rows(columns, rows, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def format_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    """Render query rows as an aligned table, CSV, or a JSON array of row objects."""
    if fmt == "json":
        objs = [dict(zip(columns, row, strict=True)) for row in rows]
        return json.dumps(objs, default=_json_value, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    json.dumps(v, default=_json_value) if isinstance(v, list | dict) else v
                    for v in row
                ]
            )
        return out.getvalue()
    return _table(columns, [[_cell(v) for v in row] for row in rows])


def _cell(value: Any, width: int = 60) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, list | tuple):
        text = ", ".join(_cell(v, width) for v in value)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(columns: list[str], cells: list[list[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines) + "\n"


def cmd_snapshots(args: argparse.Namespace) -> int:
    _check_root_exists(args.root)
    from storage.snapshots import list_snapshots, snapshot_rows

    rows = snapshot_rows(list_snapshots(args.root))
    columns = ["snapshot_id", "created_at", "source", "kind", "rows", "new", "changed"]
    columns += ["unchanged", "rejected"]
    sys.stdout.write(_table(columns, [[_cell(r.get(c)) for c in columns] for r in rows]))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from crawlers.config import load_config

    config = load_config(args.config)
    from flows.schedule import serve_sources

    return serve_sources(config, root=args.root, config_path=args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(root=args.root, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
