"""Federated identities: the (issuer, subject) pairs a federated client is known by.

A client with `auth_method: "federated"` has one or more exact pairs and no secret or
key; a token from a trusted issuer authenticates it when its `iss` and `sub` are one of
them (issuer/oauth/federated.py). The mapping rules:
- exact strings, no patterns: a pattern would let a workload the admin never saw in;
- the issuer must be trusted already (`issuer/federation/trusted_issuers.py`);
- a pair names at most one client (`FederatedIdentity`'s primary key): a second client
  claiming it is refused with `Conflict` (409), so a token never has two readings;
- only federated clients have pairs, and every federated client has at least one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.clients.registry import FEDERATED, has_control_character
from issuer.federation.errors import Conflict, FederationError
from issuer.store.federation_tables import FederatedIdentity, TrustedIssuer
from issuer.store.tables import SUBJECT_LENGTH

MAX_IDENTITIES = 20

Pair = tuple[str, str]


def parse_identities(value: Any) -> list[Pair]:
    """`[{"issuer": ..., "subject": ...}, ...]` (or (issuer, subject) pairs) as pairs,
    duplicates dropped; `FederationError` for anything else."""
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_IDENTITIES:
        raise FederationError(f"federated_identities must list 1 to {MAX_IDENTITIES} identities")
    pairs: list[Pair] = []
    for item in value:
        if isinstance(item, dict) and set(item) == {"issuer", "subject"}:
            issuer, subject = item["issuer"], item["subject"]
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            issuer, subject = item
        elif hasattr(item, "issuer") and hasattr(item, "subject"):  # the admin API's model
            issuer, subject = item.issuer, item.subject
        else:
            raise FederationError(
                'each federated identity is {"issuer": ..., "subject": ...}'
            )
        if type(issuer) is not str or type(subject) is not str:
            raise FederationError("a federated identity's issuer and subject are strings")
        if has_control_character(issuer):  # never a trusted one (trusted_issuers.py)
            raise FederationError("a federated identity's issuer has no control characters")
        if not 0 < len(subject) <= SUBJECT_LENGTH or has_control_character(subject):
            raise FederationError(
                f"subject must be 1 to {SUBJECT_LENGTH} characters, no control characters"
            )
        pairs.append((issuer, subject))
    return list(dict.fromkeys(pairs))


def check_identities(
    session: Session, auth_method: str, value: Any, client_id: str | None = None
) -> list[Pair]:
    """The pairs a client of `auth_method` registers (`value`: the request's list or
    None), each checked against the trusted issuers and the other clients' pairs."""
    if auth_method != FEDERATED:
        if value:
            raise FederationError("federated_identities are only for auth_method federated")
        return []
    if value is None:
        raise FederationError(
            "auth_method federated needs federated_identities: [{issuer, subject}, ...]"
        )
    pairs = parse_identities(value)
    issuers = {issuer for issuer, _ in pairs}
    trusted = set(session.scalars(
        select(TrustedIssuer.issuer).where(TrustedIssuer.issuer.in_(issuers))
    ))
    for issuer in sorted(issuers - trusted):
        raise FederationError(
            f"issuer {issuer!r} is not a trusted issuer: add it first "
            "(POST /admin/trusted-issuers, or issuer trusted-issuers add)"
        )
    for issuer, subject in pairs:
        owner = client_id_for(session, issuer, subject)
        if owner is not None and owner != client_id:
            raise Conflict(f"({issuer}, {subject}) already authenticates client {owner}")
    return pairs


def identity_views(pairs: Sequence[Pair]) -> list[dict[str, str]]:
    return [{"issuer": issuer, "subject": subject} for issuer, subject in pairs]


def identities_of(session: Session, client_id: str) -> list[Pair]:
    """A client's pairs, sorted."""
    return identities_of_clients(session, [client_id]).get(client_id, [])


def identities_of_clients(session: Session, client_ids: Sequence[str]) -> dict[str, list[Pair]]:
    """The pairs of each of `client_ids` (a page of clients listed: one query, not one
    each), each client's sorted; a client with none is absent. A query: `Client` has no
    relationship to them (issuer/store/tables.py says why)."""
    found: dict[str, list[Pair]] = {}
    rows = session.execute(
        select(FederatedIdentity.client_id, FederatedIdentity.issuer, FederatedIdentity.subject)
        .where(FederatedIdentity.client_id.in_(client_ids))
        .order_by(FederatedIdentity.client_id, FederatedIdentity.issuer,
                  FederatedIdentity.subject)
    )
    for client_id, issuer, subject in rows:
        found.setdefault(client_id, []).append((issuer, subject))
    return found


def set_identities(
    session: Session, client_id: str, held: Sequence[Pair], pairs: Sequence[Pair]
) -> None:
    """Make the client's pairs exactly `pairs` (checked by `check_identities`), `held`
    being its pairs now (none for a new client; `identities_of` for one that exists,
    which the caller has read for its audit record): kept ones untouched, others added
    or removed. Flushed here so a concurrent registration of the same pair is a
    `Conflict`, not a database error at commit."""
    kept, wanted = set(held), set(pairs)
    # The client's own row first: a new client's identities reference it.
    session.flush()
    for issuer, subject in sorted(kept - wanted):
        session.execute(delete(FederatedIdentity).where(
            FederatedIdentity.issuer == issuer, FederatedIdentity.subject == subject,
            FederatedIdentity.client_id == client_id))
    for issuer, subject in pairs:
        if (issuer, subject) not in kept:
            session.add(FederatedIdentity(issuer=issuer, subject=subject, client_id=client_id))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("a federated identity was registered by another client meanwhile") from None


def client_id_for(session: Session, issuer: str, subject: str) -> str | None:
    """The one client an external identity names, if any (a primary-key read)."""
    return session.scalars(
        select(FederatedIdentity.client_id).where(
            FederatedIdentity.issuer == issuer, FederatedIdentity.subject == subject
        )
    ).first()
