"""Exact Python stand-ins for trafilatura's costliest regex XPath prunes, used per call.

trafilatura prunes every tree several times with XPaths built on EXSLT ``re:test``, which
lxml answers by calling back into Python for every candidate element and attribute: on a
news page these prunes cost about a third of the whole extraction. The stand-ins below walk
the tree once with lxml's C tag filter and test the same regexes on the same attribute
strings, returning the same elements in the same (document) order.

Exactness rests on three XPath facts, each covered by tests/extraction/test_fast_xpaths.py
(random trees, stand-in vs. XPath):

* ``re:test(@a, p)`` is ``re.search(p, value)``, the empty string when ``@a`` is missing
  (lxml compiles ``p`` with ``re.UNICODE``; no expression here passes flags);
* ``re:test(@a|@b, p)`` and ``starts-with(@a|@b, s)`` see only the node-set's first node,
  i.e. whichever of the two attributes comes first in the element's source order;
* ``.//*[self::t]`` is ``iterdescendants(t)``: descendants only, in document order.

A stand-in replaces an expression only while its XPath text is exactly the one it was
written for (`EXPECTED`); any other trafilatura version keeps its own XPaths.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lxml import etree
from lxml.html import HtmlElement
from trafilatura import xpaths

logger = logging.getLogger(__name__)

Matcher = Callable[[HtmlElement], list[HtmlElement]]

_OVERALL_TAGS = ("div", "item", "list", "p", "section", "span")
_OVERALL_COOKIE = re.compile("cookie").search
#: The regexes of trafilatura's XPaths (`EXPECTED`) that the stand-ins test most often, as
#: written there: the reference for `_OVERALL_ID`, `_OVERALL_CLASS`, `_HIDDEN_CLASS` and
#: `_COMMENTS_CLASS`, `_BODY_ID` and `_BODY_CLASS` (tests/extraction/test_fast_xpaths.py
#: compares them).
OVERALL_ID_PATTERN = (
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author"
    "|^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related"
    "|message-container|premium|^ad-"
)
OVERALL_CLASS_PATTERN = (
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author"
    "|^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-"
    "|(?:^| )ad-|dfp[Aa]d|outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline"
    "|Byline|share-|sociable|embedded|embed|tag-list|consent|modal-content|permission|elated"
    "|next-|-stories|most-popular|more-on|meta|rating|attachment|timestamp|user-info"
    "|user-profile|-icon|article-infos|message-container|slide|viewport|overlay|options"
    "|expand|obfuscated|blurred|mol-factbox|yin|zlylin|nfoline"
)
HIDDEN_CLASS_PATTERN = (
    "^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print"
    "| hidden| hide|noprint|notloaded"
)
COMMENTS_CLASS_PATTERN = "^[Cc]omment(?!ary)|(?:article|post)-comments"


def search_any(*alternatives: str) -> Callable[[str], re.Match[str] | None]:
    """``re.compile("|".join(alternatives)).search`` for alternatives that each start with a
    literal character, grouped by that character (``b(?:ar|anner)`` for ``bar|banner``).
    The same texts match at the same positions; Python's re, given branches that all start
    with a literal, skips the positions whose character starts none of them and tries at
    the others only the branches of that character (not every alternative at every
    position: ~2.5x faster on the benchmark pages' class strings)."""
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        first = alternative[0]
        if first in "\\()[]{}^$.|*+?":
            raise ValueError(f"not a literal first character: {alternative!r}")
        groups.setdefault(first, []).append(alternative[1:])
    branches = (re.escape(first) + "(?:" + "|".join(rests) + ")" for first, rests in groups.items())
    return re.compile("|".join(branches)).search


_OVERALL_ID_ANY = search_any(
    "social", "viral", "newsletter", "syndication", "tags", "sidebar", "banner",
    "bread-?crumb", "button", "author", "bmdh", "footer", "Footer", "share", "Share", "nav",
    "Nav", "menu", "related", "message-container", "premium",
)  # fmt: skip
_OVERALL_CLASS_ANY = search_any(
    "social", "viral", "newsletter", "syndication", "tags", "sidebar", "banner",
    "bread-?crumb", "button", "author", "subnav", "avigation", "navbar", "navbox", "menu",
    "bar", "-ad-", "dfp[Aa]d", "outbrain", "taboola", "criteo", "paid-?content", "widget",
    "footer", "Footer", "byline", "Byline", "share-", "sociable", "embedded", "embed",
    "tag-list", "consent", "modal-content", "permission", "elated", "next-", "-stories",
    "most-popular", "more-on", "meta", "rating", "attachment", "timestamp", "user-info",
    "user-profile", "-icon", "article-infos", "message-container", "slide", "viewport",
    "overlay", "options", "expand", "obfuscated", "blurred", "mol-factbox", "yin", "zlylin",
    "nfoline",
)  # fmt: skip
_HIDDEN_CLASS_ANY = search_any(
    "comments-title", "nocomments", "-reply-", "message", "akismet", "suggest-links",
    "-hide-", "hide-print", "noprint", "notloaded",
)  # fmt: skip


def _OVERALL_ID(value: str) -> bool:
    """``re.search(OVERALL_ID_PATTERN, value)``: the anchored alternatives by a prefix test."""
    return (
        value.startswith(("shar", "jp-", "dpsp-content", "ad-"))
        or _OVERALL_ID_ANY(value) is not None
    )


def _OVERALL_CLASS(value: str) -> bool:
    """``re.search(OVERALL_CLASS_PATTERN, value)``: the anchored and space-led alternatives
    by string tests (``(?:^| )ad-`` and `` ad `` hold a space or the start)."""
    return (
        value.startswith(("shar", "nav", "post-nav", "ZendeskForm", "ad-"))
        or " ad " in value
        or " ad-" in value
        or _OVERALL_CLASS_ANY(value) is not None
    )


def _HIDDEN_CLASS(value: str) -> bool:
    """``re.search(HIDDEN_CLASS_PATTERN, value)``: the anchored and space-led alternatives
    by string tests."""
    return (
        value.startswith("hide-")
        or " hidden" in value
        or " hide" in value
        or _HIDDEN_CLASS_ANY(value) is not None
    )


def _COMMENTS_CLASS(value: str) -> bool:
    """``re.search(COMMENTS_CLASS_PATTERN, value)`` by string tests."""
    return (
        (value[:7] in ("comment", "Comment") and value[7:10] != "ary")
        or "article-comments" in value
        or "post-comments" in value
    )


_HIDDEN = re.compile("hidden").search
_HIDDEN_ID = re.compile("reader-comments|akismet").search
_SCROLL = re.compile("mvp-post-add-(?:box|wrap)|infinite-?scroll").search
_MVP = re.compile("mvp-post-add-(?:box|wrap)").search
_COMMENTS_ID = re.compile("^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)").search
_COMMENTS_ID_LIST = re.compile("^(?:[Cc]omment(?!ary)|comol)").search
BODY_ID_PATTERN = (
    "(?:entry|article|art)-content|article__content|article(?:-|__)?body|articleBody|body-text"
)
BODY_CLASS_PATTERN = (
    "post[-_]text|post-body|post-?entry|post[-_]?content|postContent|post_inner_wrapper"
    "|article-?text|articleText|(?:entry|page|text|article|art)-content|article__content"
    "|article(?:-|__)?body|articleBody|ArticleContent|body-text|article__container"
)
#: ``re.compile(BODY_ID_PATTERN).search`` and the same for BODY_CLASS_PATTERN (a leading
#: group spelled out as its alternatives).
_BODY_ID = search_any(
    "entry-content", "article-content", "art-content", "article__content",
    "article(?:-|__)?body", "articleBody", "body-text",
)  # fmt: skip
_BODY_CLASS = search_any(
    "post[-_]text", "post-body", "post-?entry", "post[-_]?content", "postContent",
    "post_inner_wrapper", "article-?text", "articleText", "entry-content", "page-content",
    "text-content", "article-content", "art-content", "article__content",
    "article(?:-|__)?body", "articleBody", "ArticleContent", "body-text", "article__container",
)  # fmt: skip


def _memo_search(memo: dict[str, bool], cls: str, search: Callable[[str], object]) -> bool:
    """Whether `search` matches the class string, remembered per string in `memo`."""
    known = memo.get(cls)
    if known is None:
        known = memo[cls] = bool(search(cls))
    return known


def overall_discard_blocks(
    tree: HtmlElement, memo: dict[str, bool] | None = None
) -> list[HtmlElement]:
    """OVERALL_DISCARD_XPATH[0]: navigation, share, ad, footer... blocks by id/class/role.

    `memo` keeps the class regex's verdict per class string (see `fast_prunes`).
    """
    memo = {} if memo is None else memo
    found = []
    for el in tree.iterdescendants(*_OVERALL_TAGS):
        items = el.items()
        if not items:
            continue  # every clause needs an attribute (no regex here matches "")
        ident = cls = first_ic = None
        hit = False
        for name, value in items:  # one pass in source order, for string(@id|@class)
            if name == "class":
                cls = value
                if first_ic is None:
                    first_ic = value
            elif name == "id":
                ident = value
                if first_ic is None:
                    first_ic = value
            elif name == "data-lp-replacement-content":
                hit = True
            elif name == "role":
                hit = hit or "nav" in value.replace("N", "n")
            elif name == "data-component":
                hit = hit or "MostPopularStories" in value
        if cls is not None and not hit:
            hit = _memo_search(memo, cls, _OVERALL_CLASS)
        if (
            hit
            or (ident is not None and _OVERALL_ID(ident))
            or (first_ic is not None and _OVERALL_COOKIE(first_ic))
        ):
            found.append(el)
    return found


def overall_discard_hidden(
    tree: HtmlElement, memo: dict[str, bool] | None = None
) -> list[HtmlElement]:
    """OVERALL_DISCARD_XPATH[1]: hidden elements, reply forms, comment titles (any tag).

    `memo` keeps the class regex's verdict per class string (see `fast_prunes`).
    """
    memo = {} if memo is None else memo
    found = []
    for el in tree.iterdescendants(etree.Element):
        items = el.items()
        if not items:
            continue  # every clause needs an attribute
        ident = cls = style = aria = first_ic = first_is = None
        for name, value in items:  # one pass in source order, for string(@a|@b)
            if name == "class":
                cls = value
                if first_ic is None:
                    first_ic = value
            elif name == "id":
                ident = value
                if first_ic is None:
                    first_ic = value
                if first_is is None:
                    first_is = value
            elif name == "style":
                style = value
                if first_is is None:
                    first_is = value
            elif name == "aria-hidden":
                aria = value
        if (
            (first_ic is not None and first_ic.startswith("reply-"))
            or (first_is is not None and _HIDDEN(first_is))
            or aria == "true"
            or (style is not None and ("display:none" in style or "display: none" in style))
            or (ident is not None and _HIDDEN_ID(ident))
            or (
                cls is not None
                and (cls == "comments-title" or _memo_search(memo, cls, _HIDDEN_CLASS))
            )
        ):
            found.append(el)
    return found


def raw_tree_scroll(tree: HtmlElement) -> list[HtmlElement]:
    """RAW_TREE_PRUNE_XPATH[0]: appended follow-up articles (infinite scroll containers)."""
    found = []
    for el in tree.iterdescendants("div", "section", "aside"):
        ident, cls = el.get("id") or "", el.get("class") or ""
        if (_SCROLL(ident) or _SCROLL(cls)) and (
            next(el.iterdescendants("h1"), None) is None or _MVP(ident) or _MVP(cls)
        ):
            found.append(el)
    return found


def raw_tree_share(tree: HtmlElement) -> list[HtmlElement]:
    """RAW_TREE_PRUNE_XPATH[1]: Elementor share-button bars."""
    return [
        el
        for el in tree.iterdescendants("div", "section", "aside")
        if "elementor-share-buttons" in (el.get("class") or "")
    ]


_RAW_WALK_TAGS = ("div", "section", "aside", "list", "details", "ol", "ul")
_SCROLL_TAGS = frozenset(("div", "section", "aside"))


def raw_tree_walk(
    tree: HtmlElement,
) -> tuple[list[HtmlElement], list[HtmlElement], list[HtmlElement]]:
    """`raw_tree_scroll`, `raw_tree_share` and `comment_blocks_and_lists` of the same
    tree in one walk over the union of their tags: the same three lists."""
    scroll: list[HtmlElement] = []
    share: list[HtmlElement] = []
    comments: list[HtmlElement] = []
    for el in tree.iterdescendants(*_RAW_WALK_TAGS):
        tag = el.tag
        ident, cls = el.get("id") or "", el.get("class") or ""
        if tag in _SCROLL_TAGS:
            if (_SCROLL(ident) or _SCROLL(cls)) and (
                next(el.iterdescendants("h1"), None) is None or _MVP(ident) or _MVP(cls)
            ):
                scroll.append(el)
            if "elementor-share-buttons" in cls:
                share.append(el)
            if tag == "aside":
                continue
        if (_COMMENTS_ID(ident) or _COMMENTS_CLASS(cls)) and (
            tag not in ("ol", "ul") or _COMMENTS_ID_LIST(ident) or _COMMENTS_CLASS(cls)
        ):
            comments.append(el)
    return scroll, share, comments


_OVERALL_TAG_SET = frozenset(_OVERALL_TAGS)
_RAW_WALK_TAG_SET = frozenset(_RAW_WALK_TAGS)


#: Appends an element to one of `RawPrunes`'s lists (`RawPrunes.add_class`).
Taker = Callable[[HtmlElement], None]


class RawPrunes:
    """The raw tree's prune matches, collected element by element by another walk over the
    same tree (extraction.scan.scan_tree), so that trafilatura's raw-tree prunes need no walk
    of their own (see `RawTreeWalk`).

    Lists: RAW_TREE_PRUNE_XPATH's two, REMOVE_COMMENTS_AND_LISTS_XPATH's and
    OVERALL_DISCARD_XPATH's two, each in document order. Scroll containers keep whether their
    "no <h1> inside" test is still to be made: it reads the tree's structure, which may
    change before the prune (elements deleted), so it is made when the list is used.
    """

    def __init__(self) -> None:
        self.scroll: list[tuple[HtmlElement, bool]] = []
        self.share: list[HtmlElement] = []
        self.comments: list[HtmlElement] = []
        self.blocks: list[HtmlElement] = []
        self.hidden: list[HtmlElement] = []
        #: The lists `_verdicts` names by index (0..3).
        self._lists = (self.share, self.comments, self.blocks, self.hidden)
        #: The class regexes' verdicts per class string (`_verdicts`).
        self.block_memo: dict[str, bool] = {}
        self.hidden_memo: dict[str, bool] = {}
        #: (element, readability's "class id" string) for every descendant with a
        #: non-empty class or id (extraction.fast_readability.remove_listed_candidates).
        self.classed: list[tuple[HtmlElement, str]] = []

    def add(
        self,
        el: HtmlElement,
        tag: str,
        ident: str | None,
        cls: str | None,
        style: str | None,
        aria: str | None,
        first_ic: str | None,
        first_is: str | None,
        block_hit: bool,
    ) -> None:
        """Give the lists one descendant of the tree, in document order, with its
        attributes read in source order (None: absent): @id, @class, @style, @aria-hidden,
        string(@id|@class), string(@id|@style), and whether @data-lp-replacement-content,
        @role or @data-component alone select it as a block (`overall_discard_blocks`).
        An element with none of these matches nothing and need not be added."""
        scroll_test, taken = _verdicts(
            tag,
            ident,
            cls,
            style,
            aria,
            first_ic,
            first_is,
            block_hit,
            self.block_memo,
            self.hidden_memo,
        )
        if scroll_test is not None:
            self.scroll.append((el, scroll_test))
        for index in taken:
            self._lists[index].append(el)

    def add_class(self, el: HtmlElement, tag: str, cls: str) -> tuple[Taker, ...]:
        """`add` for an element whose only attribute read here is ``cls``; returns what
        `add` does with any later element of that tag and class (its verdicts read nothing
        else): one callable per list that took it, to call with that element (none: none)."""
        scroll_test, taken = _verdicts(
            tag, None, cls, None, None, cls, None, False, self.block_memo, self.hidden_memo
        )
        takers: list[Taker] = [self._lists[index].append for index in taken]
        if scroll_test is not None:
            scroll = self.scroll.append
            takers.insert(0, lambda other: scroll((other, scroll_test)))
        for take in takers:
            take(el)
        return tuple(takers)

    def scroll_matches(self) -> list[HtmlElement]:
        """RAW_TREE_PRUNE_XPATH[0]'s matches, the <h1> test made now."""
        return [
            el
            for el, test in self.scroll
            if not test or next(el.iterdescendants("h1"), None) is None
        ]


def _verdicts(
    tag: str,
    ident: str | None,
    cls: str | None,
    style: str | None,
    aria: str | None,
    first_ic: str | None,
    first_is: str | None,
    block_hit: bool,
    block_memo: dict[str, bool],
    hidden_memo: dict[str, bool],
) -> tuple[bool | None, tuple[int, ...]]:
    """`RawPrunes.add`'s verdicts (same arguments): the scroll list's "<h1> test" flag
    (None: not taken there) and which of the share, comments, blocks and hidden lists
    (0..3) take the element: a function of these strings alone (the memos keep the class
    regexes' verdicts per class string). Not remembered across documents: on pages of
    many sites most calls would miss, and an lru_cache's misses cost more than its hits
    save; scan_tree remembers class-only verdicts per walk."""
    scroll_test: bool | None = None
    taken: list[int] = []
    if tag in _RAW_WALK_TAG_SET:  # raw_tree_walk
        ident_s, cls_s = ident or "", cls or ""
        raw_comment = True
        if tag in _SCROLL_TAGS:
            if _SCROLL(ident_s) or _SCROLL(cls_s):
                scroll_test = not (_MVP(ident_s) or _MVP(cls_s))
            if "elementor-share-buttons" in cls_s:
                taken.append(0)
            raw_comment = tag != "aside"
        if (
            raw_comment
            and (_COMMENTS_ID(ident_s) or _COMMENTS_CLASS(cls_s))
            and (tag not in ("ol", "ul") or _COMMENTS_ID_LIST(ident_s) or _COMMENTS_CLASS(cls_s))
        ):
            taken.append(1)
    if tag in _OVERALL_TAG_SET:  # overall_discard_blocks
        if cls is not None and not block_hit:
            block_hit = _memo_search(block_memo, cls, _OVERALL_CLASS)
        if (
            block_hit
            or (ident is not None and _OVERALL_ID(ident))
            or (first_ic is not None and _OVERALL_COOKIE(first_ic))
        ):
            taken.append(2)
    if (  # overall_discard_hidden
        (first_ic is not None and first_ic.startswith("reply-"))
        or (first_is is not None and _HIDDEN(first_is))
        or aria == "true"
        or (style is not None and ("display:none" in style or "display: none" in style))
        or (ident is not None and _HIDDEN_ID(ident))
        or (
            cls is not None
            and (cls == "comments-title" or _memo_search(hidden_memo, cls, _HIDDEN_CLASS))
        )
    ):
        taken.append(3)
    return scroll_test, tuple(taken)


class RawTreeWalk:
    """The raw tree's prunes sharing one walk.

    trafilatura_sequence prunes the raw tree with RAW_TREE_PRUNE_XPATH (scroll, then
    share) and, right after, REMOVE_COMMENTS_AND_LISTS_XPATH, through
    prune_unwanted_nodes, which deletes each expression's matches before evaluating the
    next. `scroll` walks once for the three and keeps the other two lists for `share` and
    `comments` on that very tree object. Deleting elements changes no remaining element's
    tag or attributes (all these tests read), so a kept list is the later walk's list plus
    elements inside deleted subtrees, and deleting those again only touches the detached
    subtrees, never the tree. Any other call walks anew.

    ``seed``: (tree, `RawPrunes` collected on it) when the caller walked that tree already
    and the tree has only lost elements since (the same argument): `scroll` on that tree
    object takes all three lists from it instead of walking. With ``overall`` (precision
    mode) the seed's OVERALL_DISCARD_XPATH lists are kept too: in that mode
    compare_extraction prunes the raw tree itself with them (fast_copies hands it over
    uncopied) and until then the tree only loses elements (the extraction works on
    copies). They are used once, by the first `blocks` / `hidden` call on that tree
    object; calls on other trees (the cleaned tree, pruned before) walk their tree.
    """

    def __init__(
        self, seed: tuple[HtmlElement, RawPrunes] | None = None, overall: bool = False
    ) -> None:
        self.seed = seed
        self.overall = overall
        self.block_memo: dict[str, bool] = {}
        self.hidden_memo: dict[str, bool] = {}
        self.pending_share: tuple[HtmlElement, list[HtmlElement]] | None = None
        self.pending_comments: tuple[HtmlElement, list[HtmlElement]] | None = None
        self.pending_blocks: tuple[HtmlElement, list[HtmlElement]] | None = None
        self.pending_hidden: tuple[HtmlElement, list[HtmlElement]] | None = None

    def scroll(self, tree: HtmlElement) -> list[HtmlElement]:
        """RAW_TREE_PRUNE_XPATH[0]; the walk also finds what `share`/`comments` need."""
        seed, self.seed = self.seed, None
        if seed is not None and seed[0] is tree:
            found = seed[1]
            scroll, share, comments = found.scroll_matches(), found.share, found.comments
            if self.overall:
                self.pending_blocks, self.pending_hidden = (
                    (tree, found.blocks),
                    (tree, found.hidden),
                )
        else:
            scroll, share, comments = raw_tree_walk(tree)
        self.pending_share, self.pending_comments = (tree, share), (tree, comments)
        return scroll

    def share(self, tree: HtmlElement) -> list[HtmlElement]:
        """RAW_TREE_PRUNE_XPATH[1]: kept from `scroll` on the same tree, else walked."""
        pending, self.pending_share = self.pending_share, None
        if pending is not None and pending[0] is tree:
            return pending[1]
        return raw_tree_share(tree)

    def comments(self, tree: HtmlElement) -> list[HtmlElement]:
        """REMOVE_COMMENTS_AND_LISTS_XPATH[0]: kept from `scroll` on the same tree, else
        walked."""
        pending, self.pending_comments = self.pending_comments, None
        if pending is not None and pending[0] is tree:
            return pending[1]
        return comment_blocks_and_lists(tree)

    def blocks(self, tree: HtmlElement) -> list[HtmlElement]:
        """OVERALL_DISCARD_XPATH[0]: the seed's list for the raw tree (once), else walked."""
        pending = self.pending_blocks
        if pending is not None and pending[0] is tree:
            self.pending_blocks = None
            return pending[1]
        return overall_discard_blocks(tree, self.block_memo)

    def hidden(self, tree: HtmlElement) -> list[HtmlElement]:
        """OVERALL_DISCARD_XPATH[1]: the seed's list for the raw tree (once), else walked."""
        pending = self.pending_hidden
        if pending is not None and pending[0] is tree:
            self.pending_hidden = None
            return pending[1]
        return overall_discard_hidden(tree, self.hidden_memo)


def comment_blocks(tree: HtmlElement) -> list[HtmlElement]:
    """REMOVE_COMMENTS_XPATH[0]: comment sections (after tag conversion, lists are <list>)."""
    return [
        el
        for el in tree.iterdescendants("div", "list", "section", "details")
        if _COMMENTS_ID(el.get("id") or "") or _COMMENTS_CLASS(el.get("class") or "")
    ]


def comment_blocks_and_lists(tree: HtmlElement) -> list[HtmlElement]:
    """REMOVE_COMMENTS_AND_LISTS_XPATH[0]: comment sections and ol/ul comment lists."""
    found = []
    for el in tree.iterdescendants("div", "list", "section", "details", "ol", "ul"):
        ident, cls = el.get("id") or "", el.get("class") or ""
        if not (_COMMENTS_ID(ident) or _COMMENTS_CLASS(cls)):
            continue
        if el.tag not in ("ol", "ul") or _COMMENTS_ID_LIST(ident) or _COMMENTS_CLASS(cls):
            found.append(el)
    return found


def article_body_containers(tree: HtmlElement) -> list[HtmlElement]:
    """BODY_XPATH[0]: article body containers by class/id/itemprop.

    Its trailing ``[1]`` is per step: of each element's children that qualify, the first;
    so a qualifying element is selected unless an earlier sibling qualifies too.
    """
    found = []
    parents: set[HtmlElement] = set()  # holds the proxies, so identity stays meaningful
    for el in tree.iterdescendants("article", "div", "main", "section"):
        items = el.items()
        if not items:
            continue
        ident = cls = None
        hit = False
        for name, value in items:
            if name == "class":
                cls = value
            elif name == "id":
                ident = value
            elif name == "itemprop":
                hit = value == "articleBody"
        if not (
            hit
            or (cls is not None and (cls in ("post", "entry") or _BODY_CLASS(cls)))
            or (ident is not None and (ident == "articleContent" or _BODY_ID(ident)))
        ):
            continue
        parent = el.getparent()
        if parent not in parents:
            parents.add(parent)
            found.append(el)
    return found


_BOTTOM = re.compile(r"(^|\s)bottom|bottom(\s|$)").search
_LINK = re.compile(r"(^|\s)link(\s|$)").search


def _first_id_class(el: HtmlElement) -> tuple[str | None, str | None, str | None]:
    """(@id, @class, string(@id|@class)) read in one pass in source order."""
    ident = cls = first = None
    for name, value in el.items():
        if name == "class":
            cls = value
            if first is None:
                first = value
        elif name == "id":
            ident = value
            if first is None:
                first = value
    return ident, cls, first


def precision_bottom_links(tree: HtmlElement) -> list[HtmlElement]:
    """PRECISION_DISCARD_XPATH[1]: "bottom"/"link" blocks and bordered boxes."""
    found = []
    for el in tree.iterdescendants(*_OVERALL_TAGS):
        _, _, first = _first_id_class(el)
        if (first is not None and (_BOTTOM(first) or _LINK(first))) or "border" in (
            el.get("style") or ""
        ):
            found.append(el)
    return found


def teasers(tree: HtmlElement) -> list[HtmlElement]:
    """TEASER_DISCARD_XPATH[0]: "teaser"/"Teaser" in id or class."""
    found = []
    for el in tree.iterdescendants(*_OVERALL_TAGS):
        ident, cls, _ = _first_id_class(el)
        if (ident is not None and "teaser" in ident.replace("T", "t")) or (
            cls is not None and "teaser" in cls.replace("T", "t")
        ):
            found.append(el)
    return found


def captions(tree: HtmlElement) -> list[HtmlElement]:
    """DISCARD_IMAGE_ELEMENTS[0]: "caption" in id or class."""
    found = []
    for el in tree.iterdescendants(*_OVERALL_TAGS):
        ident, cls, _ = _first_id_class(el)
        if (ident is not None and "caption" in ident) or (cls is not None and "caption" in cls):
            found.append(el)
    return found


#: trafilatura.xpaths list name -> (XPath texts the stand-ins were written for, stand-ins);
#: None (text and stand-in) keeps that expression as it is.
EXPECTED: dict[str, tuple[tuple[str | None, ...], tuple[Matcher | None, ...]]] = {
    "OVERALL_DISCARD_XPATH": (
        (
            """
        .//*[self::div or self::item or self::list or self::p or self::section or self::span][
        @data-lp-replacement-content or
        contains(translate(@role, 'N', 'n'), 'nav') or
        contains(@data-component, 'MostPopularStories') or
        re:test(@id|@class, 'cookie') or
        re:test(@id, '^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|premium|^ad-') or
        re:test(@class, '^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|dfp[Aa]d|outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|sociable|embedded|embed|tag-list|consent|modal-content|permission|elated|next-|-stories|most-popular|more-on|meta|rating|attachment|timestamp|user-info|user-profile|-icon|article-infos|message-container|slide|viewport|overlay|options|expand|obfuscated|blurred|mol-factbox|yin|zlylin|nfoline')]
        """,  # noqa: E501
            """
        .//*[@class='comments-title' or
        starts-with(@id|@class, 'reply-') or
        re:test(@id|@style, 'hidden') or
        contains(@style, 'display:none') or contains(@style, 'display: none') or
        re:test(@id, 'reader-comments|akismet') or
        re:test(@class, '^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|noprint|notloaded') or @aria-hidden='true']
        """,  # noqa: E501
        ),
        (overall_discard_blocks, overall_discard_hidden),
    ),
    "RAW_TREE_PRUNE_XPATH": (
        (
            """
        .//*[self::div or self::section or self::aside][
        re:test(@id, 'mvp-post-add-(?:box|wrap)|infinite-?scroll') or
        re:test(@class, 'mvp-post-add-(?:box|wrap)|infinite-?scroll')][
        not(.//h1) or re:test(@id, 'mvp-post-add-(?:box|wrap)') or re:test(@class, 'mvp-post-add-(?:box|wrap)')]
        """,  # noqa: E501
            ".//*[self::div or self::section or self::aside]"
            "[contains(@class, 'elementor-share-buttons')]",
        ),
        (raw_tree_scroll, raw_tree_share),
    ),
    "REMOVE_COMMENTS_XPATH": (
        (
            """
        .//*[self::div or self::list or self::section or self::details][
        re:test(@id, '^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)') or
        re:test(@class, '^[Cc]omment(?!ary)|(?:article|post)-comments')]
        """,
        ),
        (comment_blocks,),
    ),
    "REMOVE_COMMENTS_AND_LISTS_XPATH": (
        (
            """
        .//*[self::div or self::list or self::section or self::details or self::ol or self::ul][
        re:test(@id, '^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)') or
        re:test(@class, '^[Cc]omment(?!ary)|(?:article|post)-comments')][
        not(self::ol or self::ul) or re:test(@id, '^(?:[Cc]omment(?!ary)|comol)') or re:test(@class, '^[Cc]omment(?!ary)|(?:article|post)-comments')]
        """,  # noqa: E501
        ),
        (comment_blocks_and_lists,),
    ),
    "BODY_XPATH": (
        (
            """
        .//*[self::article or self::div or self::main or self::section][
        @class='post' or @class='entry' or
        @itemprop='articleBody' or @id='articleContent' or
        re:test(@id, '(?:entry|article|art)-content|article__content|article(?:-|__)?body|articleBody|body-text') or
        re:test(@class, 'post[-_]text|post-body|post-?entry|post[-_]?content|postContent|post_inner_wrapper|article-?text|articleText|(?:entry|page|text|article|art)-content|article__content|article(?:-|__)?body|articleBody|ArticleContent|body-text|article__container')
        ][1]
        """,  # noqa: E501
            None,
            None,
            None,
            None,
        ),
        (article_body_containers, None, None, None, None),
    ),
    "PRECISION_DISCARD_XPATH": (
        (
            None,
            r"""
    .//*[self::div or self::item or self::list or self::p or self::section or self::span][
    re:test(@id|@class, '(^|\s)bottom|bottom(\s|$)') or re:test(@id|@class, '(^|\s)link(\s|$)') or
    contains(@style, 'border')]
    """,
        ),
        (None, precision_bottom_links),
    ),
    "TEASER_DISCARD_XPATH": (
        (
            """
    .//*[self::div or self::item or self::list or self::p or self::section or self::span][
    contains(translate(@id, 'T', 't'), 'teaser') or contains(translate(@class, 'T', 't'), 'teaser')]
    """,
        ),
        (teasers,),
    ),
    "DISCARD_IMAGE_ELEMENTS": (
        (
            """
    .//*[self::div or self::item or self::list or self::p or self::section or self::span][
    contains(@id, 'caption') or contains(@class, 'caption')]
    """,
        ),
        (captions,),
    ),
}


def _original_xpaths(name: str) -> list[etree.XPath] | None:
    """The list's XPaths when they are exactly the ones the stand-ins were written for."""
    current = getattr(xpaths, name, None)
    texts, _ = EXPECTED[name]
    if not isinstance(current, list) or len(current) != len(texts):
        return None
    for xpath, text in zip(current, texts, strict=True):
        if not isinstance(xpath, etree.XPath) or (text is not None and xpath.path != text):
            return None
    return list(current)


def active_lists() -> list[str]:
    """Names of the trafilatura XPath lists the stand-ins can replace in this installation."""
    return [name for name in EXPECTED if _original_xpaths(name) is not None]


def _bind(matcher: Matcher) -> Matcher:
    """The stand-in with a verdict memo of its own for this block (one document: the raw
    and the cleaned tree repeat most class strings); nothing outlives the block."""
    if matcher in (overall_discard_blocks, overall_discard_hidden):
        return functools.partial(matcher, memo={})
    return matcher


@contextmanager
def fast_prunes(
    seed: tuple[HtmlElement, RawPrunes] | None = None, precision: bool = False
) -> Iterator[None]:
    """Within the block, trafilatura's matching XPath lists hold the stand-ins instead.

    ``seed`` and ``precision`` (trafilatura runs in precision mode): see `RawTreeWalk`.

    The lists are swapped in place (trafilatura's modules share them) and restored on exit,
    also on an exception or a timeout, so plain trafilatura calls outside are untouched.
    Re-entering while active is a no-op (the lists no longer hold the original XPaths).
    """
    swapped: list[tuple[list[etree.XPath], list[etree.XPath]]] = []
    walk = RawTreeWalk(seed, overall=precision)
    try:
        for name, (_, matchers) in EXPECTED.items():
            originals = _original_xpaths(name)
            if originals is None:
                continue
            target = getattr(xpaths, name)
            swapped.append((target, originals))
            if name == "RAW_TREE_PRUNE_XPATH":  # (see RawTreeWalk)
                target[:] = [walk.scroll, walk.share]
                continue
            if name == "REMOVE_COMMENTS_AND_LISTS_XPATH":
                target[:] = [walk.comments]
                continue
            if name == "OVERALL_DISCARD_XPATH":
                target[:] = [walk.blocks, walk.hidden]
                continue
            target[:] = [
                original if matcher is None else _bind(matcher)
                for original, matcher in zip(originals, matchers, strict=True)
            ]
        yield
    finally:
        for target, originals in swapped:
            target[:] = originals
