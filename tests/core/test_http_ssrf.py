"""The SSRF guard: data-provided URLs reach public addresses only, redirects included."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from merchantry.core.http import (
    NO_RETRIES,
    BlockedUrl,
    ConnectionFailed,
    check_public_url,
    is_public_address,
    make_client,
    parse_allow_list,
)
from merchantry.core.http._ssrf import blocked_reason
from tests.core.http_server import LocalServer, Reply, local_server


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record every TCP connection the process opens (and still open it)."""
    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def spy(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", spy)
    return opened


def _fake_dns(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, Callable[[], list[str]]]
) -> dict[str, int]:
    """Answer lookups of the given names from ``answers``; count them."""
    real = socket.getaddrinfo
    lookups = dict.fromkeys(answers, 0)

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups[host] += 1
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, int(port)),
            )
            for ip in answers[host]()
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def _refused_urls(port: int) -> list[tuple[str, str]]:
    return [
        ("loopback", f"http://127.0.0.1:{port}/"),
        ("loopback range", f"http://127.1.2.3:{port}/"),
        ("private 10/8", f"http://10.0.0.1:{port}/"),
        ("private 172.16/12", f"http://172.16.5.4:{port}/"),
        ("private 192.168/16", f"http://192.168.1.1:{port}/"),
        ("link-local", f"http://169.254.10.1:{port}/"),
        ("cloud metadata", "http://169.254.169.254/latest/meta-data/iam/"),
        ("carrier-grade NAT", f"http://100.64.0.1:{port}/"),
        ("multicast", f"http://224.0.0.1:{port}/"),
        ("unspecified", f"http://0.0.0.0:{port}/"),
        ("IPv6 loopback", f"http://[::1]:{port}/"),
        ("IPv6 unique local", f"http://[fc00::1]:{port}/"),
        ("IPv6 link-local", f"http://[fe80::1]:{port}/"),
        ("IPv4-mapped loopback", f"http://[::ffff:127.0.0.1]:{port}/"),
        ("IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/"),
        ("name resolving to loopback", f"http://localhost:{port}/"),
        ("decimal IP", f"http://2130706433:{port}/"),
        ("hex IP", f"http://0x7f.1:{port}/"),
        ("https to loopback", f"https://127.0.0.1:{port}/"),
        ("file scheme", "file:///etc/passwd"),
        ("ftp scheme", f"ftp://127.0.0.1:{port}/"),
        ("gopher scheme", f"gopher://127.0.0.1:{port}/_INFO"),
    ]


REFUSED_CASES = [case for case, _ in _refused_urls(0)]


@pytest.mark.parametrize("_case", REFUSED_CASES)
def test_data_urls_to_internal_destinations_are_refused_before_connecting(
    _case: str, server: LocalServer, connects: list[tuple[str, int]]
) -> None:
    # given a client for URLs that come from data, and a server on 127.0.0.1
    url = dict(_refused_urls(server.port))[_case]
    client = make_client(name="images", retries=NO_RETRIES)

    # when the URL is fetched
    with pytest.raises(BlockedUrl) as caught:
        client.get(url)

    # then it is refused, and no connection was opened to anything
    assert caught.value.reason
    assert connects == []
    assert server.requests == []


@pytest.mark.parametrize("_case", REFUSED_CASES)
def test_check_public_url_refuses_internal_destinations(_case: str) -> None:
    url = dict(_refused_urls(8080))[_case]
    with pytest.raises(BlockedUrl):
        check_public_url(url)


@pytest.mark.parametrize(
    "url", ["http://93.184.215.14/", "https://[2606:4700::1111]/path?q=1", "http://8.8.8.8:8080/"]
)
def test_check_public_url_accepts_public_addresses(url: str) -> None:
    assert check_public_url(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", "not an http(s) URL"),
        ("http:///no-host", "no host"),
        ("javascript:alert(1)", "not an http(s) URL"),
    ],
)
def test_check_public_url_refuses_malformed_urls(url: str, reason: str) -> None:
    with pytest.raises(BlockedUrl) as caught:
        check_public_url(url)
    assert caught.value.reason == reason


def test_blocked_url_message_masks_secrets_in_the_url() -> None:
    with pytest.raises(BlockedUrl) as caught:
        check_public_url("http://user:hunter2@127.0.0.1/hook?token=sekret&page=2")
    assert "hunter2" not in str(caught.value)
    assert "sekret" not in str(caught.value)
    assert caught.value.url == "http://user:****@127.0.0.1/hook?token=****&page=2"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback address"),
        ("169.254.169.254", "cloud metadata address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("169.254.1.1", "link-local address"),
        ("10.1.2.3", "private address"),
        ("::ffff:10.1.2.3", "private address inside an IPv6 address"),
        ("::127.0.0.1", "loopback address inside an IPv6 address"),
        ("2002:7f00:1::", "loopback address inside an IPv6 address"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "cloud metadata address inside an IPv6 address"),  # NAT64
        ("ff02::1", "multicast address"),
        ("240.0.0.1", "private address"),
        ("2001:db8::1", "private address"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_blocked_reason_names_the_kind_of_address(address: str, reason: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason
    assert is_public_address(address) is (reason is None)


def test_a_name_resolving_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, connects: list[tuple[str, int]]
) -> None:
    # given a public-looking name whose DNS answer is private
    _fake_dns(monkeypatch, {"shop.example": lambda: ["10.0.0.5"]})
    client = make_client(name="images", retries=NO_RETRIES)

    # when it is fetched, then it is refused before connecting
    with pytest.raises(BlockedUrl) as caught:
        client.get("https://shop.example/logo.png")
    assert caught.value.address == "10.0.0.5"
    assert caught.value.url == "https://shop.example/logo.png"
    assert connects == []


def test_a_name_with_one_public_and_one_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, connects: list[tuple[str, int]]
) -> None:
    _fake_dns(monkeypatch, {"mixed.example": lambda: ["93.184.215.14", "127.0.0.1"]})
    client = make_client(name="images", retries=NO_RETRIES)

    with pytest.raises(BlockedUrl):
        client.get("http://mixed.example/")
    assert connects == []


def test_the_connection_goes_to_the_vetted_address_not_a_second_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a rebinding DNS server: public on the first answer, loopback after
    answers = iter([["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]])
    lookups = _fake_dns(monkeypatch, {"rebind.example": lambda: next(answers)})
    attempted: list[tuple[str, int]] = []

    def no_network(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempted.append(address)
        raise ConnectionRefusedError("no network in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    client = make_client(name="webhooks", retries=NO_RETRIES)

    # when the name is fetched
    with pytest.raises(ConnectionFailed):
        client.get("http://rebind.example:8080/hook")

    # then it was resolved once, and the connection went to that (public) answer
    assert lookups == {"rebind.example": 1}
    assert attempted == [("93.184.215.14", 8080)]


def test_a_vetted_name_keeps_its_host_header(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, settings: Any
) -> None:
    # given a name that resolves to the allow-listed test server
    _fake_dns(monkeypatch, {"shop.example": lambda: ["127.0.0.1"]})
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    client = make_client(name="images", retries=NO_RETRIES)

    # when it is fetched
    response = client.get(f"http://shop.example:{server.port}/logo.png")

    # then the server got the request for the name, at the vetted address
    assert response.status_code == 200
    assert len(server.requests) == 1
    assert server.requests[0].headers["Host"] == f"shop.example:{server.port}"


def test_a_redirect_to_an_internal_address_is_refused(
    server: LocalServer, other_server: LocalServer, settings: Any
) -> None:
    # given an allow-list naming exactly the first server's port, which
    # redirects to another port on the same loopback address
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    server.reply(Reply(status=302, headers={"Location": other_server.url("/admin")}))
    client = make_client(name="images", retries=NO_RETRIES)

    # when the first URL is fetched
    with pytest.raises(BlockedUrl) as caught:
        client.get(server.url("/image.png"))

    # then the first hop was made, the redirect was checked again and refused
    assert len(server.requests) == 1
    assert other_server.requests == []
    assert caught.value.url == other_server.url("/admin")


@pytest.mark.parametrize(
    ("_case", "location"),
    [
        ("cloud metadata", "http://169.254.169.254/latest/meta-data/"),
        ("file scheme", "file:///etc/passwd"),
        ("name resolving to loopback", "http://localhost/"),
    ],
)
def test_redirects_to_other_refused_destinations(
    _case: str, location: str, server: LocalServer, settings: Any
) -> None:
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    server.reply(Reply(status=301, headers={"Location": location}))
    client = make_client(name="images", retries=NO_RETRIES)

    with pytest.raises(BlockedUrl):
        client.get(server.url("/"))
    assert len(server.requests) == 1


def test_a_redirect_within_the_allowed_destination_is_followed(
    server: LocalServer, settings: Any
) -> None:
    # the control for the redirect tests: the set-up itself lets redirects through
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = [f"127.0.0.1:{server.port}"]
    server.reply(Reply(status=302, headers={"Location": "/final"}), Reply(body=b"here"))
    client = make_client(name="images", retries=NO_RETRIES)

    response = client.get(server.url("/start"))

    assert response.text == "here"
    assert [r.path for r in server.requests] == ["/start", "/final"]


def test_allow_private_client_reaches_a_local_server(server: LocalServer) -> None:
    # a client whose base URL is the operator's configuration (a local fake provider)
    client = make_client(name="stripe", base_url=server.url(), allow_private=True)

    response = client.get("/v1/balance")

    assert response.status_code == 200
    assert [r.path for r in server.requests] == ["/v1/balance"]


def test_allow_private_still_refuses_other_schemes(server: LocalServer) -> None:
    client = make_client(name="stripe", allow_private=True)
    with pytest.raises(BlockedUrl):
        client.get(f"ftp://127.0.0.1:{server.port}/")
    assert server.requests == []


def test_a_host_name_entry_allows_that_name_only(server: LocalServer, settings: Any) -> None:
    # given the allow-list names localhost on the server's port
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = f"localhost:{server.port}"
    client = make_client(name="images", retries=NO_RETRIES)

    # then the name is reachable, the bare address behind it is not
    assert client.get(server.url("/a", host="localhost")).status_code == 200
    with pytest.raises(BlockedUrl):
        client.get(server.url("/b"))
    assert [r.path for r in server.requests] == ["/a"]


def test_an_allow_list_entry_with_a_port_allows_no_other_port(
    server: LocalServer, other_server: LocalServer, settings: Any
) -> None:
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = [f"127.0.0.1:{other_server.port}"]
    client = make_client(name="images", retries=NO_RETRIES)

    with pytest.raises(BlockedUrl):
        client.get(server.url())
    assert server.requests == []


def test_a_network_entry_allows_addresses_inside_it(server: LocalServer, settings: Any) -> None:
    settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS = ["127.0.0.0/8"]
    client = make_client(name="images", retries=NO_RETRIES)

    assert client.get(server.url()).status_code == 200
    with pytest.raises(BlockedUrl):
        check_public_url("http://10.0.0.1/")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("localhost", "hostname=localhost port=None"),
        ("LocalHost.:8025", "hostname=localhost port=8025"),
        ("127.0.0.1", "network=127.0.0.1/32 port=None"),
        ("127.0.0.1:8000", "network=127.0.0.1/32 port=8000"),
        ("10.0.0.0/8", "network=10.0.0.0/8 port=None"),
        ("::1", "network=::1/128 port=None"),
        ("[::1]:9000", "network=::1/128 port=9000"),
        ("fd00::/8", "network=fd00::/8 port=None"),
    ],
)
def test_allow_list_entries_are_parsed(entry: str, expected: str) -> None:
    (rule,) = parse_allow_list(entry)
    shown = (
        f"hostname={rule.hostname}" if rule.hostname else f"network={rule.network}"
    ) + f" port={rule.port}"
    assert shown == expected


@pytest.mark.parametrize("entry", ["*", "bad host", "127.0.0.1:0", "localhost:http", "[::1]x"])
def test_invalid_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        parse_allow_list(entry)
