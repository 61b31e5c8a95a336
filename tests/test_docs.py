"""Every CLI command and option and every config key is documented in the README."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from crawlers.config import Defaults, SourceConfig
from flows.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the CLI has no subcommands")


def _options() -> list[tuple[str, str]]:
    found = []
    for name, sub in _commands().items():
        for action in sub._actions:
            found.extend((name, o) for o in action.option_strings if o.startswith("--"))
    return [item for item in found if item[1] != "--help"]


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_is_documented(command: str) -> None:
    assert re.search(rf"newsarchive {command}\b", README), f"README lacks `newsarchive {command}`"


@pytest.mark.parametrize(("command", "option"), _options())
def test_every_option_is_documented(command: str, option: str) -> None:
    assert option in README, f"README does not document {option} of `newsarchive {command}`"


@pytest.mark.parametrize(
    "key", sorted(set(Defaults.model_fields) | set(SourceConfig.model_fields) - {"name"})
)
def test_every_config_key_is_documented(key: str) -> None:
    assert f"`{key}`" in README, f"README does not document the config key `{key}`"


def test_readme_shows_the_two_commands_first() -> None:
    first_block = README.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block
