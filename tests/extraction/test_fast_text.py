"""text_content and trim inside the block give what lxml.html's and trafilatura's give."""

from __future__ import annotations

from extraction_helpers import Case
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml.html import HtmlMixin
from trafilatura import htmlprocessing, readability_lxml, utils

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


#: Characters of every kind str.split() splits at (and str.isprintable() refuses), and not.
SPACED = st.text(
    st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2003\u2028\u2029\u3000\u200bab,é\x00")
)


@settings(max_examples=1000, deadline=None)
@given(text=SPACED)
def test_trimmed_is_trims_result(text: str) -> None:
    original = utils.trim.__wrapped__
    assert fast_text._trimmed(text) == original(text)
    assert type(fast_text._trimmed(text)) is str


def test_trimmed_of_other_values_is_trims_result() -> None:
    original = utils.trim.__wrapped__
    smart = etree.fromstring("<a>x y</a>").xpath("string()")  # lxml's str subclass
    for value in (None, b"a  b", 3, "", " ", "a b", "a  b", " a", "a ", smart):
        assert fast_text._trimmed(value) == original(value)
        assert type(fast_text._trimmed(value)) is str


def test_trim_swapped_in_every_trafilatura_module_inside_the_block() -> None:
    original = utils.trim
    holders = fast_text._trim_importers()
    assert htmlprocessing in holders and readability_lxml in holders and utils in holders
    with fast_text.fast_texts():
        assert all(module.trim is fast_text.trim for module in holders)
        with fast_text.fast_trim():  # re-entry: no change, no restore
            pass
        assert htmlprocessing.trim is fast_text.trim
    assert all(module.trim is original for module in holders)
