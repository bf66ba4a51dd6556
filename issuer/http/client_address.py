"""The client's address: one rule for the brute-force throttle and the access log.

The address is the peer the server saw: the TCP peer under `issuer serve` (which never
lets uvicorn rewrite it from headers: its `proxy_headers` default believes
`X-Forwarded-For` from 127.0.0.1), the address API Gateway saw under Lambda (Mangum's
client is `requestContext.identity.sourceIp` / `requestContext.http.sourceIp`, "the
source IP address of the TCP connection making the request to API Gateway", API Gateway
developer guide, `$context` variables).

`X-Forwarded-For` is anyone's to write, so it is believed only when the peer is a proxy
the operator named in `ISSUER_TRUSTED_PROXIES`. Each proxy appends the address it received
the request from, so the header is read from the right: named proxies are skipped and the
first address that is not one is the client. What a client wrote to the left of that is
never read (believing it would let a caller choose a new throttle key per request). An
entry that is not an IP address ends the walk at the last proxy that vouched for it.

Mangum passes an Application Load Balancer's whole `X-Forwarded-For` as the client: the
load balancer appends the address it received the request from ("append", its default
mode; Elastic Load Balancing, "HTTP headers and Application Load Balancers"), so the
rightmost entry is the peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import Scope

from issuer.settings import IPNetwork, parse_trusted_proxies

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
__all__ = ["IPNetwork", "client_address", "parse_trusted_proxies"]
_MAX_HOPS = 20  # a longer chain of named proxies is no deployment: stop reading there


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1 (dual-stack sockets)
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def _forwarded_for(scope: Scope) -> list[str]:
    entries: list[str] = []
    for name, value in scope.get("headers") or ():
        if name == b"x-forwarded-for":  # several header lines are one list (RFC 9110 §5.3)
            entries.extend(value.decode("latin-1").split(","))
    return entries


def client_address(scope: Scope, trusted_proxies: Iterable[IPNetwork] = ()) -> str | None:
    """The address of the client that sent this request (see the module docstring), as
    text: an IP address, or the server's own peer text when that is not one (a test
    client's name, a Unix socket); None when the server gave none."""
    client = scope.get("client")
    if not client or not client[0]:
        return None
    peer_text = str(client[0]).rsplit(",", 1)[-1].strip()  # Mangum under an ALB: see above
    peer = _ip(peer_text)
    if peer is None:
        return peer_text
    proxies = tuple(trusted_proxies)
    if not proxies or not _trusted(peer, proxies):
        return str(peer)
    current = peer
    for entry in reversed(_forwarded_for(scope)[-_MAX_HOPS:]):
        hop = _ip(entry)
        if hop is None:
            break  # garbage from a named proxy: the client is the last one that vouched
        current = hop
        if not _trusted(hop, proxies):
            break
    return str(current)
