"""tollgate_client: access tokens for machine clients (OAuth 2.0 client credentials,
RFC 6749 §4.4), cached and refreshed before they expire, one fetch however many threads
or tasks ask, with auth hooks for requests and httpx.

    from tollgate_client import TokenSource, RequestsAuth, HttpxAuth

    source = TokenSource("https://issuer.example.com", "c_123", secret,
                         scope="orders:read", audience="https://api.example.com/orders")
    requests.get(url, auth=RequestsAuth(source))
    httpx.Client(auth=HttpxAuth(source)).get(url)
"""

from tollgate_client.auth import HttpxAuth, RequestsAuth
from tollgate_client.binding import DpopKey, httpx_client, requests_session
from tollgate_client.credentials import JWT_BEARER
from tollgate_client.errors import ConfigurationError, DiscoveryError, TokenError
from tollgate_client.source import Presented, Token, TokenSource

__version__ = "0.1.0"

__all__ = [
    "JWT_BEARER",
    "ConfigurationError",
    "DiscoveryError",
    "DpopKey",
    "HttpxAuth",
    "Presented",
    "RequestsAuth",
    "Token",
    "TokenError",
    "TokenSource",
    "__version__",
    "httpx_client",
    "requests_session",
]
