"""Clients: server-made ids and secrets, HMAC-SHA-256 secret hashes, registration rules.

Secrets are 256-bit random values, not passwords, so a keyed hash (HMAC under a data key
sealed under the KEK) is enough and fast; a slow password hash would only hand attackers
a cheap denial of service on the token endpoint. Ids and secrets use only RFC 3986
unreserved characters so Basic authentication reads the same whether or not a client
form-urlencodes them (RFC 6749 §2.3.1).

The token endpoint imports this module (the hasher, the id shape, the method names); a
client's keys and certificates are checked by `client_keys.py`, which registration
imports when it needs it, and the ORM class `Client` is imported by the functions that
make or read one (a cold start for a token maps no ORM class: issuer/store/tables.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography import x509
from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord
from issuer.oauth.scopes import PolicyView
from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME
from issuer.store.tables import CLIENT_ID_LENGTH, CLIENT_NAME_LENGTH, SUBJECT_DN_LENGTH, utcnow
from shared.scope import ADMIN_SCOPE, is_scope_token

if TYPE_CHECKING:
    from issuer.store.models import Client

CLIENT_CREDENTIALS = "client_credentials"
CLIENT_SECRET = "client_secret"  # noqa: S105 (a method name: client_secret_basic/_post)
PRIVATE_KEY_JWT = "private_key_jwt"  # RFC 7523 §2.2: assertions signed with `jwks` keys
# RFC 8705 §2: the client authenticates with the certificate of its mutual-TLS connection,
# known by its registered certificates (`jwks` keys with `x5c`, §2.2) or by the subject DN
# of a certificate the TLS terminator already validated against its truststore (§2.1).
SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"
TLS_CLIENT_AUTH = "tls_client_auth"
MTLS_AUTH_METHODS = (SELF_SIGNED_TLS_CLIENT_AUTH, TLS_CLIENT_AUTH)
# Workload identity federation (docs/federation.md): no secret, no key; a trusted
# issuer's token for one of its `federated_identities` (issuer/federation/identities.py).
FEDERATED = "federated"
AUTH_METHODS = (CLIENT_SECRET, PRIVATE_KEY_JWT, *MTLS_AUTH_METHODS, FEDERATED)
# What a client's tokens are bound to (its `cnf` claim): nothing (bearer), the
# certificate of the token request (RFC 8705 §3, `x5t#S256`), or the key of a DPoP proof
# (RFC 9449 §6, `jkt`). Any authentication method may take any binding.
NO_BINDING = "none"
MTLS_BINDING = "mtls"
DPOP_BINDING = "dpop"
TOKEN_BINDINGS = (NO_BINDING, MTLS_BINDING, DPOP_BINDING)


def new_client_id() -> str:
    return "c_" + secrets.token_urlsafe(16)


# Server-made ids are unreserved characters (RFC 3986 §2.3); a claimed id of any other
# shape cannot exist, so authentication need not look it up.
_CLIENT_ID_SHAPE = re.compile(rf"[A-Za-z0-9._~-]{{1,{CLIENT_ID_LENGTH}}}\Z")


def could_be_client_id(value: str) -> bool:
    return _CLIENT_ID_SHAPE.match(value) is not None


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits, base64url: unreserved characters only


class SecretHasher:
    """`key`: the HMAC key, or a function reading it (the data key stored sealed under
    the KEK, issuer/keys/kek_check.py), called once, at the first hash."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        self._key = key
        self._keyed: Any = None
        self._dummy = ""
        if isinstance(key, bytes):
            self._load()

    def _load(self) -> Any:
        key = self._key if isinstance(self._key, bytes) else self._key()
        # The keyed state (both pads hashed) made once; each hash copies it, which skips
        # the key schedule a new HMAC pays (a third of the hash, on every token request).
        keyed = hmac.new(key, digestmod=hashlib.sha256)
        # Compared against for unknown clients so they cost what a known one costs (timing).
        dummy = keyed.copy()
        dummy.update(secrets.token_urlsafe(32).encode())
        self._dummy = dummy.hexdigest()
        self._keyed = keyed
        return keyed

    def hash(self, secret: str) -> str:
        keyed = self._keyed if self._keyed is not None else self._load()
        mac = keyed.copy()
        mac.update(secret.encode("utf-8"))
        return mac.hexdigest()

    def verify(
        self, client: ClientRecord | None, presented: str, now: datetime | None = None
    ) -> bool:
        """Constant-time check against the current and (in its grace period) previous
        secret; with `client=None` the same work is done against a dummy hash."""
        digest = self.hash(presented)
        if client is None:
            hmac.compare_digest(digest, self._dummy)
            return False
        now = now or utcnow()
        ok = client.secret_hash is not None and hmac.compare_digest(digest, client.secret_hash)
        previous = client.previous_secret_hash
        until = client.previous_secret_valid_until
        if previous is not None and until is not None and until > now:
            ok = hmac.compare_digest(digest, previous) or ok
        return ok


class ClientError(ValueError):
    """A registration that breaks a rule; the message says which."""


def has_control_character(text: str) -> bool:
    """C0 controls and DEL: never in a name or identifier stored here (PostgreSQL refuses
    NUL outright, a 503 where the rule is a 422; the rest would garble a page or a log)."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


class NewClient(NamedTuple):
    client: Client
    client_secret: str | None  # None unless auth_method is client_secret: no secret

    def view(self) -> dict[str, Any]:
        """`client_view`, and the secret if it has one: the answer to its creation, the
        only one that ever shows the secret."""
        view = client_view(self.client)
        if self.client_secret is not None:
            view["client_secret"] = self.client_secret
        return view


def _check_scopes(scopes: Sequence[str], policy: PolicyView) -> list[str]:
    if not scopes:
        raise ClientError("at least one scope is required")
    declared = set(policy.scopes_supported) | {ADMIN_SCOPE}
    for scope in scopes:
        if not is_scope_token(scope):
            raise ClientError(f"scope {scope!r} is not an RFC 6749 §3.3 scope token")
        if scope not in declared:
            raise ClientError(f"scope {scope!r} is not declared in the policy")
    return list(dict.fromkeys(scopes))


def _resolve_audiences(
    scopes: Sequence[str], audiences: Sequence[str] | None, policy: PolicyView
) -> list[str]:
    api_scope_list = [s for s in scopes if s != ADMIN_SCOPE]
    if not audiences:
        # Derived from the scopes, in their order: the first scope's API is the default.
        derived = []
        for scope in api_scope_list:
            api = policy.api_for_scope(scope)
            if api is not None:
                derived.append(api.audience)
        return list(dict.fromkeys(derived))
    audiences = list(dict.fromkeys(audiences))
    for aud in audiences:
        if policy.api_for_audience(aud) is None:
            raise ClientError(f"audience {aud!r} is not an API in the policy")
    for scope in api_scope_list:
        api = policy.api_for_scope(scope)
        if api is None or api.audience not in audiences:
            raise ClientError(f"scope {scope!r} belongs to no API among the client's audiences")
    return audiences


class ClientFields(NamedTuple):
    """Registration values that passed every rule, normalised (duplicates dropped)."""

    name: str
    scopes: list[str]
    audiences: list[str]
    default_scopes: list[str]
    token_lifetime: int | None


def check_client_fields(
    policy: PolicyView,
    *,
    name: str,
    scopes: Sequence[str],
    audiences: Sequence[str] | None = None,
    default_scopes: Sequence[str] | None = None,
    token_lifetime: int | None = None,
) -> ClientFields:
    """The rules for a client's fields, shared by registration and update; `ClientError`
    names the offending value. Absent audiences are derived from the scopes' APIs, absent
    default scopes are all the scopes."""
    name = name.strip()
    if not name or len(name) > CLIENT_NAME_LENGTH or has_control_character(name):
        raise ClientError(
            f"name must be 1 to {CLIENT_NAME_LENGTH} characters, no control characters"
        )
    scope_list = _check_scopes(scopes, policy)
    audience_list = _resolve_audiences(scope_list, audiences, policy)
    defaults = list(dict.fromkeys(default_scopes)) if default_scopes else scope_list
    for scope in defaults:
        if scope not in scope_list:
            raise ClientError(f"default scope {scope!r} is not among the client's scopes")
    if token_lifetime is not None and not (
        MIN_TOKEN_LIFETIME <= token_lifetime <= MAX_TOKEN_LIFETIME
    ):
        raise ClientError(
            f"token lifetime must be {MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME} seconds"
        )
    return ClientFields(name, scope_list, audience_list, defaults, token_lifetime)


def new_client(
    session: Session,
    hasher: SecretHasher,
    policy: PolicyView,
    *,
    now: datetime | None = None,
    auth_method: str = CLIENT_SECRET,
    jwks: dict[str, Any] | None = None,
    tls_client_auth_subject_dn: str | None = None,
    token_binding: str = NO_BINDING,
    **fields: Any,
) -> NewClient:
    """A checked client added to `session`, not committed (the caller commits it with its
    audit record). The secret exists only in the returned value, never in the row."""
    federated_identities = fields.pop("federated_identities", None)
    checked = check_client_fields(policy, **fields)
    jwks = check_auth_method(auth_method, jwks)
    # Imported here: issuer/federation/ builds on this module; `Client`: module docstring.
    from issuer.federation.identities import check_identities, set_identities
    from issuer.store.models import Client

    identities = check_identities(session, auth_method, federated_identities)
    subject_dn = check_subject_dn(auth_method, tls_client_auth_subject_dn)
    token_binding = check_token_binding(token_binding)
    now = now or utcnow()
    secret = new_client_secret() if auth_method == CLIENT_SECRET else None
    client = Client(
        client_id=new_client_id(),
        name=checked.name,
        scopes=checked.scopes,
        default_scopes=checked.default_scopes,
        audiences=checked.audiences,
        grant_types=[CLIENT_CREDENTIALS],
        token_lifetime=checked.token_lifetime,
        enabled=True,
        auth_method=auth_method,
        jwks=jwks,
        tls_client_auth_subject_dn=subject_dn,
        token_binding=token_binding,
        secret_hash=hasher.hash(secret) if secret is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(client)
    if identities:
        set_identities(session, client.client_id, (), identities)
    return NewClient(client=client, client_secret=secret)


def create_client(
    session: Session, hasher: SecretHasher, policy: PolicyView, **fields: Any
) -> NewClient:
    """`new_client` (same fields) committed, without an audit record: for fixtures and
    benchmarks. Admin changes go through `issuer/clients/admin.py`, which audits them."""
    new = new_client(session, hasher, policy, **fields)
    session.commit()
    return new


def check_token_binding(token_binding: Any) -> str:
    if token_binding not in TOKEN_BINDINGS:
        raise ClientError(f"token_binding must be one of {', '.join(TOKEN_BINDINGS)}")
    return str(token_binding)


def check_auth_method(auth_method: str, jwks: Any) -> dict[str, Any] | None:
    """A secret or tls_client_auth client has no keys; a private_key_jwt client has a
    public JWKS whose every key is fit to verify assertions (shared.jwk's rules), with
    kids when there are several (the assertion's `kid` picks one; RFC 7515 §4.1.4); a
    self_signed_tls_client_auth client registers its certificates, each as a key with
    `x5c` (`check_certificate_jwks`). Returns the JWKS to store, or raises `ClientError`."""
    if auth_method not in AUTH_METHODS:
        raise ClientError(f"auth_method must be one of {', '.join(AUTH_METHODS)}")
    if auth_method == FEDERATED:
        if jwks is not None:
            raise ClientError("jwks is not for auth_method federated: give federated_identities")
        return None
    if auth_method in (CLIENT_SECRET, TLS_CLIENT_AUTH):
        if jwks is not None:
            raise ClientError(
                f"jwks is only for auth_method {PRIVATE_KEY_JWT} or "
                f"{SELF_SIGNED_TLS_CLIENT_AUTH}"
            )
        return None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ClientError(f'{auth_method} needs jwks: a JWK Set {{"keys": [...]}}')
    # Imported here: registration only (the token endpoint imports this module).
    from issuer.clients.client_keys import check_certificate_jwks, checked_entries, usable_keys

    if auth_method == SELF_SIGNED_TLS_CLIENT_AUTH:
        return check_certificate_jwks(jwks)
    entries = checked_entries(jwks)
    usable_keys(jwks)
    return {"keys": [dict(entry) for entry in entries]}


def normalise_subject_dn(text: str) -> str:
    """An RFC 4514 distinguished name as `shared.mtls.subject_dn` writes a certificate's
    subject: parsed, then written back, so the stored value compares exactly. Raises
    `ClientError` for a string that is not one."""
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError:
        name = None
    if name is None or not len(name):
        raise ClientError(
            "tls_client_auth_subject_dn must be an RFC 4514 distinguished name such as "
            "CN=orders-batch,O=Example Corp,C=US (no space after a comma; attribute "
            "names CN, O, OU, C, L, ST, DC, UID or dotted OIDs)"
        )
    return name.rfc4514_string()


def check_subject_dn(auth_method: str, subject_dn: Any) -> str | None:
    """RFC 8705 §2.1.2: a tls_client_auth client is known by the subject DN of its
    certificate (the chain having been validated by the TLS terminator's truststore);
    no other method has one."""
    if auth_method != TLS_CLIENT_AUTH:
        if subject_dn is not None:
            raise ClientError(
                f"tls_client_auth_subject_dn is only for auth_method {TLS_CLIENT_AUTH}"
            )
        return None
    if not isinstance(subject_dn, str) or not subject_dn.strip():
        raise ClientError(f"{TLS_CLIENT_AUTH} needs tls_client_auth_subject_dn")
    if len(subject_dn) > SUBJECT_DN_LENGTH:
        raise ClientError(f"tls_client_auth_subject_dn longer than {SUBJECT_DN_LENGTH} characters")
    normalised = normalise_subject_dn(subject_dn.strip())
    if len(normalised) > SUBJECT_DN_LENGTH:
        raise ClientError(f"tls_client_auth_subject_dn longer than {SUBJECT_DN_LENGTH} characters")
    return normalised


def get_client(session: Session, client_id: str) -> Client | None:
    """None, unread, for an id of a shape never made (a path or form holding NUL would
    otherwise be a database error on PostgreSQL, not a 404)."""
    from issuer.store.models import Client  # module docstring

    return session.get(Client, client_id) if could_be_client_id(client_id) else None


def _session_of(client: Client) -> Session:
    session = Session.object_session(client)
    if session is None:
        raise ValueError(f"client {client.client_id} is not in a session")
    return session


def client_view(client: Client) -> dict[str, Any]:
    """What may be shown about a client: never a secret or its hash."""
    return client_views([client])[0]


def client_views(clients: Sequence[Client]) -> list[dict[str, Any]]:
    """`client_view` of each client of a page (one session). The federated ones' pairs
    are read in their session, in one query for the page rather than one each (`Client`
    has no relationship to them: issuer/store/tables.py)."""
    federated = [c.client_id for c in clients if c.auth_method == FEDERATED]
    if not federated:
        return [_view(c, None) for c in clients]
    # Imported here: issuer/federation/ builds on this module.
    from issuer.federation.identities import identities_of_clients, identity_views

    pairs = identities_of_clients(_session_of(clients[0]), federated)
    return [_view(c, identity_views(pairs.get(c.client_id, []))
                  if c.auth_method == FEDERATED else None)
            for c in clients]


def _view(client: Client, identities: list[dict[str, str]] | None) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "scopes": list(client.scopes),
        "default_scopes": list(client.default_scopes),
        "audiences": list(client.audiences),
        "grant_types": list(client.grant_types),
        "token_lifetime": client.token_lifetime,
        "enabled": client.enabled,
        "auth_method": client.auth_method,
        **({"jwks": client.jwks} if client.jwks is not None else {}),
        **(
            {"federated_identities": identities}
            if identities is not None
            else {}
        ),
        **(
            {"tls_client_auth_subject_dn": client.tls_client_auth_subject_dn}
            if client.tls_client_auth_subject_dn is not None
            else {}
        ),
        # What the client's tokens are bound to (none, mtls, dpop).
        "token_binding": client.token_binding or NO_BINDING,
        "created_at": client.created_at.isoformat(),
        "updated_at": client.updated_at.isoformat(),
    }


def audiences_for(client: ClientRecord, issuer_url: str) -> list[str]:
    """The audiences a client may ask for: its APIs, plus the issuer itself for admins."""
    auds = list(client.audiences)
    if ADMIN_SCOPE in client.scopes and issuer_url not in auds:
        auds.append(issuer_url)
    return auds


_ISSUER_SCOPES = frozenset({ADMIN_SCOPE})


def scopes_of_audience(aud: str, issuer_url: str, policy: PolicyView) -> Collection[str] | None:
    """The scopes the audience's API declares (membership tests only), None if no API."""
    if aud == issuer_url:
        return _ISSUER_SCOPES
    api = policy.api_for_audience(aud)
    return api.scopes if api is not None else None
