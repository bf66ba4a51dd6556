"""What the token endpoint takes from a client that a trusted external issuer's assertion
authenticated (workload identity federation, docs/federation.md): the token's `act`
claim (RFC 8693 §4.1) and the `token_issued` line's fields, from the external identity
the method put on the client's record (`ClientRecord.federated_identity`). Read by every
token; the method itself (`federated_assertion.py`) and the federation it reads are
imported by the first federated request.
"""

from __future__ import annotations

from issuer.clients.cache import ClientRecord


def federated_act(client: ClientRecord) -> dict[str, str] | None:
    """The `act` claim for a token issued to `client`: the external identity when a
    federated assertion authenticated it, else None."""
    if client.federated_identity is None:
        return None
    iss, sub = client.federated_identity
    return {"iss": iss, "sub": sub}


def federated_log_fields(client: ClientRecord) -> dict[str, str]:
    """The `token_issued` line's record of the external identity (nothing for others)."""
    if client.federated_identity is None:
        return {}
    iss, sub = client.federated_identity
    return {"federated_iss": iss, "federated_sub": sub}
