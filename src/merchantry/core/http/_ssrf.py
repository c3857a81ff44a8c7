"""
The SSRF guard: outbound connections go to public addresses only.

A URL that comes from data (an image to import, a merchant's webhook
endpoint, a URL a plugin was given) could point at the machine itself or at
the private network behind it: the database, Redis, an admin port, the cloud
metadata service at 169.254.169.254 that hands out credentials. So the host of
every request is resolved once, *every* address it resolves to is checked,
and the connection is made to a checked address, never to the name again.
Checking a name and then letting the socket library resolve it anew would let
a DNS server answer "public" to the check and "127.0.0.1" to the connect (DNS
rebinding).

The check sits in the network backend of the client's transport, where the
TCP connection is opened, so redirects and retries are checked too. TLS still
verifies the certificate against the host name of the URL (httpcore passes it
as SNI), and the ``Host`` header is the URL's.

Exceptions: ``allow_private=True`` on a client whose URLs are configuration,
not data; and ``settings.MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS``, an installation-wide
allow-list of names, addresses or networks, each optionally with a port
(``localhost``, ``127.0.0.1:8025``, ``10.0.0.0/8``, ``[::1]:9000``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

import httpcore
import httpx
from django.conf import settings

from merchantry.core.http._errors import BlockedUrl, ConnectionFailed

__all__ = [
    "AllowRule",
    "PinnedTransport",
    "blocked_reason",
    "check_public_url",
    "is_public_address",
    "parse_allow_list",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_HOSTNAME_RE = re.compile(r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*\.?", re.I)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 form carries (mapped, 6to4, NAT64, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX or int(address) < 2**32:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Return why ``address`` is not a public destination, or None when it is."""
    if address.is_loopback:
        return "loopback address"
    if address.is_unspecified:
        return "unspecified address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = blocked_reason(embedded)
            return f"{reason} inside an IPv6 address" if reason else None
    if address in _METADATA_ADDRESSES:
        return "cloud metadata address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_private:
        return "private address"
    if address.is_reserved or not address.is_global:
        return "reserved address"
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """Tell whether ``address`` is a public unicast address (not loopback, private, ...)."""
    return blocked_reason(ipaddress.ip_address(address)) is None


# -- the allow-list ------------------------------------------------------------------


@dataclass(frozen=True)
class AllowRule:
    """One allow-list entry: a host name or a network, optionally limited to one port."""

    hostname: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def matches(self, *, host: str, port: int, address: IPAddress) -> bool:
        """Tell whether a connection to ``address``:``port`` for ``host`` is allowed."""
        if self.port is not None and self.port != port:
            return False
        if self.hostname is not None:
            return _normal_host(host) == self.hostname
        assert self.network is not None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.version == self.network.version and address in self.network


def _parse_rule(entry: str) -> AllowRule:
    text = entry.strip()
    port: str | None = None
    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        host = inside
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{entry!r} is not [address]:port")
            port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host = text  # a name, an IPv4 address or network, or a bare IPv6 one
    port_number: int | None = None
    if port is not None:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{entry!r}: {port!r} is not a port")
        port_number = int(port)
    try:
        return AllowRule(network=ipaddress.ip_network(host, strict=False), port=port_number)
    except ValueError:
        pass
    if not _HOSTNAME_RE.fullmatch(host) or host.replace(".", "").isdigit():
        raise ValueError(f"{entry!r} is not a host name, an address or a network")
    return AllowRule(hostname=_normal_host(host), port=port_number)


def parse_allow_list(entries: str | Iterable[str]) -> tuple[AllowRule, ...]:
    """
    Parse allow-list entries (a list, or one comma-separated string).

    Raise ``ValueError`` naming the first entry that is not a host name, an
    address or a network with an optional port.
    """
    if isinstance(entries, str):
        entries = entries.split(",")
    return tuple(_parse_rule(entry) for entry in entries if entry.strip())


@lru_cache(maxsize=8)
def _cached_rules(entries: tuple[str, ...]) -> tuple[AllowRule, ...]:
    return parse_allow_list(entries)


def _configured_rules() -> tuple[AllowRule, ...]:
    # Read on every connection, so a test's settings override takes effect at once.
    if not settings.configured:
        return ()
    raw: Any = getattr(settings, "MERCHANTRY_HTTP_ALLOW_PRIVATE_HOSTS", ())
    if isinstance(raw, str):
        raw = raw.split(",")
    return _cached_rules(tuple(raw))


def _normal_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


# -- resolving and vetting -----------------------------------------------------------


@dataclass(frozen=True)
class AddressGuard:
    """Resolve a host once and return its addresses, refusing any that is not allowed."""

    allow_private: bool = False

    def vet(self, host: str, port: int) -> list[str]:
        """
        Return the addresses ``host`` resolves to, each allowed for ``port``.

        Raise ``BlockedUrl`` when *any* of them is not public and not
        allow-listed (refusing the host as a whole keeps a name with one public
        and one private record from being a coin toss), and ``ConnectionFailed``
        when the name does not resolve.
        """
        name = _normal_host(host)
        if not name:
            raise BlockedUrl(host, reason="no host")
        try:
            # Looked up on the module at call time, so tests can stand in a resolver.
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ConnectionFailed(f"could not resolve {name}") from exc
        addresses: list[str] = []
        for info in infos:
            text = str(info[4][0]).partition("%")[0]
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise ConnectionFailed(f"{name} resolves to no address")
        if self.allow_private:
            return addresses
        rules = _configured_rules()
        for text in addresses:
            address = ipaddress.ip_address(text)
            reason = blocked_reason(address)
            if reason and not any(
                rule.matches(host=name, port=port, address=address) for rule in rules
            ):
                raise BlockedUrl(
                    _display(name, port), reason=f"resolves to a {reason}", address=text
                )
        return addresses


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_public_url(url: str | httpx.URL, *, allow_private: bool = False) -> None:
    """
    Raise ``BlockedUrl`` unless ``url`` is http(s) and its host resolves to allowed addresses.

    Call it where a URL enters the system (a merchant saves a webhook
    endpoint) to refuse it with a field error early; the client checks again
    at connection time, which is the check that counts. Raise
    ``ConnectionFailed`` when the host does not resolve (which may be transient).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BlockedUrl(str(url), reason="not a valid URL") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise BlockedUrl(str(url), reason="not an http(s) URL")
    if not parsed.host:
        raise BlockedUrl(str(url), reason="no host")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    try:
        AddressGuard(allow_private=allow_private).vet(parsed.host, port)
    except BlockedUrl as exc:
        raise BlockedUrl(str(url), reason=exc.reason, address=exc.address) from None


# -- the transport -----------------------------------------------------------------


class _VettingBackend(httpcore.NetworkBackend):
    """Open TCP connections only to addresses the guard returned for the host."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.vet(host, port)
        except ConnectionFailed as exc:
            # As httpcore's own DNS failure, so retries and error mapping treat it alike.
            raise httpcore.ConnectError(str(exc)) from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedUrl(f"unix:{path}", reason="unix sockets are not an outbound destination")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """
    httpx's transport, connecting only to addresses the SSRF guard vetted.

    The pool is built here instead of by ``HTTPTransport.__init__`` because
    httpx offers no parameter for the network backend; every other method is
    httpx's own. Proxies from the environment are ignored on purpose: a proxy
    would do its own resolving, out of the guard's sight.
    """

    def __init__(  # the parent's would build a pool without our backend
        self,
        *,
        guard: AddressGuard,
        verify: Any = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0
        )
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_VettingBackend(guard),
        )
