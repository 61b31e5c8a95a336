"""Non-ASCII URLs (Cyrillic slugs, umlauts): fetched once per run whatever form a link has,
and skipped as archived on the next run."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from crawl_helpers import site_source, static_site

from crawlers.config import parse_config
from crawlers.runner import run_crawl
from crawlers.spiders import UrlPolicy

ARTICLE = (
    "<html><head><title>{0}</title></head>"
    "<body><article><h1>{0}</h1><p>{1}</p></article></body></html>"
)
SLUGS = ["новости/статья-один.html", "news/grüße-aus-köln.html"]


def test_non_ascii_articles_are_fetched_once_and_skipped_next_run(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for slug in SLUGS:
        (site / slug).parent.mkdir(parents=True, exist_ok=True)
        (site / slug).write_text(ARTICLE.format(slug, "слово wort " * 120), encoding="utf-8")
    # Each article linked twice: as written (raw UTF-8) and percent-encoded.
    links = "".join(f'<a href="/{s}">a</a> <a href="/{quote(s)}">b</a> ' for s in SLUGS)
    (site / "index.html").write_text(f"<html><body>{links}</body></html>", encoding="utf-8")
    root = str(tmp_path / "archive")
    with static_site(site) as (base, hits):
        source = site_source(
            base,
            feeds=[],
            sitemaps=[],
            article_url_patterns=["/новости/", "/news/"],
            obey_robots=False,
            max_depth=1,
            retry_times=0,
        )
        first = run_crawl(source, root)
        assert first.status_counts == {"200": 3}  # the start page and each article once
        assert {p: hits[p] for p in (f"/{s}" for s in SLUGS)} == {f"/{s}": 1 for s in SLUGS}
        hits.clear()
        second = run_crawl(source, root)
    assert second.skipped_archived == 2
    # Only the start page again (a 304: its links read from the stored page, decoded as it
    # was, not as cp1252 mojibake that would be fetched as 404s).
    assert set(hits) == {"/"} and second.status_counts == {"304": 1}


def test_policy_reads_patterns_and_domains_as_people_write_them() -> None:
    body = {
        "start_urls": ["https://bücher.example/"],
        "allowed_domains": ["bücher.example"],
        "article_url_patterns": ["/новости/"],
        "deny_url_patterns": ["/über-uns"],
    }
    policy = UrlPolicy.from_source(parse_config({"sources": {"b": body}}, "<t>").source("b"))
    # Requests carry the IDNA host and a percent-encoded path (what the policy then sees).
    assert policy.host_allowed("xn--bcher-kva.example") and policy.host_allowed("bücher.example")
    assert policy.is_article("https://xn--bcher-kva.example/" + quote("новости/x.html"))
    assert policy.verdict("https://xn--bcher-kva.example/" + quote("über-uns")) == "denied"
    assert policy.verdict("https://bücher.example/über-uns") == "denied"
    assert policy.verdict("https://andere.example/") == "offsite"
