"""text_content inside the block gives lxml.html's text, and the block restores it."""

from __future__ import annotations

from extraction_helpers import Case
from lxml import etree
from lxml.html import HtmlMixin

from extraction import fast_text
from extraction.extract import parse_html

MARKUP = (
    "<html><head><title>t</title></head><body><div id='a'>one <b>two</b> three"
    "<!-- gone --><p>four&amp;five <i>six</i></p> seven</div>tail<p></p>"
    "<p>\u00e9\u4e2d\U0001f600 <br>x</p></body></html>"
)


def _assert_same(tree: etree._Element) -> None:
    originals = [el.text_content() for el in tree.iter(etree.Element)]
    with fast_text.fast_text_content():
        assert [el.text_content() for el in tree.iter(etree.Element)] == originals


def test_same_text_on_markup_and_fixture_pages(cases: list[Case]) -> None:
    tree = parse_html(MARKUP)
    assert tree is not None
    body = tree.find("body")
    assert body is not None
    body.append(etree.Comment("c"))  # comments and PIs add no text
    body.append(etree.ProcessingInstruction("pi", "x"))
    _assert_same(tree)
    for case in cases:
        page = parse_html(case.html.decode("utf-8", "replace"))
        if page is not None:
            _assert_same(page)


def test_swapped_only_inside_the_block() -> None:
    original = HtmlMixin.text_content
    with fast_text.fast_text_content():
        assert HtmlMixin.text_content is fast_text.text_content
        with fast_text.fast_text_content():  # re-entry: no change, no restore
            pass
        assert HtmlMixin.text_content is fast_text.text_content
    assert HtmlMixin.text_content is original
