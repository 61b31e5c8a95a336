"""Per-source template model: blocks recurring across a source's pages are removed."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from extraction.extract import Article, extract_article
from extraction.options import ExtractionOptions
from extraction.template import TemplateModel, block_key, learn_template

ABOUT = (
    "The Harbour Gazette is an independent paper owned by its readers and has covered "
    "the port towns since 1921, with offices on Quay Street."
)
STORIES = [
    ("ferry", "The evening ferry will run twice as often from June, the operator said."),
    ("market", "Stallholders at the fish market voted to open on Sundays through August."),
    ("school", "A new primary school on the hill will take its first pupils in September."),
    ("bridge", "Repairs to the swing bridge will close it to cars for three weekends."),
    ("museum", "The maritime museum has been given a collection of ship models by a family."),
    ("library", "The library will lend fishing rods and tide tables to anyone with a card."),
]


def _page(slug: str, lead: str) -> bytes:
    body = "".join(
        f"<p>{lead} Paragraph {i} adds detail about the {slug} story that only this page "
        f"has, so it never repeats elsewhere on the site ({slug}-{i}).</p>"
        for i in range(5)
    )
    return (
        "<html lang='en'><head><title>{slug}</title>"
        "<meta property='og:type' content='article'></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news/'>News</a></nav>"
        f"<article><h1>{slug.title()} news</h1><div class='body'>{body}"
        f"<p class='about'>{ABOUT}</p></div></article>"
        "<footer>Harbour Gazette</footer></body></html>"
    ).encode()


def _extract(html: bytes, slug: str, template: TemplateModel | None) -> Article:
    result = extract_article(
        html,
        f"https://gazette.example/2025/06/01/{slug}-story/",
        fetched_at=datetime(2025, 6, 2, tzinfo=UTC),
        source="gazette",
        content_type="text/html",
        options=ExtractionOptions(),
        template=template,
    )
    assert isinstance(result, Article), result
    return result


def test_learned_template_removes_recurring_block_and_keeps_the_article() -> None:
    pages = [_page(slug, lead) for slug, lead in STORIES]
    model = learn_template(pages[:5])
    assert model.pages == 5 and model.keys
    held_out = pages[5]
    without = _extract(held_out, "library", None)
    with_model = _extract(held_out, "library", model)
    assert "independent paper owned by its readers" in without.text
    assert "independent paper owned by its readers" not in with_model.text
    assert with_model.text.count("library story") == 5  # every article paragraph kept


def test_template_model_round_trips_and_is_deterministic() -> None:
    pages = [_page(slug, lead) for slug, lead in STORIES]
    model = learn_template(pages)
    again = learn_template(list(reversed(pages)))
    assert model == again
    assert TemplateModel.from_json(model.to_json()) == model
    assert len(model.to_json()) < 2000  # small enough to store next to a snapshot


def test_too_few_pages_learn_nothing() -> None:
    pages = [_page(slug, lead) for slug, lead in STORIES[:2]]
    assert learn_template(pages).keys == frozenset()


def _reference_block_key(text: str) -> str | None:
    """block_key as first written (regex whitespace collapse): stored models hold these."""
    norm = re.sub(r"\s+", " ", text).strip().casefold()
    if len(norm) < 12:
        return None
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=8).hexdigest()


#: Letters whose case folding changes their length, and whitespace of every kind.
_CHARS = [*"aBc\u00dfI\u0130 ,.", "\t", "\n", "\r", "\x0b", "\x1c", "\x85", "\u00a0"]
_CHARS += ["\u2009", "\u200b", "\u2028", "\u3000", "\ufeff"]


@given(st.text(alphabet=st.sampled_from(_CHARS), max_size=40))
def test_block_key_is_the_reference_key(text: str) -> None:
    assert block_key(text) == _reference_block_key(text)


def test_block_key_values_are_pinned() -> None:
    # Values of the original implementation: learned models stay valid.
    assert block_key("Twelve chars") == "a8237c801ad26283"
    assert block_key("  The Harbour\u00a0Gazette\tis INDEPENDENT\n") == "8ab622c24c32d728"
    assert block_key("Short text") is None
