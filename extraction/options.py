"""Extraction settings: one frozen options object and the extractor id recorded per row."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version

from extraction.prune import PRUNE_CLASSES, PRUNE_IDS

#: Version of newsarchive's own extraction logic; bump when its output changes on purpose.
EXTRACTION_VERSION = "0.1.0"


@dataclass(frozen=True)
class ExtractionOptions:
    """Everything that changes extraction output; hashed into the `extractor` column."""

    favor_precision: bool = True
    favor_recall: bool = False
    include_comments: bool = False
    include_tables: bool = True
    #: Subtrees dropped before trafilatura runs (ids / class tokens of comment forms, share
    #: bars, newsletter boxes...); small <form>s are always dropped. See extraction/prune.py.
    prune_ids: tuple[str, ...] = tuple(sorted(PRUNE_IDS))
    prune_classes: tuple[str, ...] = tuple(sorted(PRUNE_CLASSES))
    #: Extra XPath expressions handed to trafilatura's prune_xpath (each costs a tree scan).
    prune_xpath: tuple[str, ...] = ()
    #: Use trafilatura's metadata extraction (slower: it runs htmldate on every page) instead
    #: of newsarchive's structured-data-first metadata, which asks htmldate only when needed.
    trafilatura_metadata: bool = False
    #: When precision mode finds (almost) nothing, retry once in trafilatura's balanced mode.
    balanced_fallback: bool = True
    #: Drop paragraphs shaped like boilerplate (reply forms, newsletter/social prompts...).
    boilerplate_filter: bool = True
    #: Apply a per-source template model when the caller passes one.
    use_template: bool = True
    #: Add body chunks trafilatura skipped when the article is split over sibling containers.
    repair_split_body: bool = True
    #: Use JSON-LD articleBody to confirm / repair the text boundaries.
    use_jsonld_body: bool = True
    #: Page-type decision: reject home / section / tag / listing pages.
    reject_listings: bool = True
    #: Wall-clock seconds per document before it is recorded as 'timeout' (0 = no limit).
    time_limit: float = 20.0
    #: Bytes of HTML above which a page is rejected as 'too_large'.
    max_html_bytes: int = 8_000_000
    #: Elements in the parsed tree above which a page is rejected as 'too_large'.
    max_tree_size: int = 200_000
    #: Element nesting depth above which a page is rejected as 'too_large'.
    max_depth: int = 2_000
    #: Detect the language from the text when the page does not declare one.
    detect_language: bool = True
    #: Articles with fewer words than this become 'no_body' rejections.
    min_words: int = 20
    #: Pages with no article markup (no JSON-LD article type, og:type article, byline or
    #: published time) need at least this many words: "About us" and contact pages are short.
    min_words_unmarked: int = 80
    #: Extra keyword arguments would go here; keep them hashable and JSON-serializable.
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """Stable 8-hex hash of the options (key order and library independent)."""
        blob = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:8]


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def extractor_id(options: ExtractionOptions) -> str:
    """The `extractor` column: library versions and the options hash."""
    return (
        f"trafilatura={_package_version('trafilatura')};"
        f"htmldate={_package_version('htmldate')};"
        f"newsarchive={EXTRACTION_VERSION};opts={options.fingerprint()}"
    )
