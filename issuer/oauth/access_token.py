"""RFC 9068 JWT access tokens: the header and claims, signed with the active key."""

from __future__ import annotations

import secrets
import time
from typing import NamedTuple

import jwt

from issuer.keys.store import Signer
from issuer.oauth.revocation import GENERATION_CLAIM

# RFC 9068 §2.1: `typ` distinguishes access tokens from ID tokens and other JWTs.
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 (a media type, not a secret)


class AccessToken(NamedTuple):
    token: str
    jti: str
    iat: int
    exp: int


def mint_access_token(
    signer: Signer,
    *,
    issuer: str,
    client_id: str,
    audience: str,
    scope: str,
    lifetime: int,
    now: int | None = None,
    generation: int = 0,
    cnf: dict[str, str] | None = None,
    act: dict[str, str] | None = None,
) -> AccessToken:
    """`now` is the minting moment (never ahead: verifiers refuse an `iat` in the future);
    `generation` the client's revocation generation (issuer/oauth/revocation.py), carried as
    `gen` when the client has one; `cnf` the confirmation claim of a sender-constrained
    token (RFC 7800 §3.1): `{"x5t#S256": ...}` (RFC 8705 §3.1) or `{"jkt": ...}`
    (RFC 9449 §6.1)."""
    iat = int(time.time()) if now is None else now
    jti = secrets.token_urlsafe(16)
    header = {"alg": signer.alg, "typ": ACCESS_TOKEN_TYP, "kid": signer.kid}
    claims = {
        "iss": issuer,
        "sub": client_id,  # RFC 9068 §2.2: for client credentials, the client itself
        "aud": audience,
        "exp": iat + lifetime,
        "iat": iat,
        "jti": jti,
        "client_id": client_id,
        "scope": scope,
    }
    if generation:
        claims[GENERATION_CLAIM] = generation
    if cnf is not None:
        claims["cnf"] = cnf
    if act is not None:
        # RFC 8693 §4.1: the external identity a federated client authenticated with.
        claims["act"] = act
    # PyJWT signs (the verifiers are our own `shared.verify` and the authorizer's, so
    # every issuer-to-verifier test checks two implementations against each other).
    # `headers` replaces PyJWT's default `typ: JWT`; the header is exactly alg, typ, kid.
    token = jwt.encode(
        claims, signer.private_key, algorithm=signer.alg, headers=header, sort_headers=False
    )
    return AccessToken(token=token, jti=jti, iat=iat, exp=iat + lifetime)
