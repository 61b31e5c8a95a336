"""Keep pandas out of a process that never converts to or from it (crawl child, CLI)."""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any


class PandasBlocker:
    """A meta path finder that makes `import pandas` fail.

    pyarrow imports pandas (~0.15-0.2 s of CPU and ~40 MB) when `pyarrow.dataset` is first
    imported and the first time it builds an array or a scalar from Python objects, only to
    ask whether an object is a pandas Series. Without pandas pyarrow treats it as not
    installed (one of its supported set-ups); Prefect only uses pandas when it is loaded.
    Install it (`install`) only in a process that is a program of ours, before pyarrow is
    imported, never on import of a library module.
    """

    def find_spec(
        self, name: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"{name} is not loaded in this process", name=name)
        return None


def install() -> None:
    """Block pandas in this process from now on (once; a no-op when it is loaded already)."""
    if "pandas" in sys.modules or any(isinstance(f, PandasBlocker) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, PandasBlocker())
