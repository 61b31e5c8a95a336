"""The boilerplate filter's cheap pre-tests decide exactly as the regexes they skip."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from extraction import boilerplate as bp

#: Words near the regexes' literals, their case variants, and the non-ASCII letters that
#: re.IGNORECASE matches to ASCII ones (long s, Kelvin sign, dotless i, dotted I).
WORDS = [
    "sign", "up", "Sign Up", "SUBSCRIBE", "subscribing", "join", "our", "us", "the", "Register",
    "click", "here", "download", "newsletter", "inbox", "app", "podcast", "email", "e-mail",
    "follow", "Follow", "reach", "contact", "twitter", "TWITTER", "@", "@news", "a@b.co",
    "x.y+z@mail.example.org", "twıtter", "ſubscribe", "cliCK", "\u212aontact", "joİn", "word",
    "mot", "été", "\u00a0", "\t", "\n",
]  # fmt: skip
TEXTS = st.lists(st.sampled_from(WORDS), max_size=14).flatmap(
    lambda words: st.sampled_from([" ", "", "  ", "\u2009"]).map(lambda sep: sep.join(words))
)


def _words(text: str) -> int:
    return len(text.split())


@given(TEXTS, st.integers(min_value=0, max_value=50))
def test_more_words_than_is_the_word_count(text: str, limit: int) -> None:
    assert bp._more_words_than(text, limit) == (_words(text) > limit)


@given(TEXTS)
@example("Click here for our newsletter")
@example("SIGN UP for the inbox")
@example("Download our app today")
@example("Join us on the podcast")
@example("REGISTER for e-mail alerts")
def test_is_promo_is_the_regex_decision(text: str) -> None:
    expected = _words(text) <= bp._PROMO_MAX_WORDS and bool(
        bp._PROMO_VERB.search(text) and bp._PROMO_CHANNEL.search(text)
    )
    assert bp.is_promo(text) == expected


@given(TEXTS)
@example("Follow us on TWITTER")
@example("Reach the desk via Twitter")
@example("Email reporter a@b.co")
def test_is_contact_is_the_regex_decision(text: str) -> None:
    assert bp._is_contact(text) == (bp._CONTACT.search(text) is not None)


@given(TEXTS)
def test_is_boilerplate_is_the_regex_decision(text: str) -> None:
    stripped = text.strip()
    expected = bool(stripped) and _words(stripped) <= 30 and bool(bp._ALWAYS.match(stripped))
    assert bp.is_boilerplate(text) == expected


def test_non_ascii_lookalikes_still_reach_the_regex() -> None:
    # IGNORECASE matches these to ASCII letters: the ASCII-only shortcut must not skip them.
    assert re.search("twitter", "twıtter", re.IGNORECASE)
    assert bp._is_contact("follow me on twıtter")
    assert bp._is_contact("Follow us on TWITTER")
    assert bp.is_promo("Click here for our newsletter")
    assert bp.is_promo("ſubscribe to our newsletter")
