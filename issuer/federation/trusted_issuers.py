"""Trusted issuers: the external token issuers whose JWTs authenticate federated clients
(RFC 7523 §2.2), their rules, and one function per admin verb, each committing the
change with its audit record (the admin API and the CLI share them).

A trusted issuer is:
- `issuer`: the exact `iss` (RFC 7519 §4.1.1: compared as a string, no normalisation).
  It must be a URI (it holds a `:`), so it can never be mistaken for a client id
  (unreserved characters only): an assertion's `iss` alone decides whether it is a
  `private_key_jwt` or a federated assertion (issuer/oauth/federated.py). Never changed
  once registered: federated identities name it.
- its keys: a `jwks_uri` (fetched as `issuer/federation/jwks.py` says, under
  `UriPolicy`) or an inline `jwks` (for an issuer whose keys are not reachable from
  here, e.g. a cluster's service-account keys).
- `algorithms`: what it may sign with, from `shared.jwa.ALLOWED_ALGS` (RFC 8725 §3.1:
  never `none`, never HS*: an HMAC "key" would be the issuer's public key).
- `audience`: the `aud` its tokens must carry for us (RFC 7523 §3 item 3); None means
  our token endpoint URL.
- `max_token_age`: the oldest `iat` accepted, in seconds (RFC 7523 §3 item 6).
- `allow_reuse`: whether one token may authenticate more than once before it expires
  (Kubernetes and GitHub tokens are reused by design); default false (item 7).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.audit import Actor, record
from issuer.clients.client_keys import checked_entries, key_ids, usable_keys
from issuer.clients.registry import could_be_client_id, has_control_character
from issuer.federation.errors import Conflict as Conflict  # (re-exported: the verbs raise it)
from issuer.federation.errors import FederationError as FederationError
from issuer.federation.jwks import UriPolicy, UriRefused
from issuer.store.federation_tables import FederatedIdentity, TrustedIssuer
from issuer.store.tables import ISSUER_LENGTH, URI_LENGTH
from shared.jwa import ALLOWED_ALGS

DEFAULT_ALGORITHMS = ("RS256",)
DEFAULT_MAX_TOKEN_AGE = 3600  # Kubernetes' default projected token lifetime, AWS's maximum
MIN_MAX_TOKEN_AGE = 60
MAX_MAX_TOKEN_AGE = 86400
MAX_ISSUER_KEYS = 20
MAX_INLINE_JWKS_BYTES = 64 * 1024
FIELDS = ("issuer", "jwks_uri", "jwks", "algorithms", "audience", "max_token_age",
          "allow_reuse")
UPDATABLE = FIELDS[1:]


def new_trusted_issuer_id() -> str:
    return "ti_" + secrets.token_urlsafe(12)


def could_be_trusted_issuer_id(value: str) -> bool:
    """The shape `new_trusted_issuer_id` makes (unreserved characters, as a client id):
    a key of any other shape is never looked up, so a cursor holding NUL is refused
    (422), not a database error (PostgreSQL refuses NUL: issuer/store/paging.py)."""
    return value.startswith("ti_") and could_be_client_id(value)


def _check_issuer(value: Any, own_issuer: str | None) -> str:
    if type(value) is not str or not 0 < len(value) <= ISSUER_LENGTH:
        raise FederationError(f"issuer must be a string of 1 to {ISSUER_LENGTH} characters")
    if ":" not in value or has_control_character(value) or any(ch.isspace() for ch in value):
        # RFC 7519 §2: a StringOrURI holding ":" is a URI; one without could be a client id.
        raise FederationError("issuer must be a URI such as https://issuer.example (its exact iss)")
    if own_issuer is not None and value.rstrip("/") == own_issuer.rstrip("/"):
        raise FederationError("issuer cannot be this issuer itself")
    return value


def _check_algorithms(value: Any) -> list[str]:
    if type(value) is not list or not value or not all(type(a) is str for a in value):
        raise FederationError("algorithms must be a non-empty list of JWS algorithm names")
    for alg in value:
        if alg not in ALLOWED_ALGS:
            why = ("never none or HS* (RFC 8725 §3.1)" if alg == "none" or alg.startswith("HS")
                   else "not a supported signature algorithm")
            raise FederationError(
                f"algorithm {alg!r} refused: {why}; use some of {', '.join(sorted(ALLOWED_ALGS))}"
            )
    return list(dict.fromkeys(value))


def check_inline_jwks(jwks: Any, algorithms: list[str]) -> dict[str, Any]:
    """An inline JWKS: public keys only, every key fit to verify (shared.jwk's policy),
    kids when several, at least one key for an allowed algorithm."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise FederationError('jwks must be a JWK Set {"keys": [...]}')
    entries = checked_entries(jwks, FederationError, MAX_ISSUER_KEYS, MAX_INLINE_JWKS_BYTES)
    keys = usable_keys(jwks, FederationError)
    if not any(key.alg in algorithms for key in keys.keys):
        raise FederationError("no key of jwks signs with one of the algorithms")
    return {"keys": [dict(entry) for entry in entries]}


def check_jwks_uri(value: Any, policy: UriPolicy) -> str:
    if type(value) is not str or not 0 < len(value) <= URI_LENGTH:
        raise FederationError(f"jwks_uri must be a URL of at most {URI_LENGTH} characters")
    try:
        policy.check_uri(value)
    except UriRefused as exc:
        raise FederationError(str(exc)) from None
    return value


@dataclass(frozen=True)
class IssuerFields:
    issuer: str
    jwks_uri: str | None
    jwks: dict[str, Any] | None
    algorithms: list[str]
    audience: str | None
    max_token_age: int
    allow_reuse: bool


def check_fields(
    fields: Mapping[str, Any], policy: UriPolicy, own_issuer: str | None = None
) -> IssuerFields:
    """The rules for a trusted issuer as a whole (create, and update's merged result)."""
    issuer = _check_issuer(fields.get("issuer"), own_issuer)
    algorithms = _check_algorithms(fields.get("algorithms", list(DEFAULT_ALGORITHMS)))
    jwks_uri, jwks = fields.get("jwks_uri"), fields.get("jwks")
    if (jwks_uri is None) == (jwks is None):
        raise FederationError("give exactly one of jwks_uri and jwks")
    audience = fields.get("audience")
    if audience is not None and (type(audience) is not str or not 0 < len(audience)
                                 <= ISSUER_LENGTH or has_control_character(audience)):
        raise FederationError(f"audience must be a string of 1 to {ISSUER_LENGTH} characters, "
                              "no control characters")
    age = fields.get("max_token_age", DEFAULT_MAX_TOKEN_AGE)
    if type(age) is not int or not MIN_MAX_TOKEN_AGE <= age <= MAX_MAX_TOKEN_AGE:
        raise FederationError(
            f"max_token_age must be {MIN_MAX_TOKEN_AGE} to {MAX_MAX_TOKEN_AGE} seconds"
        )
    reuse = fields.get("allow_reuse", False)
    if type(reuse) is not bool:
        raise FederationError("allow_reuse must be true or false")
    return IssuerFields(
        issuer=issuer,
        jwks_uri=check_jwks_uri(jwks_uri, policy) if jwks_uri is not None else None,
        jwks=check_inline_jwks(jwks, algorithms) if jwks is not None else None,
        algorithms=algorithms,
        audience=audience,
        max_token_age=age,
        allow_reuse=reuse,
    )


def _public(row: TrustedIssuer) -> dict[str, Any]:
    """What an audit record says about a trusted issuer (keys by name only)."""
    return {
        "issuer": row.issuer,
        "jwks_uri": row.jwks_uri,
        "jwks": key_ids(row.jwks),
        "algorithms": list(row.algorithms),
        "audience": row.audience,
        "max_token_age": row.max_token_age,
        "allow_reuse": row.allow_reuse,
    }


def trusted_issuer_view(row: TrustedIssuer, token_endpoint: str) -> dict[str, Any]:
    """The admin API's and the CLI's view; `audience` is the one checked (the default
    shown as our token endpoint URL, `audience_default` saying so)."""
    return {
        "id": row.id,
        "issuer": row.issuer,
        **({"jwks_uri": row.jwks_uri} if row.jwks_uri is not None else {}),
        **({"jwks": row.jwks} if row.jwks is not None else {}),
        "algorithms": list(row.algorithms),
        "audience": row.audience if row.audience is not None else token_endpoint,
        "audience_default": row.audience is None,
        "max_token_age": row.max_token_age,
        "allow_reuse": row.allow_reuse,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def get_trusted_issuer(session: Session, key: str) -> TrustedIssuer | None:
    """By id (`ti_...`), or by its exact `issuer` (the CLI takes either)."""
    row = session.get(TrustedIssuer, key) if could_be_trusted_issuer_id(key) else None
    if row is None:
        row = session.scalars(select(TrustedIssuer).where(TrustedIssuer.issuer == key)).first()
    return row


def add(
    session: Session,
    fields: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    policy: UriPolicy,
    own_issuer: str | None = None,
) -> TrustedIssuer:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise FederationError(f"unknown fields: {', '.join(sorted(unknown))}")
    checked = check_fields(fields, policy, own_issuer)
    if session.scalars(
        select(TrustedIssuer.id).where(TrustedIssuer.issuer == checked.issuer)
    ).first():
        raise Conflict(f"issuer {checked.issuer!r} is already trusted")
    row = TrustedIssuer(id=new_trusted_issuer_id(), created_at=now, updated_at=now,
                        **checked.__dict__)
    session.add(row)
    record(session, actor, "trusted_issuer.create", row.id, _public(row), now=now)
    _commit(session, f"issuer {checked.issuer!r} is already trusted")
    return row


def update(
    session: Session,
    row: TrustedIssuer,
    fields: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    policy: UriPolicy,
) -> TrustedIssuer:
    """Absent fields keep their value; `issuer` cannot change (remove and add: the
    identities registered under it were vetted for that issuer). Giving `jwks_uri`
    drops the inline `jwks` and the reverse; `audience: null` returns to the default."""
    if "issuer" in fields and fields["issuer"] != row.issuer:
        raise FederationError("issuer cannot change: remove the trusted issuer and add it again")
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise FederationError(f"unknown fields: {', '.join(sorted(unknown))}")
    if fields.get("jwks_uri") is not None and fields.get("jwks") is not None:
        raise FederationError("give exactly one of jwks_uri and jwks")
    merged: dict[str, Any] = {name: getattr(row, name) for name in FIELDS}
    merged.update({k: v for k, v in fields.items() if k != "issuer"})
    if fields.get("jwks_uri") is not None:
        merged["jwks"] = None
    elif fields.get("jwks") is not None:
        merged["jwks_uri"] = None
    checked = check_fields(merged, policy)
    if all(getattr(row, name) == getattr(checked, name) for name in UPDATABLE):
        return row  # nothing changed: no write, no record
    before = _public(row)
    for name in UPDATABLE:
        setattr(row, name, getattr(checked, name))
    after = _public(row)
    diff = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
    if not diff:  # the same key names, other keys
        diff["jwks"] = {"from": before["jwks"], "to": after["jwks"]}
    row.updated_at = now
    record(session, actor, "trusted_issuer.update", row.id, diff, now=now)
    session.commit()
    return row


def remove(session: Session, row: TrustedIssuer, actor: Actor, now: datetime) -> None:
    """Refused while federated identities name the issuer: remove or change those
    clients first (a client left with no way to authenticate is a silent outage)."""
    users = session.scalar(
        select(func.count()).select_from(FederatedIdentity)
        .where(FederatedIdentity.issuer == row.issuer)
    ) or 0
    if users:
        raise Conflict(
            f"issuer {row.issuer!r} is named by {users} federated identit"
            f"{'y' if users == 1 else 'ies'}: change or delete those clients first"
        )
    record(session, actor, "trusted_issuer.delete", row.id, {"issuer": row.issuer}, now=now)
    session.delete(row)
    _commit(session, f"issuer {row.issuer!r} is in use")


def _commit(session: Session, conflict: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        # A concurrent add of the same issuer, or an identity registered meanwhile.
        session.rollback()
        raise Conflict(conflict) from None


def trusted_issuer_page(
    session: Session, limit: int, after: tuple[datetime, str] | None = None
) -> list[TrustedIssuer]:
    """Oldest first, keyset-paged on (created_at, id), as the clients list is."""
    query = select(TrustedIssuer).order_by(TrustedIssuer.created_at, TrustedIssuer.id)
    if after is not None:
        created, key = after
        same_time = and_(TrustedIssuer.created_at == created, TrustedIssuer.id > key)
        query = query.where(or_(TrustedIssuer.created_at > created, same_time))
    return list(session.scalars(query.limit(limit)))


def trusted_issuer_position(row: TrustedIssuer) -> list[str]:
    """What a cursor holds to resume `trusted_issuer_page` after `row`."""
    return [row.created_at.isoformat(), row.id]
