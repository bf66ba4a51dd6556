"""DPoP proofs (RFC 9449): the checks of §4.3, one implementation for the issuer's token
endpoint and the authorizer.

`verify_proof` runs the §4.3 checks in the RFC's order and raises `TokenError` with a
`dpop_*` code naming the first that failed:

1. one well-formed compact JWS (`shared.jws` strict parsing, size bounded): `dpop_malformed`
2. `typ` is `dpop+jwt` (§4.2; explicit typing keeps an access token or an ID token from
   passing as a proof, RFC 8725 §3.11): `dpop_bad_typ`
3. `alg` asymmetric and allowed (never `none` or HS*: a proof signed with a shared secret
   proves nothing about a key pair), and it fits the key: `dpop_bad_alg`
4. `jwk` present and a PUBLIC key (§4.3 item 6: private members refused, the key policy
   of `shared.jwk`: RSA >= 2048 bits, points on the curve): `dpop_bad_key`
5. the signature verifies with that `jwk`: `dpop_bad_signature`
6. `jti`, `htm`, `htu`, `iat` present with their types: `dpop_malformed`
7. `htm` equals the request method (case-sensitive, RFC 9110 §9.1): `dpop_htm_mismatch`
8. `htu` equals the request URL ignoring query and fragment (§4.3 item 9), both sides
   normalised as §4.3 recommends (RFC 3986 §6.2.2 syntax-based, §6.2.3 scheme-based):
   `dpop_htu_mismatch`
9. `iat` within `[now - max_age - leeway, now + leeway]` (§11.1: a short window bounds
   how long a captured proof is useful and how long a `jti` must be remembered): `dpop_stale`
10. when the server demands a nonce (§8), the `nonce` claim equals it:
    `dpop_nonce_required` (absent) / `dpop_bad_nonce`
11. when a token is presented with the proof (§4.3 item 12, §7), `ath` equals
    base64url(SHA-256(token)): `dpop_ath_mismatch`
12. when the token is bound (`cnf.jkt`, §6.1), the proof's key thumbprint equals it:
    `dpop_key_mismatch`

Replay (§11.1: the same `jti` within the window) is the caller's: it needs a store whose
scope the caller knows (the issuer's database, one authorizer instance). `ReplayWindow`
is a bounded per-process store either may use; its refusal is `dpop_replay`.

`make_proof` signs a proof (the project's tests, the benchmark, the local walkthrough).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shared.b64 import b64url_encode
from shared.claims import is_number
from shared.errors import KeyRejected, TokenError
from shared.jose_names import DPOP_ALGS as DPOP_ALGS  # RFC 9449 §4.2 (re-exported)
from shared.jose_names import EC_CURVE_FOR_ALG, PRIVATE_JWK_MEMBERS
from shared.jwk import load_public_jwk, public_jwk, thumbprint
from shared.jws import encode_compact, parse_compact

DPOP_TYP = "dpop+jwt"
DEFAULT_MAX_AGE = 60.0
DEFAULT_LEEWAY = 5.0
MAX_JTI = 200  # the issuer's jti column width; a longer one is no proof a client made
_MAX_CLAIM = 2048  # htm/htu/nonce: a URL longer than this is not one we serve


@dataclass(frozen=True)
class DpopProof:
    """A verified proof: `jkt` is the RFC 7638 thumbprint of its `jwk` (the value a bound
    token carries as `cnf.jkt`, RFC 9449 §6.1)."""

    jkt: str
    jti: str
    iat: float
    htm: str
    htu: str
    nonce: str | None


def access_token_hash(access_token: str) -> str:
    """`ath` (RFC 9449 §4.2): base64url of SHA-256 of the token's ASCII bytes."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?[^#]*)?(?:#.*)?",
    re.DOTALL,
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalise_pct(match: re.Match[str]) -> str:
    # RFC 3986 §6.2.2.1-2: hex digits upper-case; an encoded unreserved character decoded.
    octet = int(match.group(1), 16)
    return chr(octet) if octet in _UNRESERVED else "%" + match.group(1).upper()


def normalise_htu(url: str) -> str | None:
    """The form `htu` and the request URL are compared in (RFC 9449 §4.3 item 9): query
    and fragment dropped; scheme and host lower-case; the scheme's default port dropped
    and an empty path made `/` (RFC 3986 §6.2.3); percent-encodings normalised (§6.2.2).
    Dot segments are NOT removed: the authorizer refuses such paths before matching a
    route, and comparing them literally can only refuse, never confuse two resources.
    None when `url` is not an absolute http(s) URL."""
    match = _URL.fullmatch(url) if len(url) <= _MAX_CLAIM else None
    if match is None:
        return None
    scheme = match.group("scheme").lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    authority = match.group("authority")
    if not authority or "@" in authority:  # userinfo: never part of a URL we serve
        return None
    if authority.startswith("["):  # an IPv6 literal (RFC 3986 §3.2.2)
        end = authority.find("]")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        host, _, port = authority.partition(":")
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    port = str(int(port)) if port else _DEFAULT_PORTS[scheme]  # "" or "0443": the default
    authority = host.lower() if port == _DEFAULT_PORTS[scheme] else f"{host.lower()}:{port}"
    path = _PCT.sub(_normalise_pct, match.group("path")) or "/"
    return f"{scheme}://{authority}{path}"


def _alg_fits(alg: str, jwk: dict[str, Any]) -> bool:
    kty = jwk.get("kty")
    if alg in ("RS256", "PS256"):
        return kty == "RSA"
    if alg in EC_CURVE_FOR_ALG:
        return kty == "EC" and jwk.get("crv") == EC_CURVE_FOR_ALG[alg]
    return alg == "EdDSA" and kty == "OKP" and jwk.get("crv") == "Ed25519"


def _string(claims: dict[str, Any], name: str, limit: int = _MAX_CLAIM) -> str:
    value = claims.get(name)
    if type(value) is not str or not value or len(value) > limit:
        raise TokenError("dpop_malformed", f"{name} missing, empty, too long or not a string")
    return value


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    max_age: float = DEFAULT_MAX_AGE,
    leeway: float = DEFAULT_LEEWAY,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonce: str | None = None,
) -> DpopProof:
    """The RFC 9449 §4.3 checks (module docstring) for a proof received with a request
    `method` to `url` (the public URL the client called); `TokenError` with a `dpop_*`
    code, else the verified proof. Replay is the caller's (`ReplayWindow`)."""
    try:
        header, claims, signing_input, signature = parse_compact(proof)
    except TokenError as exc:
        raise TokenError("dpop_malformed", exc.detail) from None
    if header.get("typ") != DPOP_TYP:
        raise TokenError("dpop_bad_typ", f"typ is not {DPOP_TYP}")
    if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood here
        raise TokenError("dpop_malformed", "crit header not supported")
    alg = header["alg"]  # a string: parse_compact checked it
    if alg not in DPOP_ALGS:
        raise TokenError("dpop_bad_alg", "alg is none, symmetric or not supported")
    jwk = header.get("jwk")
    if type(jwk) is not dict:
        raise TokenError("dpop_bad_key", "jwk header missing or not an object")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        # RFC 9449 §4.3 item 6. Do not echo the key: it is a leaked private key.
        raise TokenError("dpop_bad_key", "jwk carries private key members")
    if jwk.get("alg", alg) != alg or not _alg_fits(alg, jwk):
        raise TokenError("dpop_bad_alg", "alg does not fit the jwk")
    try:
        key = load_public_jwk({**jwk, "alg": alg})
        jkt = thumbprint(jwk)
    except KeyRejected as exc:
        raise TokenError("dpop_bad_key", exc.reason) from None
    if not key.verify(signing_input, signature):
        raise TokenError("dpop_bad_signature", "signature does not verify with the jwk")

    jti = _string(claims, "jti", MAX_JTI)
    htm = _string(claims, "htm")
    htu = _string(claims, "htu")
    iat = claims.get("iat")
    if not is_number(iat):
        raise TokenError("dpop_malformed", "iat missing or not a number")
    claimed_nonce = claims.get("nonce")
    if claimed_nonce is not None and type(claimed_nonce) is not str:
        raise TokenError("dpop_malformed", "nonce is not a string")

    if htm != method:
        raise TokenError("dpop_htm_mismatch", "htm is not the request method")
    expected_htu = normalise_htu(url)
    if expected_htu is None or normalise_htu(htu) != expected_htu:
        raise TokenError("dpop_htu_mismatch", "htu is not the request URL")
    if not now - max_age - leeway <= iat <= now + leeway:
        raise TokenError("dpop_stale", "iat outside the accepted window")
    if nonce is not None:
        if claimed_nonce is None:
            raise TokenError("dpop_nonce_required", "the server requires a nonce")
        if not secrets.compare_digest(claimed_nonce.encode(), nonce.encode()):
            raise TokenError("dpop_bad_nonce", "nonce is not the server's")
    if access_token is not None:
        ath = claims.get("ath")
        if type(ath) is not str or ath != access_token_hash(access_token):
            raise TokenError("dpop_ath_mismatch", "ath is not the hash of the access token")
    if expected_jkt is not None and jkt != expected_jkt:
        raise TokenError("dpop_key_mismatch", "proof key is not the token's cnf.jkt")
    return DpopProof(jkt=jkt, jti=jti, iat=float(iat), htm=htm, htu=htu, nonce=claimed_nonce)


class ReplayWindow:
    """The `jti`s seen within the window, per process (RFC 9449 §11.1). Keyed by
    (jkt, jti): two clients' random jtis never collide, and one client cannot burn
    another's. Each entry lives until the proof's iat + max_age + leeway, after which
    `verify_proof` refuses the proof as stale anyway. Bounded: past `capacity` the
    oldest entry is dropped; a replay then passes only after `capacity` newer proofs
    were seen within one window on this instance (documented in docs/caching.md)."""

    __slots__ = ("_seen", "capacity", "leeway", "max_age")

    def __init__(
        self,
        capacity: int = 10_000,
        max_age: float = DEFAULT_MAX_AGE,
        leeway: float = DEFAULT_LEEWAY,
    ) -> None:
        self.capacity = capacity
        self.max_age = max_age
        self.leeway = leeway
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_remember(self, proof: DpopProof, now: float) -> None:
        """`TokenError("dpop_replay")` if this (jkt, jti) is held, else hold it."""
        seen = self._seen
        # Expire from the front: entries are appended in arrival order, and an entry's
        # expiry is at most now + max_age + 2 * leeway, so a sweep of the stale front is
        # enough (an out-of-order later expiry only keeps an entry longer: safe).
        while seen:
            first_key, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[first_key]
        key = (proof.jkt, proof.jti)
        held = seen.get(key)
        if held is not None and held > now:
            raise TokenError("dpop_replay", "jti already seen within the window")
        seen[key] = proof.iat + self.max_age + self.leeway
        seen.move_to_end(key)
        while len(seen) > self.capacity:
            seen.popitem(last=False)


def make_proof(
    private_key: object,
    alg: str,
    *,
    method: str,
    url: str,
    iat: float,
    jti: str | None = None,
    access_token: str | None = None,
    nonce: str | None = None,
    extra_header: dict[str, Any] | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A DPoP proof signed by `private_key` (RFC 9449 §4.2), with its public JWK."""
    jwk = public_jwk(private_key, alg)
    for member in ("kid", "use", "alg"):
        jwk.pop(member, None)
    header: dict[str, Any] = {"typ": DPOP_TYP, "jwk": jwk, **(extra_header or {})}
    claims: dict[str, Any] = {
        "jti": jti if jti is not None else secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(iat),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(extra_claims or {})
    return encode_compact(header, claims, private_key, alg)


def jwk_thumbprint(private_key: object, alg: str) -> str:
    """The `jkt` of the key `make_proof` publishes for `private_key`: the RFC 7638
    thumbprint `public_jwk` already made its `kid`."""
    kid: str = public_jwk(private_key, alg)["kid"]
    return kid
