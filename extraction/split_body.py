"""Articles split over several sibling body containers: recover the parts trafilatura skipped."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from lxml.html import HtmlElement

from extraction.metadata import element_text

#: A container counts when its direct <p> children hold at least this many words.
_MIN_CONTAINER_WORDS = 50
_MIN_PARAGRAPH_WORDS = 4
_WORD = re.compile(r"\w+")


def _key(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def body_chunks(
    tree: HtmlElement, paragraphs: Iterable[HtmlElement] | None = None
) -> list[list[str]]:
    """Paragraph texts of the largest group of same-class containers (document order).

    Empty when the page's prose sits in a single container (the common case).
    ``paragraphs``: ``tree.iter("p")`` when the caller has collected it already.
    """
    groups: dict[tuple[str, str], list[HtmlElement]] = defaultdict(list)
    words: dict[HtmlElement, int] = defaultdict(int)
    for p in tree.iter("p") if paragraphs is None else paragraphs:
        parent = p.getparent()
        if parent is None:
            continue
        cls = (parent.get("class") or "").strip()
        if not cls:
            continue  # (tested before counting words: cheaper, same outcome)
        n = len(element_text(p).split())
        if n < _MIN_PARAGRAPH_WORDS:
            continue
        if parent not in words:
            groups[(parent.tag, cls)].append(parent)
        words[parent] += n
    best: list[HtmlElement] = []
    best_words = 0
    for containers in groups.values():
        big = [c for c in containers if words[c] >= _MIN_CONTAINER_WORDS]
        total = sum(words[c] for c in big)
        if len(big) >= 2 and total > best_words:
            best, best_words = big, total
    return [[" ".join(element_text(p).split()) for p in c.iterchildren("p")] for c in best]


def add_missing_chunks(paragraphs: list[str], chunks: list[list[str]]) -> list[str]:
    """Append body chunks missing from the text after the last chunk that is present.

    Only when the text already holds at least one whole chunk (so the chunks are this
    article's body) and misses at least one other whole chunk.
    """
    if len(chunks) < 2 or not paragraphs:
        return paragraphs
    have = {_key(p) for p in paragraphs}

    def present(chunk: list[str]) -> float:
        keys = [_key(p) for p in chunk if _key(p)]
        return sum(k in have for k in keys) / len(keys) if keys else 0.0

    shares = [present(c) for c in chunks]
    if max(shares) < 0.8 or min(shares) > 0.2:
        return paragraphs
    out = list(paragraphs)
    for chunk, share in zip(chunks, shares, strict=True):
        if share > 0.2:
            continue
        # Insert after the last paragraph of the nearest present chunk before this one.
        anchor = len(out)
        for prev, prev_share in zip(chunks, shares, strict=True):
            if prev is chunk:
                break
            if prev_share >= 0.8:
                keys = {_key(p) for p in prev}
                idx = [i for i, p in enumerate(out) if _key(p) in keys]
                if idx:
                    anchor = idx[-1] + 1
        missing = [p for p in chunk if _key(p) and _key(p) not in have]
        out[anchor:anchor] = missing
        have.update(_key(p) for p in missing)
    return out
