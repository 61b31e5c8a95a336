"""Helpers for reliability tests: the crawler test helpers (fixture server, site source) by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


crawl_helpers = _load("crawl_helpers", TESTS / "crawlers" / "crawl_helpers.py")
fixture_server = crawl_helpers.fixture_server
site_source = crawl_helpers.site_source
sitemap_source = crawl_helpers.sitemap_source
SITE: Path = crawl_helpers.SITE
run_job = crawl_helpers.run_job
spawn_job = crawl_helpers.spawn_job
