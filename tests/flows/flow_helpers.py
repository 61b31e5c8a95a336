"""Helpers for flow tests: the bundled demo site on 127.0.0.1 (port 0) and its source config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crawlers.config import ResolvedSource, parse_config
from flows.demo import DEMO_SOURCE, demo_config, serve_demo_site


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
