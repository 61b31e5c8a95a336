"""parse_html gives trafilatura's load_html tree, element classes included, by a faster lookup."""

from __future__ import annotations

import pytest
from extraction_helpers import Case
from lxml import etree
from lxml.html import HtmlElement

from extraction.extract import _looks_like_html, parse_html

ODD_INPUTS = [
    '<?xml version="1.0" encoding="utf-8"?><html><body><p>declared</p></body></html>',
    "<p>a fragment alone</p>",
    "plain text, no markup at all",
    "<!DOCTYPE html><html><head><title>t</title></head><body><form><input name=q>"
    "<select><option>o</select><textarea>t</textarea><label>l</label></form></body></html>",
    "<html/><body><div>self-closing html tag</div></body>",
    "",
    "\x00\x01<html>\ud800</html>",
    "<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0//EN' 'http://x/y.dtd' />\n<html><p>\x0bz</p>",
    "<html lang=en/>\n<body><p>self-closed html\ufffe\uffff</p></body>",
    "<html><body><p>" + "".join(map(chr, range(32))) + "</p></body></html>",
]


def test_parse_html_gives_trafilaturas_tree_and_element_classes(cases: list[Case]) -> None:
    from trafilatura.utils import load_html

    texts = ODD_INPUTS + [case.html.decode("utf-8", "replace") for case in cases]
    for text in texts:
        ours, theirs = parse_html(text), load_html(text)
        if theirs is None or not isinstance(theirs, HtmlElement):
            assert ours is None, text[:60]
            continue
        assert ours is not None, text[:60]
        assert etree.tostring(ours) == etree.tostring(theirs), text[:60]
        assert [type(e) for e in ours.iter()] == [type(e) for e in theirs.iter()], text[:60]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<HTML><BODY>x", True),
        ("plain <P>text", True),
        ("<!DocType html>", True),
        ("<d\u0130v> and <art\u0130cle>", False),  # str.lower() gives i + U+0307, not "i"
        ("<\u212aa>", False),
        ("no markup here", False),
        ("x" * 65536 + "<div>", False),  # only the first 64 Ki characters count
        ("x" * 65531 + "<div>", True),
    ],
)
def test_looks_like_html_folds_ascii_case_only(text: str, expected: bool) -> None:
    assert _looks_like_html(text) is expected


def test_invalid_xml_characters_are_trafilaturas() -> None:
    from trafilatura.utils import INVALID_XML_CHARS

    from extraction.extract import _INVALID_XML

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert "".join(INVALID_XML_CHARS.findall(every)) == "".join(_INVALID_XML)


UTF8_INPUTS = [
    *ODD_INPUTS,
    "\u00a0<html><body><p>a non-ASCII space first: a fragment to lxml's bytes test</p></html>",
    "\u3000\n<p>ideographic space</p><p>two</p>",
    "\x1c<html><body><p>information separator first</p></body></html>",
    " \t\n<!doctype html><html><body><p>ASCII spaces first</p></body></html>",
    "<html><body><p>C1 \x80\x85\x9f, non-characters \ufdd0\U0010ffff, "
    "astral \U0001f600 and \u00e9\u4e2d</p></body></html>",
    "<p>caf\u00e9</p><p>two paragraphs, no html tag</p>",
    "<!doctype html>\n<html><head><meta charset='iso-8859-1'></head><body>\u00fc</body></html>",
    "<html><body><div>no newline at all \u00e9</div></body></html>",
]


@pytest.mark.parametrize("text", UTF8_INPUTS)
def test_parse_html_from_the_utf8_bytes_gives_the_same_tree(text: str) -> None:
    """Given the text's own UTF-8 bytes (strictly decoded pages), the same tree or None."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates: no strict decoding gives such a text
    plain, from_bytes = parse_html(text), parse_html(text, data)
    if plain is None:
        assert from_bytes is None
        return
    assert from_bytes is not None
    assert etree.tostring(from_bytes) == etree.tostring(plain)
    assert from_bytes.tag == plain.tag and len(from_bytes) == len(plain)
    assert [type(e) for e in from_bytes.iter()] == [type(e) for e in plain.iter()]


def test_parse_html_from_the_utf8_bytes_on_fixture_pages(cases: list[Case]) -> None:
    for case in cases:
        text = case.html.decode("utf-8", "replace")
        plain, from_bytes = parse_html(text), parse_html(text, text.encode("utf-8"))
        assert (plain is None) == (from_bytes is None)
        if plain is not None and from_bytes is not None:
            assert etree.tostring(from_bytes) == etree.tostring(plain)
