"""`config/sources.yaml`: typed, validated once at the edge; errors are one line naming the key."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(ValueError):
    """A config problem, phrased as one line that names the file and the key."""


def parse_duration(value: str) -> int:
    """'7d' -> seconds. Accepts s, m, h, d, w."""
    match = DURATION_RE.match(value.strip())
    if not match:
        raise ValueError(f"not a duration like '2d' or '12h': {value!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def check_networks(value: Any) -> Any:
    """`allow_private_addresses` as a list: every entry must be an IP or a CIDR network."""
    if isinstance(value, list):
        for entry in value:
            try:
                ipaddress.ip_network(str(entry), strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
    return value


class Defaults(BaseModel):
    """Settings every source inherits unless it overrides them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_agent: str = "newsarchive/0.1 (+https://github.com/newsarchive/newsarchive)"
    obey_robots: bool = True
    max_pages: int = Field(default=5000, ge=1)
    max_depth: int = Field(default=2, ge=0)
    follow_links: bool = True
    concurrency_per_domain: int = Field(default=8, ge=1, le=64)
    download_delay: float = Field(default=0.0, ge=0)
    autothrottle: bool = True
    download_timeout: float = Field(default=30.0, gt=0)
    download_maxsize: int = Field(default=10 * 1024 * 1024, ge=1024)
    retry_times: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(default=1.0, ge=0, le=60)  # seconds; doubles per retry
    # URLs of a site failing in a row on their first attempt (network errors, 5xx, 429) after
    # which its other URLs are not fetched in this crawl; 0 turns the circuit breaker off.
    circuit_breaker_failures: int = Field(default=10, ge=0)
    warc_max_size: int = Field(default=1024**3, ge=1024 * 1024)
    # SSRF guard: loopback/private/link-local answers are refused unless True, or unless the
    # address is in this list of IPs / CIDR networks (e.g. ["127.0.0.1"] for a local site).
    allow_private_addresses: bool | list[str] = False
    keep_auth_headers: bool = False  # Authorization / Cookie are redacted in WARC unless True

    _check_private = field_validator("allow_private_addresses")(check_networks)


class SourceConfig(BaseModel):
    """One news source. Fields left unset take the value from `defaults`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    start_urls: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    sitemaps: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list)
    article_url_patterns: list[str] = Field(default_factory=list)
    deny_url_patterns: list[str] = Field(default_factory=list)
    schedule: str | None = None
    sitemap_max_age: str | None = None
    recrawl_window: str | None = None
    # Inherited from defaults (None here means "take the default").
    user_agent: str | None = None
    obey_robots: bool | None = None
    max_pages: int | None = Field(default=None, ge=1)
    max_depth: int | None = Field(default=None, ge=0)
    follow_links: bool | None = None
    concurrency_per_domain: int | None = Field(default=None, ge=1, le=64)
    download_delay: float | None = Field(default=None, ge=0)
    autothrottle: bool | None = None
    download_timeout: float | None = Field(default=None, gt=0)
    download_maxsize: int | None = Field(default=None, ge=1024)
    retry_times: int | None = Field(default=None, ge=0, le=10)
    retry_backoff: float | None = Field(default=None, ge=0, le=60)
    circuit_breaker_failures: int | None = Field(default=None, ge=0)
    warc_max_size: int | None = Field(default=None, ge=1024 * 1024)
    allow_private_addresses: bool | list[str] | None = None
    keep_auth_headers: bool | None = None

    _check_private = field_validator("allow_private_addresses")(check_networks)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not SOURCE_NAME_RE.match(value):
            raise ValueError(
                "source names are lower-case letters, digits, '-' and '_' (no '/', '..', spaces)"
            )
        return value

    @field_validator("start_urls", "feeds", "sitemaps")
    @classmethod
    def _check_urls(cls, values: list[str]) -> list[str]:
        for url in values:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return values

    @field_validator("article_url_patterns", "deny_url_patterns")
    @classmethod
    def _check_regexes(cls, values: list[str]) -> list[str]:
        for pattern in values:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from exc
        return values

    @field_validator("sitemap_max_age", "recrawl_window")
    @classmethod
    def _check_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("schedule")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from cronsim import CronSim, CronSimError  # Prefect's own cron parser

            try:
                CronSim(value, datetime.now(UTC))
            except CronSimError:
                raise ValueError(f"not a valid cron expression: {value!r}") from None
        return value

    def effective(self, defaults: Defaults) -> ResolvedSource:
        """Merge with the defaults into the fully specified settings a crawl uses."""
        merged: dict[str, Any] = defaults.model_dump()
        for key, value in self.model_dump().items():
            if value is not None or key not in merged:
                merged[key] = value
        return ResolvedSource(**merged)


class ResolvedSource(Defaults):
    """A source with every default filled in: what crawlers and flows receive."""

    name: str
    start_urls: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    sitemaps: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list)
    article_url_patterns: list[str] = Field(default_factory=list)
    deny_url_patterns: list[str] = Field(default_factory=list)
    schedule: str | None = None
    sitemap_max_age: str | None = None
    recrawl_window: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        # Built by hand (flows, the crawl process's job) as well as from a config file: the
        # name becomes a directory of the archive, so it is checked here too.
        return SourceConfig._check_name(value)


class Config(BaseModel):
    """The whole sources file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: Defaults = Field(default_factory=Defaults)
    sources: dict[str, SourceConfig]

    def source(self, name: str) -> ResolvedSource:
        if name not in self.sources:
            known = ", ".join(sorted(self.sources)) or "none"
            raise ConfigError(f"unknown source {name!r} (known: {known})")
        return self.sources[name].effective(self.defaults)

    def resolved(self, names: list[str] | None = None) -> list[ResolvedSource]:
        return [self.source(n) for n in (names or sorted(self.sources))]


def _first_error(exc: ValidationError, path: str) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return ConfigError(f"{path}: {loc}: {msg}")


def parse_config(data: Any, path: str = "<config>") -> Config:
    """Validate a loaded YAML document; raise ConfigError with one line naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'defaults' and 'sources'")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ConfigError(f"{path}: sources: must be a non-empty mapping of name -> settings")
    prepared = dict(data)
    prepared["sources"] = {
        name: ({**body, "name": name} if isinstance(body, dict) else body)
        for name, body in sources.items()
    }
    try:
        return Config.model_validate(prepared)
    except ValidationError as exc:
        raise _first_error(exc, path) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a sources file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}:{where} not valid YAML") from None
    return parse_config(data, str(p))
