"""Two whole-tree copies trafilatura.bare_extraction makes that nothing reads, left out per call.

bare_extraction copies four trees per page; two of those copies are never needed by us:

* its first ``copy(tree)`` protects the caller's tree. When the caller does not read that
  tree again (it re-parses the page if it needs it once more) and the tree is its
  document's root (so the copy and the tree hold the same elements), the copy is skipped:
  `lend_tree`.
* in precision mode ``_extract_and_compare`` hands ``copy(tree)`` of the raw tree to
  compare_extraction, but trafilatura_sequence never reads the raw tree again in that mode
  (the baseline rescue and the recall escalation only run in the other modes): the
  stand-in hands over the raw tree itself, and copies as before in every other mode.

Both rest on trafilatura's own code, so they are active only while the functions involved
are exactly the ones they were written for (`EXPECTED`, source digests; else a no-op).
tests/extraction/test_fast_copies.py compares outputs with and without them.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lxml.html import HtmlElement
from trafilatura import core

from extraction.source_digest import source_digest

logger = logging.getLogger(__name__)

#: sha256 (first 16 hex) of the source of each trafilatura.core function the stand-ins
#: rely on: the copy order in bare_extraction, the raw tree's uses in trafilatura_sequence.
EXPECTED = {
    "bare_extraction": "2e57adb3062086f9",
    "trafilatura_sequence": "f03dc4d2946dacbd",
    "_extract_and_compare": "f7d056c2118222e8",
    "_prepare_tree": "9595f0642825c2c7",
}


@functools.cache
def active() -> bool:
    """Whether the installed trafilatura is the one the stand-ins were written for."""
    if getattr(core, "copy", None) is not copy.copy:
        return False
    for name, digest in EXPECTED.items():
        if source_digest(getattr(core, name, None)) != digest:
            logger.debug("trafilatura.core.%s changed: tree copies kept", name)
            return False
    return True


def _extract_and_compare(
    cleaned_tree: HtmlElement, cleaned_tree_backup: HtmlElement, tree: HtmlElement, options: Any
) -> tuple[Any, str]:
    """core._extract_and_compare without the raw tree's copy in precision mode."""
    postbody, temp_text = core.extract_content(cleaned_tree, options)
    if not options.fast:
        raw = tree if options.focus == "precision" else copy.copy(tree)
        postbody, temp_text = core.compare_extraction(
            cleaned_tree_backup, raw, postbody, temp_text, options
        )
    return postbody, temp_text


@contextmanager
def lean_copies(lend: HtmlElement | None = None) -> Iterator[None]:
    """Within the block, bare_extraction skips the raw tree's copy in precision mode and,
    when ``lend`` is given (a document's root the caller never reads again), works on
    ``lend`` itself instead of copying it first. Restored on exit; a no-op when `active`
    is False or when already inside the block."""
    if not active() or core._extract_and_compare is _extract_and_compare:
        yield
        return
    original_copy: Callable[[Any], Any] = core.copy
    original_compare = core._extract_and_compare
    pending = [lend] if lend is not None and lend.getparent() is None else []

    def copy_once(obj: Any) -> Any:
        # bare_extraction's `copy(tree)` is core's first copy call, before any other
        if pending and obj is pending[0]:
            pending.clear()
            return obj
        return original_copy(obj)

    core._extract_and_compare = _extract_and_compare
    if pending:
        core.copy = copy_once  # type: ignore[assignment]
    try:
        yield
    finally:
        core._extract_and_compare = original_compare
        core.copy = original_copy  # type: ignore[assignment]
