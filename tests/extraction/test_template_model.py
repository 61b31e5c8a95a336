"""Per-source template model: blocks recurring across a source's pages are removed."""

from __future__ import annotations

from datetime import UTC, datetime

from extraction.extract import Article, extract_article
from extraction.options import ExtractionOptions
from extraction.template import TemplateModel, learn_template

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
