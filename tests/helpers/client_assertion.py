"""RFC 7523 client assertions for tests: a good one by default, any claim or header
member overridable (or dropped with `DROP`)."""

from __future__ import annotations

import uuid
from typing import Any

from helpers.mint import changed, sign_raw

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_assertion(
    private_key: Any,
    alg: str,
    client_id: str,
    audience: str | list[str],
    now: float,
    kid: str | None = None,
    header: dict | None = None,
    **claims: Any,
) -> str:
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": int(now),
        "exp": int(now) + 120,
        "jti": uuid.uuid4().hex,
    }
    changed(body, claims)
    head: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        head["kid"] = kid
    head.update(header or {})
    return sign_raw(private_key, alg, head, body)


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **extra,
    }
