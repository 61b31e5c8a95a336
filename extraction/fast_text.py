"""lxml.html's text_content by the text serializer while trafilatura runs (same text, cheaper).

``HtmlMixin.text_content`` evaluates the XPath ``string()``, which sets up an XPath context
per call; trafilatura calls it for every candidate and link in its link-density tests and
readability's scoring (~75 times per generated page, ~175 per benchmark page). The text
serializer (as `extraction.metadata.element_text`) concatenates the same text nodes without
one. The XPath returns a str subclass (the "smart string" with ``getparent``); the callers
inside the block use the text as a str only (len, split, strip, count, trim's cache).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lxml import etree
from lxml.html import HtmlMixin


def text_content(self: etree._Element) -> str:
    """HtmlMixin.text_content: the text of the element and its descendants (no tail), as
    `extraction.metadata.element_text` reads it (inlined: one call less per use)."""
    return etree.tostring(self, method="text", encoding="unicode", with_tail=False)


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
