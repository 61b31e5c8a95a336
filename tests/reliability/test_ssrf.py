"""SSRF: redirects to other schemes, other hosts and private addresses are refused."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from rel_helpers import site_source
from twisted.internet.address import IPv4Address, IPv6Address

from crawlers.config import ConfigError, parse_config
from crawlers.middlewares import AddressPolicy, _CheckedAnswers
from crawlers.runner import child_env, crawl_job, run_crawl
from storage.pages import read_pages


def test_redirects_to_private_addresses_and_other_schemes_are_refused(
    server: Any, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET6) as trap:  # would see a connection to [::1]
        trap.bind(("::1", 0))
        trap.listen(8)
        trap.settimeout(0)
        v6_port = trap.getsockname()[1]
        targets = [
            "http://10.0.0.1/admin",
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{v6_port}/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            f"http://[fc00::1]:{v6_port}/",
            "file:///etc/passwd",
            "ftp://127.0.0.1/pub/",
            "http://offsite.example/",
        ]
        starts = [f"{server.base}/redirect/to?url={quote(t, safe='')}" for t in targets]
        source = site_source(
            server.base,
            start_urls=starts,
            feeds=[],
            sitemaps=[],
            obey_robots=False,
            # The private hosts are "in" allowed_domains, so only the address check stops them.
            allowed_domains=[
                *("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"),
                *("172.16.5.4", "192.168.1.1", "fc00::1"),
            ],
            allow_private_addresses=["127.0.0.1"],  # the local site, nothing else
            download_timeout=2.0,
        )
        result = run_crawl(source, str(tmp_path), timeout=60)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody connected
    assert result.refused_private == 6
    rows = read_pages(str(tmp_path), "site").to_pylist()
    assert sorted(r["url"] for r in rows) == sorted(starts)  # the hops only, no target fetched
    assert {r["status"] for r in rows} == {302}
    assert sorted(r["final_url"] for r in rows) == sorted(targets)
    assert [p.split("?")[0] for p in server.requested_paths()] == ["/redirect/to"] * len(targets)


@pytest.mark.parametrize(
    ("allow", "ip", "refused"),
    [
        (False, "127.0.0.1", True),
        (False, "127.8.9.10", True),
        (False, "10.0.0.1", True),
        (False, "172.31.255.255", True),
        (False, "172.32.0.1", False),
        (False, "192.168.0.1", True),
        (False, "169.254.169.254", True),
        (False, "::1", True),
        (False, "fd12::1", True),
        (False, "::ffff:10.0.0.1", True),
        (False, "93.184.216.34", False),
        (["127.0.0.1"], "127.0.0.1", False),
        (["127.0.0.1"], "127.0.0.2", True),
        (["127.0.0.1"], "::1", True),
        (["10.0.0.0/8"], "10.200.0.1", False),
        (["10.0.0.0/8"], "169.254.169.254", True),
        (True, "169.254.169.254", False),
    ],
)
def test_address_policy(allow: bool | list[str], ip: str, refused: bool) -> None:
    assert (AddressPolicy(allow).refusal(ip, "h.example") is not None) is refused


def test_resolver_refuses_private_answers_at_connect_time() -> None:
    """The answers the download connects to are checked (DNS rebinding after the first
    check): refused ones are not passed on, the others are (IPv6 too)."""
    got: list[str] = []

    class Receiver:
        def resolutionBegan(self, resolution: Any) -> None:
            got.append("began")

        def addressResolved(self, address: Any) -> None:
            got.append(address.host)

        def resolutionComplete(self) -> None:
            got.append("complete")

    checked = _CheckedAnswers(Receiver(), AddressPolicy(False), "news.example")
    checked.resolutionBegan(None)
    for ip in ("10.1.1.1", "93.184.216.34", "fd00::1", "2606:2800:220:1::1", "::1"):
        family = IPv6Address if ":" in ip else IPv4Address
        checked.addressResolved(family("TCP", ip, 80))
    checked.resolutionComplete()
    assert got == ["began", "93.184.216.34", "2606:2800:220:1::1", "complete"]


def test_bad_private_address_list_is_one_clear_line() -> None:
    body = {"start_urls": ["http://a.example/"], "allow_private_addresses": ["127.0.0.1", "x"]}
    with pytest.raises(ConfigError, match=r"allow_private_addresses: not an IP address .*'x'"):
        parse_config({"sources": {"a": body}}, "sources.yaml")


RESOLVER_ONLY = """
import json, sys
import crawlers.middlewares as m
from crawlers import process

async def let_through(self, request):
    return None

m.SsrfGuardMiddleware.process_request = let_through  # only GuardedResolver is left
job = json.loads(sys.argv[1])
print(json.dumps(process.run(job)))
"""


@pytest.mark.parametrize("allow", [False, ["127.0.0.1"]])
def test_resolver_alone_refuses_a_private_answer_in_a_real_crawl(
    server: Any, tmp_path: Path, allow: bool | list[str]
) -> None:
    """With the middleware's check switched off, the DNS answer is still refused at connect
    time (what a rebinding name would get past the first check)."""
    base = server.base.replace("127.0.0.1", "localhost")
    source = site_source(
        base,
        allowed_domains=["localhost"],
        allow_private_addresses=allow,
        feeds=[],
        sitemaps=[],
        obey_robots=False,
        retry_times=0,
        max_pages=1,
    )
    job = crawl_job(source, str(tmp_path), crawl_id="c", result_path=str(tmp_path / "r.json"))
    proc = subprocess.run(
        [sys.executable, "-c", RESOLVER_ONLY, json.dumps(job)],
        env=child_env(),
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_pages(str(tmp_path), "site").to_pylist()
    if allow is False:
        assert server.requested_paths() == []
        assert [r["status"] for r in rows] == [None]
        assert "refused non-public address 127.0.0.1" in proc.stderr
    else:
        assert server.requested_paths() == ["/"] and rows[0]["status"] == 200
