"""Admin request bodies (JSON). Strict: unknown fields and wrong JSON types are refused
(422) rather than ignored or coerced ("3600" is not a number, "yes" not a boolean), so
a typo in a field name cannot pass for a successful change (docs/threat-model.md §3).

Whether scopes and audiences exist in the policy is checked afterwards by
`clients.check_client_fields` (also 422, naming the value); these models check shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from issuer.oauth.token_lifetime import MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME
from issuer.settings import MAX_SECRET_ROTATION_GRACE
from issuer.store.tables import CLIENT_NAME_LENGTH, SUBJECT_DN_LENGTH

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CLIENT_NAME_LENGTH)
]
ScopeName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Audience = Annotated[str, StringConstraints(min_length=1, max_length=500)]
ScopeList = Annotated[list[ScopeName], Field(min_length=1, max_length=100)]
AudienceList = Annotated[list[Audience], Field(max_length=20)]
Lifetime = Annotated[int, Field(ge=MIN_TOKEN_LIFETIME, le=MAX_TOKEN_LIFETIME)]
SubjectDn = Annotated[str, StringConstraints(min_length=1, max_length=SUBJECT_DN_LENGTH)]
# What the client's tokens are bound to: nothing, its TLS certificate (RFC 8705 §3) or
# the key of its DPoP proofs (RFC 9449, which then must come with every token request).
TokenBinding = Literal["none", "mtls", "dpop"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FederatedIdentity(Body):
    """An external identity a federated client is known by: a trusted issuer's exact
    `iss` and the workload's exact `sub` there (docs/federation.md)."""

    issuer: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]


IdentityList = Annotated[list[FederatedIdentity], Field(min_length=1, max_length=20)]


class ClientCreate(Body):
    name: Name
    scopes: ScopeList
    audiences: AudienceList | None = None
    default_scopes: ScopeList | None = None
    token_lifetime: Lifetime | None = None
    # private_key_jwt (RFC 7523) clients register a public JWKS instead of getting a
    # secret, self_signed_tls_client_auth clients (RFC 8705 §2.2) their certificates as
    # JWKs with x5c, tls_client_auth clients (§2.1) their certificate's subject DN;
    # `registry.check_auth_method`/`check_subject_dn` check them (422 naming the bad one).
    auth_method: Literal[
        "client_secret", "private_key_jwt", "self_signed_tls_client_auth", "tls_client_auth",
        "federated",
    ] = "client_secret"
    jwks: dict[str, Any] | None = None
    tls_client_auth_subject_dn: SubjectDn | None = None
    token_binding: TokenBinding = "none"  # noqa: S105 (a binding kind)
    # auth_method federated: the external identities that authenticate it (no secret,
    # no key); each issuer must be trusted, each pair free (409 if another client has it).
    federated_identities: IdentityList | None = None


class ClientUpdate(Body):
    """Only the fields present change. `token_lifetime: null` returns the client to the
    issuer's default; the other fields cannot be null."""

    name: Name | None = None
    scopes: ScopeList | None = None
    audiences: AudienceList | None = None
    default_scopes: ScopeList | None = None
    token_lifetime: Lifetime | None = None
    enabled: bool | None = None
    # private_key_jwt and self_signed_tls_client_auth clients only: replaces the
    # registered public keys (certificates), checked as on create. Rotating a client's
    # key: register old + new, switch the client, drop old.
    jwks: dict[str, Any] | None = None
    tls_client_auth_subject_dn: SubjectDn | None = None  # tls_client_auth clients only
    token_binding: TokenBinding | None = None

    federated_identities: IdentityList | None = None  # federated clients only: replaced

    @model_validator(mode="after")
    def _no_nulls(self) -> ClientUpdate:
        for name in self.model_fields_set - {"token_lifetime"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class SecretRotation(Body):
    # How long the current secret keeps working; default ISSUER_SECRET_ROTATION_GRACE.
    grace_seconds: Annotated[int, Field(ge=0, le=MAX_SECRET_ROTATION_GRACE)] | None = None
