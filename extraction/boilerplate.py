"""Post-filter for boilerplate-shaped paragraphs that trafilatura lets through."""

from __future__ import annotations

import itertools
import re

#: Paragraphs that are boilerplate wherever they appear (short, formulaic, multilingual).
_ALWAYS = re.compile(
    r"""^(?:
      leave\s+a\s+(?:reply|comment)(?:\s+cancel\s+reply)?
    | (?:post\s+a\s+|add\s+a\s+|write\s+a\s+)?comments?\s*(?:\(\d+\))?
    | \d+\s+comments?
    | cancel\s+reply
    | your\s+email\s+address\s+will\s+not\s+be\s+published.*
    | required\s+fields\s+are\s+marked.*
    | (?:save\s+my\s+name,\s+email.*|notify\s+me\s+of\s+(?:follow-up|new)\s+(?:comments|posts).*)
    | you\s+must\s+be\s+logged\s+in\s+to\s+post\s+a\s+comment.*
    | (?:related|recommended|similar|more)\s+
         (?:items|articles|posts|stories|news|reading|content)\s*:?
    | (?:most\s+(?:read|popular|viewed|shared)|trending(?:\s+now)?|read\s+next|
         you\s+may\s+also\s+like|you\s+might\s+also\s+like|recommended\s+for\s+you|don'?t\s+miss|also\s+read|read\s+more|
         see\s+also|related)\s*:?
    | share\s+(?:this|this\s+(?:article|story|post))?\s*:?
    | (?:share|tweet|pin|email|print)\s+(?:on|via|to)\s+\w+(?:\s+\w+)?
    | click\s+to\s+(?:share|email|print)\b.*
    | like\s+this:?|loading\.\.\.|advertisement|sponsored(?:\s+content)?
    | (?:for\s+the\s+latest\s+news\s+)?follow\s+us\s+on\s+(?:twitter|facebook|instagram|x|telegram|
         linkedin|youtube|tiktok|whatsapp|google\s+news)(?:\s*(?:and|,|or)\s*\w+)*\s*[.!]?
    | (?:join|subscribe\s+to|sign\s+up\s+(?:for|to))\s+(?:our|the)\s+(?:free\s+)?(?:\w+\s+){0,2}
         (?:newsletters?|mailing\s+list|digest)\b.*
    | (?:subscribe|sign\s+up)\s+(?:now|today|here)\b.{0,80}
    | (?:get|receive)\s+(?:our|the\s+latest)\s+.{0,40}\s+(?:in|to)\s+your\s+inbox.*
    | (?:we|this\s+(?:site|website))\s+uses?\s+cookies\b.*
    | (?:accept|reject)\s+(?:all\s+)?cookies
    | (?:photo|image|picture|illustration|credit|photograph|foto|bild)s?\s*(?:credit)?
         \s*[:/]\s*.{0,80}
    | (?:copyright|©)\s*(?:©\s*)?\d{4}.*
    | all\s+rights\s+reserved\.?
    | tags?\s*:.{0,200}
    | (?:filed\s+under|categories|posted\s+in)\s*:.{0,200}
    | \S+\s*[−\-+×x*÷/]\s*\S+\s*=\s*\S{0,3}
    | -+|[|•·*]+
    | (?:read|see|watch|listen)\s+(?:more|also|next)\s*[:|–-].{0,150}
    | related\s*(?:articles?|stories|coverage|content)?\s*:.{0,150}
    | also\s+(?:on|read|see)\s*:?.{0,150}
    | if\s+you\s+(?:enjoyed|liked|appreciated?|value)\s+this\s+(?:article|story|post|piece).*
    | follow\s+@\w+.*
    | follow\s+.{0,60}\s+(?:on|at|via)\s+(?:twitter|facebook|instagram|https?://).*
    | .{0,300}\((?:photo|image|picture|foto|credit|illustration)s?(?:\s+credit)?\s*:.{0,80}\)
    | .{0,300}(?:getty\s+images|shutterstock|istock(?:photo)?|ap\s+photo/.{0,40})\)?
    | \d{4}-\d\d-\d\d(?:[T\s]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?
    | thanks?\s+(?:you\s+)?for\s+(?:signing\s+up|subscribing|registering).*
    | keep\s+an\s+eye\s+on\s+your\s+inbox.*
    | (?:sorry!?\s*)?there\s+was\s+an\s+error\s+processing\s+your\s+(?:subscription|request).*
    | sorry!?
    | .{0,40}\bnewsletters?
    | \(?(?:(?:additional\s+)?reporting|writing|editing|compiled|produced|edited)\s+by\b.*
    | .{0,200}\bcontributed\s+(?:to\s+)?this\s+(?:report|story|article)\.?\)?
    | .{0,80}for\s+your\s+personal,?\s+non-?commercial\s+use\s+only.*
    | (?:if|when)\s+you\s+(?:buy|purchase|click|shop).{0,120}(?:commission|share\s+of\s+the\s+sale|
         compensat|affiliate).*
    | (?:folgen\s+sie\s+uns|suivez-nous|síguenos|seguici|volg\s+ons)\b.{0,60}
    | (?:newsletter\s+abonnieren|abonnez-vous|suscríbete)\b.{0,80}
    | (?:kommentar\s+schreiben|laisser\s+un\s+commentaire|deja\s+un\s+comentario)\b.{0,40}
    | (?:اترك\s+تعليقا|تابعونا\s+على|оставить\s+комментарий|подписывайтесь\s+на|
         читайте\s+также|ادامه\s+مطلب|مقالات\s+ذات\s+صلة).{0,60}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
#: Calls to subscribe / sign up: a short paragraph with an imperative and a channel word.
_PROMO_VERB = re.compile(
    r"\b(?:sign\s+up|subscribe|subscribing|join\s+(?:our|us|the)|register|click\s+here|"
    r"download\s+(?:our|the))\b",
    re.IGNORECASE,
)
_PROMO_CHANNEL = re.compile(
    r"\b(?:newsletters?|inbox|e-?mail\s+(?:alerts|updates)|podcast|app|membership|paywall|"
    r"channel|youtube)\b",
    re.IGNORECASE,
)
#: Contact / bio lines at the end: an e-mail address or a social handle next to "follow"/"email".
_CONTACT = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+|\b(?:follow|email|e-mail|reach|contact)\b.{0,60}(?:@\w{2,}|twitter)",
    re.IGNORECASE,
)
_PROMO_MAX_WORDS = 45
#: Lower-case text every _PROMO_VERB match contains one of (a cheap test before the regex).
_PROMO_VERB_WORDS = ("sign", "subscrib", "join", "register", "click", "download")

#: Headings after which everything to the end of the text is furniture, not article.
_TERMINAL = re.compile(
    r"""^(?:
      leave\s+a\s+(?:reply|comment)
    | related\s+(?:items|articles|posts|stories|news)
    | (?:\d+\s+)?comments?\s*(?:\(\d+\))?
    | you\s+(?:may|might)\s+also\s+like
    | more\s+(?:from|in)\s+.{1,40}
    | most\s+(?:read|popular)
    | read\s+next
    )\s*:?$""",
    re.IGNORECASE | re.VERBOSE,
)
#: A paragraph above this many words is article prose even if it contains trigger words.
_MAX_WORDS = 30


def _more_words_than(text: str, limit: int) -> bool:
    """``len(text.split()) > limit`` without listing every word of a long paragraph: with
    ``maxsplit=limit`` the split stops after ``limit`` words and the rest, which holds at
    least one more word when it exists, is one more item."""
    return len(text.split(maxsplit=limit)) > limit


def _is_contact(paragraph: str) -> bool:
    """``_CONTACT.search(paragraph)``: both of its branches need an "@" or "twitter" (in
    any case; on ASCII text a lower-case test), so without them the regex is not run."""
    if "@" not in paragraph and paragraph.isascii() and "twitter" not in paragraph.lower():
        return False
    return _CONTACT.search(paragraph) is not None


def is_boilerplate(paragraph: str) -> bool:
    """True when a paragraph is a formulaic prompt, form label, share bar or credit line."""
    text = paragraph.strip()
    if not text:
        return False
    if _more_words_than(text, _MAX_WORDS):
        return False
    return bool(_ALWAYS.match(text))


def is_promo(paragraph: str) -> bool:
    """A short call to subscribe, sign up or follow (verb + channel in under ~45 words)."""
    if _more_words_than(paragraph, _PROMO_MAX_WORDS):
        return False
    if paragraph.isascii():  # ASCII: IGNORECASE is lower(); no verb word, no match
        low = paragraph.lower()
        if not any(word in low for word in _PROMO_VERB_WORDS):
            return False
    return bool(_PROMO_VERB.search(paragraph) and _PROMO_CHANNEL.search(paragraph))


_WORD = re.compile(r"\w+")


def teaser_index(link_texts: frozenset[str]) -> dict[str, list[str]]:
    """Link texts keyed by their first four words, for prefix lookups."""
    index: dict[str, list[str]] = {}
    for text in link_texts:
        words = text.split()
        if len(words) >= 4:
            index.setdefault(" ".join(words[:4]), []).append(text)
    return index


def is_teaser(paragraph: str, index: dict[str, list[str]]) -> bool:
    """A paragraph that starts with (or is) the headline of a link to another page."""
    if not index:
        return False
    folded = paragraph.casefold()
    # Without a link text starting with its first four words it is no teaser: decided
    # before all of its words are listed (most paragraphs).
    first = [m.group() for m in itertools.islice(_WORD.finditer(folded), 4)]
    if len(first) < 4 or " ".join(first) not in index:
        return False
    words = _WORD.findall(folded)
    if len(words) < 4 or len(words) > 45:
        return False
    candidates = index.get(" ".join(words[:4]))
    if not candidates:
        return False
    joined = " ".join(words)
    longest = max(
        (len(c.split()) for c in candidates if joined == c or joined.startswith(c + " ")),
        default=0,
    )
    return longest >= 0.6 * len(words)


def filter_paragraphs(paragraphs: list[str], link_texts: frozenset[str] = frozenset()) -> list[str]:
    """Drop boilerplate-shaped paragraphs, teaser runs, repeats and the tail after a terminal
    heading near the end."""
    # Repeated paragraphs are kept: measured, dropping them loses more real text than junk.
    kept = list(paragraphs)
    # Terminal headings only count in the last third: a "Comments" heading mid-article is rare,
    # but cutting there would lose half an article.
    start = (2 * len(kept)) // 3
    for i in range(max(1, start), len(kept)):
        if _TERMINAL.match(kept[i].strip()):
            kept = kept[:i]
            break
    kept = [p for p in kept if not is_boilerplate(p)]
    # Teaser cards (headline link + dek) come in runs; a lone linked paragraph may be prose.
    index = teaser_index(link_texts)
    teaser = [is_teaser(p, index) for p in kept]
    drop = set()
    for i, flag in enumerate(teaser):
        if flag and ((i > 0 and teaser[i - 1]) or (i + 1 < len(teaser) and teaser[i + 1])):
            drop.add(i)
    kept = [p for i, p in enumerate(kept) if i not in drop]
    # Promotions and contact lines anywhere short; contact lines only in the last few paragraphs.
    tail = max(0, len(kept) - 4)
    return [
        p
        for i, p in enumerate(kept)
        if not is_promo(p) and not (i >= tail and not _more_words_than(p, 40) and _is_contact(p))
    ]
