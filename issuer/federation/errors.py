"""The refusals of federation's rules, apart from the rules themselves: the HTTP error
handlers (issuer/http/errors.py) name `Conflict` at start, and federation's modules are
imported by the first request that uses them (issuer/services.py)."""

from __future__ import annotations

from issuer.clients.registry import ClientError


class FederationError(ClientError):
    """A trusted issuer or federated identity that breaks a rule (422, naming it)."""


class Conflict(FederationError):
    """A change that collides with another record (409): an issuer registered twice,
    an external identity another client already has, an issuer still in use."""
