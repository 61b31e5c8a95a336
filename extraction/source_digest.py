"""The fingerprint of a third-party function's source, by which a stand-in checks that the
installed library is the version it was written for."""

from __future__ import annotations

import hashlib
import inspect


def source_digest(obj: object) -> str | None:
    """The first 16 hex digits of the sha256 of `obj`'s source; None when it has none."""
    try:
        source = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
