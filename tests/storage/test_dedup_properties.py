"""Property test: any sequence of commits keeps the dedup invariants and loses no text."""

from __future__ import annotations

import tempfile
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_helpers import T0, article_row, batch, load_stories

from storage.dedup import content_hash
from storage.snapshots import commit_snapshot
from storage.views import connect

STORIES = list(load_stories().values())[:5]
URL_FORMS = [
    "https://{s}.test/a{n}",
    "https://{s}.test/a{n}?utm_source=x",
    "https://{s}.test/amp/a{n}",
]

rows_st = st.lists(
    st.tuples(
        st.sampled_from(["daily", "herald"]),
        st.integers(0, 4),  # article number
        st.integers(0, len(URL_FORMS) - 1),  # URL variant
        st.integers(0, len(STORIES) - 1),  # text
        st.integers(0, 3),  # edit: 0 = none, else a small correction
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(rows_st, min_size=1, max_size=4))
def test_commit_sequences_keep_invariants(batches: list[list[tuple]]) -> None:
    with tempfile.TemporaryDirectory() as root:
        seen: set[tuple[str, str]] = set()
        last: dict[str, list[dict]] = {}
        for b, spec in enumerate(batches):
            by_source: dict[str, list[dict]] = {}
            for k, (source, n, form, t, edit) in enumerate(spec):
                text = STORIES[t] + (f" Correction {edit}." if edit else "")
                url = URL_FORMS[form].format(s=source, n=n)
                when = T0 + timedelta(days=b, minutes=k)
                by_source.setdefault(source, []).append(
                    article_row(url, text, source=source, fetched_at=when)
                )
                seen.add((source, content_hash(text)))
            for source, rows in by_source.items():
                commit_snapshot(root, source, batch(rows), kind="crawl", extractor="t", rejected={})
                last[source] = rows
        con = connect(root)
        # One row per (article, version); versions 1..n without gaps.
        assert con.sql(
            "select count(*) = count(distinct (article_id, version)) from articles"
        ).fetchall() == [(True,)]
        assert con.sql(
            "select count(*) from (select article_id, max(version) m, count(*) c "
            "from articles group by 1) where m <> c"
        ).fetchall() == [(0,)]
        # Consecutive versions differ; first versions of a source never repeat a text.
        assert con.sql(
            "select count(*) from (select content_hash, lag(content_hash) over "
            "(partition by article_id order by version) prev from articles) "
            "where content_hash = prev"
        ).fetchall() == [(0,)]
        assert con.sql(
            "select count(*) from (select source, content_hash from articles where version = 1 "
            "group by all having count(*) > 1)"
        ).fetchall() == [(0,)]
        # Nothing lost: every text seen is stored for its source.
        stored = set(con.sql("select distinct source, content_hash from articles").fetchall())
        assert seen <= stored
        # Rerunning the last batch of each source adds nothing.
        for source, rows in last.items():
            info = commit_snapshot(
                root, source, batch(rows), kind="crawl", extractor="t", rejected={}
            )
            assert info.counts["new"] == info.counts["changed"] == 0
