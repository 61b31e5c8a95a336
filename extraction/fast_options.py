"""trafilatura's per-call Extractor settings object, built from a per-process template.

bare_extraction builds an ``Extractor`` from its keyword arguments on every call, and
``Extractor.__init__`` reads seven integers from trafilatura's ConfigParser each time
(~25 us, the interpolation machinery of configparser). `extractor` returns the object
bare_extraction would build for the same arguments: a copy of a template built once per
process and argument set, with the per-call fields (URL, source, date parameters, the
blacklist sets) set as ``__init__`` sets them. bare_extraction takes it through its own
``options`` parameter. Used only while the two functions are the ones it was written for
(`EXPECTED`, source digests); tests/extraction/test_fast_options.py compares every field.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable
from typing import Any

from trafilatura import core
from trafilatura.settings import DEFAULT_CONFIG, Extractor

from extraction.source_digest import source_digest

logger = logging.getLogger(__name__)

#: sha256 (first 16 hex) of the source of each function whose behaviour `extractor` copies:
#: the Extractor bare_extraction builds from its arguments, and how __init__ fills it.
EXPECTED: dict[str, tuple[str, Callable[..., Any]]] = {
    "bare_extraction": ("2e57adb3062086f9", core.bare_extraction),
    "Extractor.__init__": ("8a7141d46badfd06", Extractor.__init__),
}


@functools.cache
def active() -> bool:
    """Whether the installed trafilatura is the one `extractor` was written for."""
    for name, (digest, function) in EXPECTED.items():
        if source_digest(function) != digest:
            logger.debug("trafilatura %s changed: Extractor built per call", name)
            return False
    return True


@functools.lru_cache(maxsize=32)
def _template(
    precision: bool, recall: bool, comments: bool, tables: bool, with_metadata: bool
) -> Extractor:
    """bare_extraction's Extractor for these arguments (its defaults for all others),
    without a URL: never handed out, only copied."""
    return Extractor(
        config=DEFAULT_CONFIG,
        output_format="python",
        fast=False,
        precision=precision,
        recall=recall,
        comments=comments,
        formatting=None,
        links=False,
        images=False,
        tables=tables,
        dedup=False,
        lang=None,
        url=None,
        with_metadata=with_metadata,
        only_with_metadata=False,
        author_blacklist=None,
        url_blacklist=None,
        date_params=None,
    )


def extractor(
    *,
    url: str | None,
    favor_precision: bool,
    favor_recall: bool,
    include_comments: bool,
    include_tables: bool,
    with_metadata: bool,
    date_extraction_params: dict[str, Any],
) -> Extractor | None:
    """The Extractor ``bare_extraction(url=url, favor_precision=..., ...)`` builds when
    given these arguments and its defaults for the others (no deduplication); None when
    `active` is False (then bare_extraction builds its own)."""
    if not active() or not date_extraction_params:
        return None
    options = copy.copy(
        _template(favor_precision, favor_recall, include_comments, include_tables, with_metadata)
    )
    # the fields __init__ derives from the URL and the date parameters, and fresh sets
    source = url or None  # __init__: url or source (None), "" included
    options.source = source and source.encode("utf-8", "replace").decode("utf-8")
    options.url = url
    options.date_params = date_extraction_params
    options.author_blacklist = set()
    options.url_blacklist = set()
    return options
