"""Admin changes to clients, each committed together with its audit record.

One function per admin verb, shared by the HTTP admin API and the CLI, so both apply the
same rules and leave the same trail. A function either commits the change and its record
or raises before committing anything (`ClientError`: a rule broken, nothing written).
The token endpoint reads clients through `cache.ClientCache`: a change committed
here drops the client's cached record in this process at once (ORM events, nothing to
call); other processes see it within ISSUER_CLIENT_CACHE_TTL (docs/design.md, "Caches").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from issuer.audit import Actor, record
from issuer.clients.client_keys import key_ids
from issuer.clients.registry import (
    CLIENT_SECRET,
    FEDERATED,
    PRIVATE_KEY_JWT,
    SELF_SIGNED_TLS_CLIENT_AUTH,
    ClientError,
    NewClient,
    SecretHasher,
    check_auth_method,
    check_client_fields,
    check_subject_dn,
    check_token_binding,
    new_client,
    new_client_secret,
)
from issuer.federation.identities import (
    check_identities,
    identities_of,
    identity_views,
    set_identities,
)
from issuer.oauth.revocation import revoke_client
from issuer.oauth.scopes import PolicyView
from issuer.store.models import Client

# Fields an admin may change (PATCH /admin/clients/{id}, plus a private_key_jwt client's
# public keys or a self_signed_tls_client_auth client's certificates, a tls_client_auth
# client's subject DN, and what tokens are bound to).
UPDATABLE = ("name", "scopes", "audiences", "default_scopes", "token_lifetime", "enabled",
             "jwks", "tls_client_auth_subject_dn", "token_binding",
             "federated_identities")  # a federated client's (issuer/federation/identities.py)


def _public(client: Client) -> dict[str, Any]:
    return {
        "name": client.name,
        "scopes": list(client.scopes),
        "audiences": list(client.audiences),
        "default_scopes": list(client.default_scopes),
        "token_lifetime": client.token_lifetime,
        "enabled": client.enabled,
        "token_binding": client.token_binding,
    }


def register(
    session: Session,
    hasher: SecretHasher,
    policy: PolicyView,
    actor: Actor,
    now: datetime,
    **fields: Any,
) -> NewClient:
    new = new_client(session, hasher, policy, now=now, **fields)
    changes = {**_public(new.client), "auth_method": new.client.auth_method}
    if new.client.auth_method == FEDERATED:
        changes["federated_identities"] = identity_views(
            identities_of(session, new.client.client_id))
    if new.client.tls_client_auth_subject_dn is not None:
        changes["tls_client_auth_subject_dn"] = new.client.tls_client_auth_subject_dn
    record(session, actor, "client.create", new.client.client_id, changes, now=now)
    session.commit()
    return new


def update(
    session: Session,
    policy: PolicyView,
    client: Client,
    fields: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    stale_for: int = 0,
) -> Client:
    """Apply the given fields (absent ones keep their value) after checking the result as
    a whole: new scopes must fit the (new or kept) audiences. Absent default scopes keep
    those still among the scopes, or become all of them if none is left."""
    unknown = set(fields) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    before = _public(client)
    scopes = list(fields.get("scopes", client.scopes))
    if "default_scopes" in fields:
        defaults = fields["default_scopes"]
    else:
        defaults = [s for s in client.default_scopes if s in scopes] or None
    audiences = fields["audiences"] if "audiences" in fields else client.audiences
    checked = check_client_fields(
        policy,
        name=fields.get("name", client.name),
        scopes=scopes,
        audiences=audiences or None,  # none given or kept: derived from the scopes
        default_scopes=defaults,
        token_lifetime=fields.get("token_lifetime", client.token_lifetime),
    )
    after = {
        "name": checked.name,
        "scopes": checked.scopes,
        "audiences": checked.audiences,
        "default_scopes": checked.default_scopes,
        "token_lifetime": checked.token_lifetime,
        "enabled": bool(fields.get("enabled", client.enabled)),
        "token_binding": check_token_binding(
            fields.get("token_binding", client.token_binding)
        ),
    }
    diff = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
    jwks = _checked_jwks(client, fields)
    if jwks != client.jwks:
        # Public keys, but the record names them (kid or RFC 7638 thumbprint), no more.
        diff["jwks"] = {"from": key_ids(client.jwks), "to": key_ids(jwks)}
    subject_dn = client.tls_client_auth_subject_dn
    if "tls_client_auth_subject_dn" in fields:
        subject_dn = check_subject_dn(client.auth_method, fields["tls_client_auth_subject_dn"])
    if subject_dn != client.tls_client_auth_subject_dn:
        diff["tls_client_auth_subject_dn"] = {
            "from": client.tls_client_auth_subject_dn, "to": subject_dn
        }
    if "federated_identities" in fields:
        wanted = check_identities(
            session, client.auth_method, fields["federated_identities"], client.client_id
        )
        held = identities_of(session, client.client_id)
        if set(wanted) != set(held):
            diff["federated_identities"] = {
                "from": identity_views(held), "to": identity_views(sorted(wanted))
            }
    if not diff:
        return client  # nothing changed: no write, no record
    for name, value in after.items():
        setattr(client, name, value)
    client.jwks = jwks
    client.tls_client_auth_subject_dn = subject_dn
    if "federated_identities" in diff:
        set_identities(session, client.client_id, held, wanted)
    client.updated_at = now
    action = "client.update"
    if set(diff) == {"enabled"}:
        action = "client.enable" if after["enabled"] else "client.disable"
    record(session, actor, action, client.client_id, diff, now=now)
    if "enabled" in diff and not after["enabled"]:
        # A disabled client's tokens stop working everywhere, not just at the token endpoint.
        revoke_client(session, client.client_id, "disabled", now, stale_for)
    session.commit()
    return client


def _checked_jwks(client: Client, fields: Mapping[str, Any]) -> Any:
    """The client's JWKS after the change: the new one checked as on create (every key
    fit to verify, no private member, kids when several), or the kept one. Tokens
    already issued stay valid: a key rotation is not a compromise (revoke those with
    disable, or delete)."""
    if "jwks" not in fields:
        return client.jwks
    if client.auth_method not in (PRIVATE_KEY_JWT, SELF_SIGNED_TLS_CLIENT_AUTH):
        raise ClientError(
            f"jwks is only for auth_method {PRIVATE_KEY_JWT} or {SELF_SIGNED_TLS_CLIENT_AUTH}"
        )
    return check_auth_method(client.auth_method, fields["jwks"])


@dataclass(frozen=True)
class SecretRotation:
    client_secret: str
    previous_secret_valid_until: datetime | None

    def view(self, client_id: str) -> dict[str, Any]:
        """The admin API's answer, and the CLI's: the new secret, shown this once."""
        until = self.previous_secret_valid_until
        return {
            "client_id": client_id,
            "client_secret": self.client_secret,
            "previous_secret_valid_until": until.isoformat() if until else None,
        }


def rotate_secret(
    session: Session,
    hasher: SecretHasher,
    client: Client,
    grace_seconds: int,
    actor: Actor,
    now: datetime,
    stale_for: int = 0,
) -> SecretRotation:
    """A new secret; the current one stays valid for `grace_seconds` (0: invalid at
    once). Only the current secret is kept as the previous one, so a second rotation
    within the grace period ends the older secret at once: never more than two valid."""
    if client.auth_method != CLIENT_SECRET:
        raise ClientError(f"this client authenticates with {client.auth_method}, not a secret")
    secret = new_client_secret()
    until = now + timedelta(seconds=grace_seconds) if grace_seconds > 0 else None
    client.previous_secret_hash = client.secret_hash if until is not None else None
    client.previous_secret_valid_until = until if client.previous_secret_hash else None
    client.secret_hash = hasher.hash(secret)
    client.updated_at = now
    valid_until = client.previous_secret_valid_until
    changes = {
        "grace_seconds": grace_seconds,
        "previous_valid_until": valid_until.isoformat() if valid_until else None,
    }
    record(session, actor, "client.rotate_secret", client.client_id, changes, now=now)
    if until is None:
        # No grace: the secret is presumed compromised, so are the tokens it obtained.
        revoke_client(session, client.client_id, "secret_rotated", now, stale_for)
    session.commit()
    return SecretRotation(client_secret=secret, previous_secret_valid_until=valid_until)


def delete(
    session: Session, client: Client, actor: Actor, now: datetime, stale_for: int = 0
) -> None:
    record(session, actor, "client.delete", client.client_id, {"name": client.name}, now=now)
    revoke_client(session, client.client_id, "deleted", now, stale_for)
    session.delete(client)
    session.commit()


def client_page(
    session: Session, limit: int, after: tuple[datetime, str] | None = None
) -> list[Client]:
    """Oldest first, keyset-paged on (created_at, client_id): stable while clients are
    added or deleted between pages, unlike an offset."""
    query = select(Client).order_by(Client.created_at, Client.client_id).limit(limit)
    if after is not None:
        created, cid = after
        same_time = and_(Client.created_at == created, Client.client_id > cid)
        query = query.where(or_(Client.created_at > created, same_time))
    return list(session.scalars(query))


def client_position(client: Client) -> list[str]:
    """What a cursor holds to resume `client_page` (and the console's search, in the same
    order) after `client`."""
    return [client.created_at.isoformat(), client.client_id]
