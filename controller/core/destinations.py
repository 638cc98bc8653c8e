"""Where a Workspace may send the cluster to fetch from: nowhere only the cluster can reach.

Pure, used by ``checks`` on ``tuning.input.urls``. Those URLs are downloaded with curl
(``--location``) by an init container inside the cluster, so a URL at the node's
loopback, a link-local address or a cloud metadata service (169.254.169.254 hands out
instance credentials) turns a pull request into a request forgery (SSRF). This module
refuses such URLs at PR time with the reason; it judges the URL as written and cannot see
what a name resolves to or where a redirect leads (docs/security.md: the platform's
egress policy covers those).

Hosts are read the way curl and glibc's ``inet_aton`` read them, so the spellings of an
address that tools accept (``2852039166``, ``0xa9.254.169.254``, ``127.1``,
``[::ffff:127.0.0.1]``) are seen for what they are. Anything a parser could read two ways
(whitespace, a backslash, two ``@``, a percent-encoded host) is refused outright.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["refused_url"]

_URL = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?", re.I | re.S)
_PORT = re.compile(r":[0-9]*")
#: Names of this machine or of a cloud metadata service (they resolve to refused addresses).
_NAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.google",  # KAITO's webhook names it too
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)
#: Metadata services outside the link-local range (Alibaba Cloud; AWS over IPv6).
_METADATA = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOOPBACK = "a loopback address"


def refused_url(
    url: str, *, allow_loopback: bool = False, allow_private: bool = True
) -> str | None:
    """Why the cluster must not fetch ``url``, or None when its host is acceptable.

    ``allow_loopback`` accepts this machine (``localhost``, 127.0.0.0/8, ``::1``) and
    nothing else: for receivers a platform team runs beside the controller, and tests.
    ``allow_private=False`` also refuses private address literals (RFC 1918 and RFC 4193,
    Go's ``IP.IsPrivate``), as KAITO's webhook does for tuning data; a name (an in-cluster
    Service's DNS name) is still accepted: what it resolves to is the egress policy's job.
    """
    if any(c.isspace() or c == "\\" or not c.isprintable() for c in url):
        return "has whitespace, a control character or a backslash"
    match = _URL.fullmatch(url)
    if match is None:
        return "is not an http(s) URL"
    authority = match["authority"]
    if authority.count("@") > 1:
        return "has more than one '@' before the host"
    host = _host(authority.rpartition("@")[2])
    if host is None:
        return "has no readable host"
    if "%" in host:
        return "has a percent-encoded host"
    name = host.rstrip(".").lower()
    if allow_loopback and (name == "localhost" or name.endswith(".localhost")):
        return None
    if name in _NAMES or name.endswith(".localhost"):
        return f"names {name}, this machine or a cloud metadata service"
    address = _address(name)
    if address is None:
        return None
    what = _forbidden(address)
    if allow_loopback and what == _LOOPBACK:
        return None
    if what is None and not allow_private and _private(address):
        what = "a private address (name the in-cluster service by its DNS name instead)"
    return None if what is None else f"points at {what} ({address})"


_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _private(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _PRIVATE)


def _host(hostport: str) -> str | None:
    if hostport.startswith("["):
        inside, bracket, port = hostport[1:].partition("]")
        return inside if bracket and _PORT.fullmatch(port or ":") else None
    host, colon, port = hostport.rpartition(":")
    if not colon:
        return hostport or None
    return host if host and _PORT.fullmatch(":" + port) else None


def _address(host: str) -> Address | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    number = _inet_aton(host)
    return None if number is None else ipaddress.IPv4Address(number)


def _inet_aton(host: str) -> int | None:
    """glibc's reading of a numeric IPv4 host: 1 to 4 parts, each decimal, 0-octal or 0x-hex;
    the last part fills the remaining bytes (``127.1`` is 127.0.0.1)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10) if part.isdigit() else -1)
        except ValueError:
            return None
    *leading, last = numbers
    bits = 8 * (4 - len(leading))  # what the last part fills
    if any(not 0 <= n <= 255 for n in leading) or not 0 <= last < 1 << bits:
        return None
    value = 0
    for n in leading:
        value = value << 8 | n
    return value << bits | last


def _forbidden(address: Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA or (address.is_link_local and address.version == 4):
        return "a link-local or cloud metadata address"
    if address.is_loopback:
        return _LOOPBACK
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "the unspecified address (this host)"
    if address.is_multicast:
        return "a multicast address"
    return None
