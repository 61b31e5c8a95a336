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
