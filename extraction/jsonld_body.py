"""Use JSON-LD articleBody to confirm or repair the boundaries trafilatura chose."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]+>")
_TOKEN = re.compile(r"\w+")
#: articleBody shorter than this many words is a teaser, not evidence about boundaries.
_MIN_BODY_WORDS = 40


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _trigrams(tokens: list[str]) -> set[tuple[str, ...]]:
    if len(tokens) < 3:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def body_text(value: object) -> str | None:
    """articleBody as plain text (some sites put HTML or escaped entities in it)."""
    if isinstance(value, list):
        value = "\n".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str) or not value.strip():
        return None
    text = html.unescape(_TAG.sub("\n", value)) if "<" in value else html.unescape(value)
    return text.strip()


def repair_with_article_body(paragraphs: list[str], article_body: object) -> list[str]:
    """Trim leading/trailing paragraphs the articleBody does not contain, when it is complete.

    The body is trusted as a boundary witness only when the extracted text already covers
    most of it (so it is the same article, not a teaser); then paragraphs before its first
    and after its last supported paragraph are furniture (bylines, prompts, related items).
    """
    body = body_text(article_body)
    if not body or not paragraphs:
        return paragraphs
    body_tokens = _tokens(body)
    if len(body_tokens) < _MIN_BODY_WORDS:
        return paragraphs
    text_tokens = _tokens("\n".join(paragraphs))
    # A body much shorter than the text is a teaser or summary: no evidence about the end.
    if len(body_tokens) < 0.6 * len(text_tokens):
        return paragraphs
    body_grams = _trigrams(body_tokens)
    text_grams = _trigrams(text_tokens)
    coverage = len(body_grams & text_grams) / len(body_grams)
    if coverage < 0.8:
        return paragraphs

    def supported(paragraph: str) -> bool:
        grams = _trigrams(_tokens(paragraph))
        return bool(grams) and len(grams & body_grams) / len(grams) >= 0.5

    flags = [supported(p) for p in paragraphs]
    if not any(flags):
        return paragraphs
    first = flags.index(True)
    last = len(flags) - 1 - flags[::-1].index(True)
    return paragraphs[first : last + 1]
