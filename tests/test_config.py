"""The sources file: valid configs load with defaults merged; every mistake is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawlers.config import ConfigError, load_config, parse_config, parse_duration

REPO = Path(__file__).resolve().parents[1]


def test_example_config_loads_and_merges_defaults() -> None:
    config = load_config(REPO / "config" / "sources.yaml")
    source = config.source("example-news")
    assert source.name == "example-news"
    assert source.obey_robots is True
    assert source.max_depth == 2
    assert source.max_pages == 5000
    assert source.allow_private_addresses is False


def test_source_overrides_default() -> None:
    config = parse_config(
        {"defaults": {"max_pages": 10}, "sources": {"a": {"max_pages": 3}, "b": {}}}
    )
    assert config.source("a").max_pages == 3
    assert config.source("b").max_pages == 10
    assert [s.name for s in config.resolved()] == ["a", "b"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"sources": {"a": {"bogus": 1}}}, "f.yaml: sources.a.bogus: unknown key"),
        ({"defaults": {"nope": 1}, "sources": {"a": {}}}, "f.yaml: defaults.nope: unknown key"),
        ({"sources": {"a": {"max_depth": "x"}}}, "f.yaml: sources.a.max_depth: "),
        (
            {"sources": {"a": {"article_url_patterns": ["("]}}},
            "sources.a.article_url_patterns: bad regex",
        ),
        ({"sources": {"../etc": {}}}, "source names are lower-case"),
        ({"sources": {"a": {"schedule": "every day"}}}, "sources.a.schedule: not a valid cron"),
        ({"sources": {"a": {"start_urls": ["ftp://x/"]}}}, "not an http(s) URL"),
        ({"sources": {"a": {"sitemap_max_age": "seven days"}}}, "not a duration"),
        ({"sources": {}}, "sources: must be a non-empty mapping"),
        (["not", "a", "mapping"], "expected a mapping"),
    ],
)
def test_config_errors_are_one_line_naming_the_key(doc: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "f.yaml")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_source_names_the_known_ones() -> None:
    config = parse_config({"sources": {"a": {}}})
    with pytest.raises(ConfigError, match=r"unknown source 'b' \(known: a\)"):
        config.source("b")


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  a: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_parse_duration() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("12h") == 12 * 3600
    with pytest.raises(ValueError):
        parse_duration("7 days")
