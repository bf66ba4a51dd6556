"""The signed revocation list: the one contract between the issuer that publishes it
(`issuer/oauth/revocation.py`, `GET /.well-known/revocations.jwt`) and the verifiers
that adopt it (`authorizer/revocation.py`). docs/revocation.md describes it for operators.

A compact JWS, header `typ: revocation-list+jwt` (explicit typing, RFC 8725 §3.11: no
access token or other JWT of the issuer can pass for a list), signed by a key of the
issuer's JWKS; claims:
- `iss`: the issuer; `iat`, `exp`: NumericDates (RFC 7519 §2), a verifier adopts the
  list only between them, so a stale copy replayed from a cache cannot roll revocations
  back;
- `seq`: a non-negative integer that grows with every revocation; a verifier adopts only
  a list with a strictly higher `seq` than the one it holds;
- `jtis`: `{jti: exp of that token}`, tokens revoked one by one (RFC 7009);
- `clients`: `{client_key(client_id): generation}`, client-wide revocations: a token of
  that client whose generation claim (`gen`, absent: 0) is below it is revoked.

Client ids are not published in clear: `clients` is keyed by `client_key`, the SHA-256 of
the id cut to 128 bits (base64url, 22 characters). A plain hash suffices because the
issuer makes every id itself from 128 random bits (`issuer.clients.registry.new_client_id`):
nobody can find a listed id by hashing guesses, and whoever already holds an id (it is in
each of that client's tokens) learns from its key only what presenting such a token to
the API tells them. A keyed hash would need a secret in every verifier for no gain with
such ids. 128 bits keep an accidental collision (which would only revoke another client's
tokens, never let a revoked one pass) out of reach for any number of clients.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from shared.b64 import b64url_encode
from shared.errors import TokenError

if TYPE_CHECKING:  # the verifier's side imports the JWS code when it runs (see below)
    from shared.verify import KeyLookup

TYP = "revocation-list+jwt"
# Claim names (the header's `typ` above; `kid` and `alg` as for any JWS).
ISS, IAT, EXP, SEQ, JTIS, CLIENTS = "iss", "iat", "exp", "seq", "jtis", "clients"
# The access-token claim naming the client generation it was minted from (a private
# claim, RFC 7519 §4.3); absent means 0.
GENERATION_CLAIM = "gen"
# ~25 000 revoked tokens; a bigger body is not our list (the issuer keeps its list far
# below: issuer/oauth/revocation.py MAX_LISTED_JTIS).
MAX_LIST_BYTES = 1024 * 1024
CLIENT_KEY_BYTES = 16  # of the SHA-256: 128 bits, 22 base64url characters
_CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]\Z")  # canonical 16 bytes, RFC 4648 §3.5


def client_key(client_id: str) -> str:
    """How the list names a client: base64url of SHA-256(id) cut to 128 bits."""
    digest = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).digest()
    return b64url_encode(digest[:CLIENT_KEY_BYTES])


def token_generation(claims: Mapping[str, Any]) -> int:
    """A verified token's client generation: its `gen` claim, 0 when absent (or not an
    integer, which the issuer never mints: such a token is treated as the oldest)."""
    gen = claims.get(GENERATION_CLAIM, 0)
    return gen if type(gen) is int else 0


def list_claims(
    *,
    issuer: str,
    iat: int,
    exp: int,
    seq: int,
    jtis: Mapping[str, float],
    client_generations: Mapping[str, int],
) -> dict[str, Any]:
    """The claims of a list (the issuer signs them): client ids become `client_key`s."""
    return {
        ISS: issuer,
        IAT: iat,
        EXP: exp,
        SEQ: seq,
        JTIS: dict(jtis),
        CLIENTS: {client_key(cid): gen for cid, gen in client_generations.items()},
    }


class VerifiedRevocationList:
    """A list a verifier adopted: `jtis` and `clients` (keyed by `client_key`) as plain
    dicts for the hot path."""

    __slots__ = ("clients", "exp", "iat", "jtis", "seq")

    def __init__(
        self, iat: float, exp: float, seq: int, jtis: dict[str, float], clients: dict[str, int]
    ) -> None:
        self.iat = iat
        self.exp = exp
        self.seq = seq
        self.jtis = jtis
        self.clients = clients


_V = TypeVar("_V")


def _string_to(
    value: object, name: str, key: Callable[[str], bool], check: Callable[[object], TypeGuard[_V]]
) -> dict[str, _V]:
    if type(value) is not dict or not all(
        type(k) is str and key(k) and check(v) for k, v in value.items()
    ):
        raise TokenError("bad_claim", f"{name} is not an object of the expected values")
    return value


def _is_count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0  # bool is not int here: type() is exact


def _any_key(_key: str) -> bool:
    return True


def _is_client_key(key: str) -> bool:
    # A list naming clients in clear (an issuer from before client keys) is refused, not
    # read as naming nobody: its client-wide revocations would silently not apply.
    return _CLIENT_KEY.match(key) is not None


def parse_revocation_list(
    body: bytes | str, key_lookup: KeyLookup, issuer: str, now: float, leeway: float = 0
) -> VerifiedRevocationList:
    """The verified list, or `TokenError` saying why it must not be adopted: structure
    as for tokens up to `MAX_LIST_BYTES` (duplicate keys, NaN refused), `typ` exactly
    ours, no `crit`, a signature by a key of `key_lookup` chosen by `kid` (algorithm from
    the key: `none`, HS* and foreign keys refused), `iss` exact, `exp` not passed and
    `iat` not in the future (within `leeway`), `seq` a non-negative integer, `jtis`
    strings to NumericDates, `clients` client keys to non-negative integers. Whether
    `seq` is newer than a held list's is the holder's decision."""
    # Imported here, not with the module: the issuer reads this module for the names and
    # `list_claims` on every token's path and never parses a list (a verifier has these
    # modules loaded already).
    from shared.claims import is_number
    from shared.jws import parse_compact
    from shared.verify import verify_signature

    try:
        text = body.decode("ascii") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise TokenError("malformed", "revocation list is not ASCII") from None
    jws = parse_compact(text.strip(), max_bytes=MAX_LIST_BYTES)
    header = jws.header
    if "crit" in header:
        raise TokenError("crit_unsupported", "crit header present")
    typ = header.get("typ")
    # Media type names compare case-insensitively (RFC 7515 §4.1.9, RFC 2045 §5.1).
    if type(typ) is not str or typ.lower() != TYP:
        raise TokenError("wrong_typ", f"typ is not {TYP}")
    verify_signature(jws, key_lookup)
    claims = jws.claims
    if claims.get(ISS) != issuer:
        raise TokenError("wrong_issuer", "iss is not the configured issuer")
    iat, exp, seq = claims.get(IAT), claims.get(EXP), claims.get(SEQ)
    if not is_number(iat) or not is_number(exp):
        raise TokenError("bad_claim", "iat and exp must be numbers")
    if not _is_count(seq):
        raise TokenError("bad_claim", "seq must be a non-negative integer")
    if now >= exp + leeway:
        raise TokenError("expired", "revocation list expired")
    if iat > now + leeway:
        raise TokenError("not_yet_valid", "revocation list iat in the future")
    jtis = _string_to(claims.get(JTIS, {}), JTIS, _any_key, is_number)
    clients = _string_to(claims.get(CLIENTS, {}), CLIENTS, _is_client_key, _is_count)
    return VerifiedRevocationList(iat, exp, seq, jtis, clients)
