"""Remove comment forms and widgets from the tree in one pass (cheaper than many XPaths)."""

from __future__ import annotations

import itertools

from lxml.html import HtmlElement

#: Element ids of comment areas and reply forms (WordPress, Disqus and friends).
PRUNE_IDS = frozenset({"respond", "comments", "disqus_thread", "reply-title", "commentform"})
#: Class tokens of furniture trafilatura sometimes keeps. Generic vocabulary only.
PRUNE_CLASSES = frozenset(
    {
        "comment-respond",
        "comments-area",
        "newsletter",
        "related-posts",
        "sharedaddy",
        "cookie-notice",
    }
)
#: Forms with fewer paragraphs than this are widgets; ASP.NET wraps whole pages in a <form>.
_MAX_FORM_PARAGRAPHS = 4


def _is_small_form(el: HtmlElement) -> bool:
    if next(el.iter("article"), None) is not None:
        return False
    paragraphs = itertools.islice(el.iter("p"), _MAX_FORM_PARAGRAPHS)
    return sum(1 for _ in paragraphs) < _MAX_FORM_PARAGRAPHS


def prune_candidates(
    tree: HtmlElement, ids: frozenset[str], classes: frozenset[str]
) -> list[tuple[HtmlElement, bool]]:
    """(element, id or class token matched) for every match and every <form>, in order.

    `extraction.scan.scan_tree` collects the same list in its shared walk.
    """
    found: list[tuple[HtmlElement, bool]] = []
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions
        cls = el.get("class")
        hit = el.get("id") in ids or bool(cls and not classes.isdisjoint(cls.split()))
        if hit or el.tag == "form":
            found.append((el, hit))
    return found


def prune_tree(
    tree: HtmlElement,
    ids: frozenset[str],
    classes: frozenset[str],
    candidates: list[tuple[HtmlElement, bool]] | None = None,
) -> int:
    """Drop matching subtrees in place (tails kept); returns how many were removed.

    ``candidates``: `prune_candidates(tree, ids, classes)` of the unchanged tree, if known.
    """
    if candidates is None:
        candidates = prune_candidates(tree, ids, classes)
    doomed = [el for el, hit in candidates if (el.tag == "form" and _is_small_form(el)) or hit]
    removed = 0
    for el in doomed:
        # An ancestor may already be gone with its subtree; skip detached elements.
        if el.getparent() is not None and _attached(el, tree):
            el.drop_tree()
            removed += 1
    return removed


def _attached(el: HtmlElement, root: HtmlElement) -> bool:
    for ancestor in el.iterancestors():
        if ancestor is root:
            return True
    return el is root
