"""Helpers for flow tests: the bundled demo site on 127.0.0.1 (port 0) and its source config."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from crawlers.config import ResolvedSource, parse_config
from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class DemoServer:
    """A running demo site; `updates` (slug -> extra paragraph) is read on every request."""

    base_url: str
    stop: Callable[[], None]
    updates: dict[str, str] = field(default_factory=dict)


def start_demo_server() -> DemoServer:
    updates: dict[str, str] = {}
    base_url, stop = serve_demo_site(0, updates=updates)
    return DemoServer(base_url, stop, updates)


def demo_source(base_url: str, **overrides: Any) -> ResolvedSource:
    """The demo source for a site at `base_url`, with per-test overrides."""
    doc = demo_config(base_url)
    doc["sources"][DEMO_SOURCE].update(overrides)
    return parse_config(doc, "<test config>").source(DEMO_SOURCE)


def fixture_server_module() -> ModuleType:
    """tests/fixtures/server.py (the generated fixture site), imported by path."""
    name = "newsarchive_fixture_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "server.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
