"""Cheaper, exact text helpers while trafilatura runs: text_content and trim.

``HtmlMixin.text_content`` evaluates the XPath ``string()``, which sets up an XPath context
per call; trafilatura calls it for every candidate and link in its link-density tests and
readability's scoring (~75 times per generated page, ~175 per benchmark page). The text
serializer (as `extraction.metadata.element_text`) concatenates the same text nodes without
one. The XPath returns a str subclass (the "smart string" with ``getparent``); the callers
inside the block use the text as a str only (len, split, strip, count, trim's cache).

``trafilatura.utils.trim`` (``" ".join(text.split()).strip()`` behind an lru_cache of
1024) runs on most texts trafilatura reads, often long ones (a candidate's whole text). A
text with no whitespace but single inner ASCII spaces is its own trim: `trim` (the same
cache around `_trimmed`) returns it after two scans instead of splitting and joining it
(``str.isprintable`` is False for every character ``str.split`` splits at but the ASCII
space). Swapped in for the trafilatura modules' ``trim`` names only while the original's
source is the one it was written for (`EXPECTED_TRIM`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import trafilatura
from lxml.html import HtmlMixin
from trafilatura import utils

from extraction.metadata import element_text
from extraction.source_digest import source_digest

#: sha256 (first 16 hex) of the source of trafilatura.utils.trim.
EXPECTED_TRIM = "b82ffd884c0dc230"


#: HtmlMixin.text_content's stand-in: the text of the element and its descendants (no tail).
text_content = element_text


@contextmanager
def fast_text_content() -> Iterator[None]:
    """Within the block, lxml.html elements answer text_content with `text_content`
    (restored on exit; a no-op when already inside the block)."""
    original = HtmlMixin.__dict__.get("text_content")
    if original is None or original is text_content:
        yield
        return
    HtmlMixin.text_content = text_content
    try:
        yield
    finally:
        HtmlMixin.text_content = original


@functools.cache
def trim_active() -> bool:
    """Whether trafilatura.utils.trim is the one `trim` was written for."""
    return source_digest(getattr(utils, "trim", None)) == EXPECTED_TRIM


def _trimmed(string: Any) -> str:
    """trafilatura.utils.trim's function: a str with no whitespace but single inner ASCII
    spaces is returned as it is (a plain str), anything else as the original makes it."""
    if (
        type(string) is str
        and string.isprintable()  # no whitespace but ASCII spaces
        and "  " not in string
        and string[:1] != " "
        and string[-1:] != " "
    ):
        return string
    try:
        return " ".join(string.split()).strip()
    except (AttributeError, TypeError):
        return ""


#: `_trimmed` behind an lru_cache as the original's (same size).
trim = functools.lru_cache(maxsize=1024)(_trimmed)


@functools.cache
def _trim_importers() -> tuple[ModuleType, ...]:
    """The trafilatura modules that hold utils.trim under the name ``trim`` (looked up
    once: they bind it when imported, and extraction.extract imports trafilatura whole)."""
    prefix = trafilatura.__name__ + "."
    return tuple(
        module
        for name, module in list(sys.modules.items())
        if (name == trafilatura.__name__ or name.startswith(prefix))
        and getattr(module, "trim", None) is utils.trim
    )


@contextmanager
def fast_trim() -> Iterator[None]:
    """Within the block, every trafilatura module that imported utils.trim calls `trim`
    (restored on exit; a no-op when inactive or already inside the block)."""
    original = utils.trim
    if original is trim or not trim_active():
        yield
        return
    modules = [module for module in _trim_importers() if getattr(module, "trim", None) is original]
    for module in modules:
        module.trim = trim  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in modules:
            module.trim = original  # type: ignore[attr-defined]


@contextmanager
def fast_texts() -> Iterator[None]:
    """`fast_text_content` and `fast_trim` together."""
    with fast_text_content(), fast_trim():
        yield
