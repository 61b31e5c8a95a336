"""A Prefect API server as a managed child process on 127.0.0.1, its output kept in a log file."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

#: What a command's private, API-only server (`services=False`) does not run, unless the
#: environment says otherwise. It keeps what makes a run visible in the UI later (flow runs,
#: task runs - recorded from events by the task-run recorder -, logs, events, artifacts, in
#: the database under the Prefect home) and drops what only a long-lived server needs:
#: automations (reactive/proactive triggers and their actions: the server lives for one
#: command; run a Prefect server and set PREFECT_API_URL to use them), the websocket event
#: stream to subscribers (a private server has none), and registering Prefect's block types
#: in the database (a full `prefect server start` does that itself). Measured on a fresh
#: Prefect home: server start 6.3 -> 5.4 s CPU. Without block registration, the memo of
#: it goes too: that memo still imported every installed Prefect collection (prefect_dask:
#: dask, distributed) and hashed the block registry on each start, to decide whether to
#: skip a registration that is off anyway (migrated home: 2.79 -> 2.36 s CPU to ready).
ONE_SHOT_SERVER_ENV = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_API_EVENTS_STREAM_OUT_ENABLED": "false",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


class ServerStartError(RuntimeError):
    """The Prefect server did not become healthy in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_home() -> Path:
    """The Prefect home the server keeps its SQLite database in (PREFECT_HOME or ~/.prefect)."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """In the child, before exec: get SIGTERM when the parent dies, even by SIGKILL (Linux
    PR_SET_PDEATHSIG), so a killed command never leaves its Prefect server behind."""

    def setup() -> None:
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


def _prefect_site_dir() -> str:
    """The directory holding the prefect package, found without importing prefect (importing
    it freezes its settings before the caller has pointed PREFECT_API_URL at this server)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise ServerStartError("prefect is not installed")
    return str(Path(spec.origin).parent.parent)


class LocalPrefectServer:
    """`prefect server` as a child process: start, wait for /api/health, stop with its group.

    `services=False` is Prefect's "ephemeral" mode (API only: fastest start, no scheduler),
    for one command, without automations either (`ONE_SHOT_SERVER_ENV`);
    `services=True` runs the scheduler and the other services so cron schedules fire.
    Everything the server prints goes to `log_path`, never to the user's terminal.
    """

    def __init__(
        self,
        *,
        services: bool,
        log_path: Path | None = None,
        port: int | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.services = services
        self.port = port or free_port()
        self.log_path = log_path or prefect_home() / "newsarchive-server.log"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start the server and wait until it answers; returns the API URL."""
        self.launch()
        return self.wait_ready()

    def launch(self) -> None:
        """Start the server process without waiting for it (see `wait_ready`): the caller
        may do other work while it boots (seconds: imports, database migrations)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
        if not self.services:
            env["PREFECT__SERVER_EPHEMERAL"] = "1"  # what Prefect's own temporary server sets
            env["PREFECT_UI_ENABLED"] = "0"
            for key, value in ONE_SHOT_SERVER_ENV.items():
                env.setdefault(key, value)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            _prefect_site_dir(),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group: Ctrl-C is ours to forward
                preexec_fn=_die_with_parent(os.getpid()),
            )
        logger.debug("prefect server pid %d on %s", self.process.pid, self.api_url)

    def wait_ready(self) -> str:
        """Wait until the launched server answers; returns the API URL."""
        self._wait_healthy()
        return self.api_url

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"Prefect server exited with code {self.process.returncode};"
                    f" see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerStartError(
            f"Prefect server did not answer within {self.startup_timeout:.0f}s; see {self.log_path}"
        )

    def stop(self) -> None:
        """Terminate the server's whole process group; kill it if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> LocalPrefectServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
