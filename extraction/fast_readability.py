"""An exact, cheaper stand-in for readability's unlikely-candidate removal, used per call.

trafilatura's readability fork (run on every page by compare_extraction) starts with
``Document.remove_unlikely_candidates``: an ElementPath ``findall(".//*")`` (a chain of
Python generators) and a string join per element. The stand-in lists the same elements
(those with a class or an id, in document order) with one compiled XPath and builds the
same "class id" string only for them; verdicts (remembered across documents) and the
removals are the original's. It is swapped in only while the original's source is the
one it was written for (`EXPECTED`); tests/extraction/test_fast_readability.py compares
both.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lxml import etree
from lxml.html import HtmlElement
from trafilatura import readability_lxml

from extraction.fast_xpaths import search_any
from extraction.source_digest import source_digest

#: sha256 (first 16 hex) of the source of Document.remove_unlikely_candidates.
EXPECTED = "6ef38c8475242af9"
#: What ``findall(".//*")`` lists, less the elements with neither a class nor an id
#: (their joined attributes are empty: the original skips them).
_WITH_CLASS_OR_ID = etree.XPath("descendant::*[@class or @id]")


@functools.cache
def active() -> bool:
    """Whether the installed readability fork is the one the stand-in was written for."""
    original = getattr(readability_lxml.Document, "remove_unlikely_candidates", None)
    return source_digest(original) == EXPECTED


Search = Callable[[str], "re.Match[str] | None"]


def _grouped(regex: re.Pattern[str]) -> Search:
    """``regex.search``, as `extraction.fast_xpaths.search_any` of its alternatives when
    it is a plain alternation of words (no group, class, escape or flag): the same matches,
    fewer branches tried per position."""
    pattern = regex.pattern
    if regex.flags != re.UNICODE or any(c in pattern for c in "\\()[]{}^$.*+?"):
        return regex.search
    return search_any(*pattern.split("|"))


@functools.cache
def _candidate_searches() -> tuple[Search, Search]:
    """readability's unlikely-candidate and ok-candidate searches (`_grouped`)."""
    regexes = readability_lxml.REGEXES
    return _grouped(regexes["unlikelyCandidatesRe"]), _grouped(regexes["okMaybeItsACandidateRe"])


@functools.lru_cache(maxsize=4096)
def _unlikely(attrs: str) -> bool:
    """The original's verdict for a "class id" string, from readability's two constant
    regexes: remembered across documents (a site's pages repeat their classes and ids)."""
    low = attrs.lower()
    unlikely, maybe = _candidate_searches()
    return unlikely(low) is not None and maybe(low) is None


def remove_unlikely_candidates(self: readability_lxml.Document) -> None:
    """Document.remove_unlikely_candidates, the same verdicts on the same elements."""
    frame_tags = readability_lxml.FRAME_TAGS
    for elem in _WITH_CLASS_OR_ID(self.doc):
        cls = elem.get("class")
        ident = elem.get("id")
        # " ".join(filter(None, (cls, ident))): empty values are left out
        if cls:
            attrs = cls + " " + ident if ident else cls
        elif ident:
            attrs = ident
        else:
            continue
        if len(attrs) < 2 or not _unlikely(attrs):
            continue
        if elem.tag not in frame_tags:
            elem.drop_tree()


def remove_listed_candidates(
    self: readability_lxml.Document, listed: list[tuple[HtmlElement, str]]
) -> None:
    """`remove_unlikely_candidates` given the document's elements with a class or an id and
    their "class id" strings, in document order, as an earlier walk of the same tree found
    them (extraction.scan.scan_tree, `RawPrunes.classed`).

    Exact while the tree has only lost elements since that walk (tags and attributes, all
    the verdicts read, unchanged): an element that has left the tree as a removed subtree's
    root (no parent) is skipped, as readability's own list would not hold it; one inside a
    removed subtree is dropped there, touching only that detached subtree, as readability
    does for the elements inside a subtree it dropped itself.
    """
    frame_tags = readability_lxml.FRAME_TAGS
    for elem, attrs in listed:
        if len(attrs) < 2 or not _unlikely(attrs):
            continue
        if elem.tag not in frame_tags and elem.getparent() is not None:
            elem.drop_tree()


@contextmanager
def fast_readability(
    seed: tuple[HtmlElement, list[tuple[HtmlElement, str]]] | None = None,
) -> Iterator[None]:
    """Within the block, readability's Document uses the stand-in (restored on exit).

    ``seed``: (tree, its `RawPrunes.classed` list) for a tree that readability may get
    itself (a lent raw tree in precision mode): a Document of that very tree object uses
    the list once (`remove_listed_candidates`) instead of searching the tree.
    """
    document = readability_lxml.Document
    original = document.__dict__.get("remove_unlikely_candidates")
    if (
        original is None
        or original is remove_unlikely_candidates
        or getattr(original, "stand_in", False)
        or not active()
    ):
        yield
        return
    stand_in = remove_unlikely_candidates
    if seed is not None:
        pending = [seed]

        def seeded(self: readability_lxml.Document) -> None:
            if pending and self.doc is pending[0][0]:
                remove_listed_candidates(self, pending.pop()[1])
            else:
                remove_unlikely_candidates(self)

        seeded.stand_in = True  # type: ignore[attr-defined]
        stand_in = seeded
    document.remove_unlikely_candidates = stand_in  # type: ignore[method-assign]
    try:
        yield
    finally:
        document.remove_unlikely_candidates = original  # type: ignore[method-assign]
