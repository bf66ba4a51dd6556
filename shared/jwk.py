"""JSON Web Keys (RFC 7517): published keys loaded for verification, RFC 7638
thumbprints, and the JWK the issuer publishes. Algorithms live in `shared.jwa`.

The algorithm comes from the key, never from the token (RFC 8725 §3.1, CVE-2016-10555):
a JWK's `alg` if published, else the single algorithm its type implies.
"""

from __future__ import annotations

import _thread
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from shared.b64 import b64url_decode, b64url_encode
from shared.errors import KeyRejected, KeySetError
from shared.jose_names import PRIVATE_JWK_MEMBERS as PRIVATE_JWK_MEMBERS  # (re-exported)
from shared.jwa import (
    ALG_FOR_CURVE,
    ALLOWED_ALGS,
    COORD_BYTES,
    CURVES,
    EC_CURVE_FOR_ALG,
    RSA_ALGS,
    VerifyingKey,
    verifier,
)
from shared.jws import strict_json  # jws imports nothing of this module
from shared.weak_keys import has_roca_fingerprint

_MIN_RSA_BITS = 2048
_MAX_RSA_BITS = 16384  # bounds the verify cost an attacker-published key could impose
_MIN_RSA_E = 65537  # FIPS 186-4 §B.3.1: 2^16 < e < 2^256, odd


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verification key with its one algorithm pinned."""

    kid: str | None
    alg: str
    kty: str
    key: VerifyingKey
    _check: Callable[[bytes, bytes], None] = field(repr=False, compare=False)

    @classmethod
    def from_key(cls, key: Any, alg: str, kid: str | None = None) -> PublicKey:
        """Wrap a key object the caller already trusts (the issuer's own key), skipping
        the JWK policy checks but not the alg/key-type fit (`KeyRejected`)."""
        if hasattr(key, "private_bytes"):
            key = key.public_key()
        kty = _public_members(key, alg)["kty"]
        crv = EC_CURVE_FOR_ALG.get(alg)
        return cls(kid=kid, alg=alg, kty=kty, key=key, _check=verifier(key, alg, crv))

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        try:
            self._check(signing_input, signature)
        except (InvalidSignature, ValueError, TypeError, OverflowError):
            return False
        return True


@overload
def _member(jwk: dict[str, Any], name: str, required: Literal[True] = True) -> str: ...
@overload
def _member(jwk: dict[str, Any], name: str, required: bool) -> str | None: ...
def _member(jwk: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = jwk.get(name)
    if value is None and not required and name not in jwk:
        return None
    if not isinstance(value, str):
        raise KeyRejected(f"member {name!r} missing or not a string")
    return value


def _b64_member(jwk: dict[str, Any], name: str) -> bytes:
    try:
        return b64url_decode(_member(jwk, name))
    except ValueError as exc:
        raise KeyRejected(f"member {name!r} is not base64url") from exc


def _load_rsa(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64_member(jwk, "n"), "big")
    e = int.from_bytes(_b64_member(jwk, "e"), "big")
    if not _MIN_RSA_BITS <= n.bit_length() <= _MAX_RSA_BITS:
        raise KeyRejected(f"RSA modulus of {n.bit_length()} bits")
    if e < _MIN_RSA_E or e % 2 == 0 or e.bit_length() > 256:
        raise KeyRejected("RSA public exponent unsafe")
    if has_roca_fingerprint(n):
        raise KeyRejected("RSA modulus has the ROCA fingerprint (CVE-2017-15361)")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise KeyRejected("RSA key invalid") from exc


def _load_ec(jwk: dict[str, Any], crv: str) -> ec.EllipticCurvePublicKey:
    size = COORD_BYTES[crv]
    x, y = _b64_member(jwk, "x"), _b64_member(jwk, "y")
    # RFC 7518 §6.2.1.2-3: coordinates are full-length octet strings.
    if len(x) != size or len(y) != size:
        raise KeyRejected("EC coordinate of wrong length")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), CURVES[crv]
    )
    try:
        # Refuses points off the curve (invalid-curve attacks).
        return numbers.public_key()
    except ValueError as exc:
        raise KeyRejected("EC point not on the curve") from exc


def _load_okp(jwk: dict[str, Any]) -> ed25519.Ed25519PublicKey:
    x = _b64_member(jwk, "x")
    if len(x) != 32:
        raise KeyRejected("Ed25519 key of wrong length")
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    except ValueError as exc:
        raise KeyRejected("Ed25519 key invalid") from exc


def _check_usage(jwk: dict[str, Any]) -> None:
    use = _member(jwk, "use", required=False)
    if use is not None and use != "sig":
        raise KeyRejected(f"use {use!r} is not 'sig'")
    if "key_ops" in jwk:
        ops = jwk["key_ops"]
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise KeyRejected("key_ops is not a list of strings")
        if "verify" not in ops:
            raise KeyRejected("key_ops lacks 'verify'")


def load_public_jwk(jwk: Any) -> PublicKey:
    """A JWK fit for signature verification, or `KeyRejected` saying why not."""
    if not isinstance(jwk, dict):
        raise KeyRejected("JWK is not a JSON object")
    kty = _member(jwk, "kty")
    if kty == "oct":
        raise KeyRejected("symmetric key (kty oct) never verifies")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise KeyRejected("private key material in a public key set")
    kid = _member(jwk, "kid", required=False)
    alg = _member(jwk, "alg", required=False)
    _check_usage(jwk)
    if alg is not None and alg not in ALLOWED_ALGS:
        raise KeyRejected(f"alg {alg!r} not allowed")
    crv = None
    key: VerifyingKey
    if kty == "RSA":
        alg = alg or "RS256"
        if alg not in RSA_ALGS:
            raise KeyRejected(f"alg {alg!r} does not fit an RSA key")
        key = _load_rsa(jwk)
    elif kty == "EC":
        crv = _member(jwk, "crv")
        if crv not in CURVES:
            raise KeyRejected(f"unknown curve {crv!r}")
        if (alg or ALG_FOR_CURVE[crv]) != ALG_FOR_CURVE[crv]:
            raise KeyRejected(f"alg {alg!r} does not fit curve {crv}")
        alg = ALG_FOR_CURVE[crv]
        key = _load_ec(jwk, crv)
    elif kty == "OKP":
        if _member(jwk, "crv") != "Ed25519":
            raise KeyRejected("only the Ed25519 OKP curve is supported")
        if (alg or "EdDSA") != "EdDSA":
            raise KeyRejected(f"alg {alg!r} does not fit an Ed25519 key")
        alg = "EdDSA"
        key = _load_okp(jwk)
    else:
        raise KeyRejected(f"unsupported kty {kty!r}")
    return PublicKey(kid=kid, alg=alg, kty=kty, key=key, _check=verifier(key, alg, crv))


# RFC 7638 §3.2: the required members only, per key type.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint with SHA-256, base64url."""
    kty = jwk.get("kty")
    # A non-string kty (a list is unhashable) is an unsupported kty, not a TypeError.
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise KeyRejected("thumbprint: unsupported kty")
    if not all(isinstance(jwk.get(name), str) for name in members):
        raise KeyRejected("thumbprint: required member missing or not a string")
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _int_b64(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def _public_members(public_key: Any, alg: str) -> dict[str, Any]:
    if isinstance(public_key, rsa.RSAPublicKey) and alg in RSA_ALGS:
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
    if isinstance(public_key, ec.EllipticCurvePublicKey) and alg in EC_CURVE_FOR_ALG:
        crv = EC_CURVE_FOR_ALG[alg]
        if public_key.curve.name != CURVES[crv].name:
            raise KeyRejected(f"{alg} needs curve {crv}")
        point, size = public_key.public_numbers(), COORD_BYTES[crv]
        return {
            "kty": "EC",
            "crv": crv,
            "x": _int_b64(point.x, size),
            "y": _int_b64(point.y, size),
        }
    if isinstance(public_key, ed25519.Ed25519PublicKey) and alg == "EdDSA":
        raw = public_key.public_bytes_raw()
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    raise KeyRejected(f"alg {alg!r} does not fit a {type(public_key).__name__}")


def public_jwk(public_key: Any, alg: str) -> dict[str, Any]:
    """The JWK to publish: public members only, `kid` = RFC 7638 thumbprint, `use: sig`.

    Accepts a private key too and publishes only its public half."""
    if hasattr(public_key, "private_bytes"):
        public_key = public_key.public_key()
    jwk = _public_members(public_key, alg)
    jwk["kid"] = thumbprint(jwk)
    jwk["use"] = "sig"
    jwk["alg"] = alg
    return jwk


class KeySet:
    """A JWKS (RFC 7517 §5) reduced to the keys fit for verification.

    `kid` is an opaque dictionary key: no path, SQL or shell meaning, and never a
    "try every key" fallback (docs/threat-model.md §1)."""

    __slots__ = ("_by_kid", "_sole", "keys", "rejected")

    def __init__(self, keys: tuple[PublicKey, ...], rejected: tuple[tuple[Any, str], ...]):
        self.keys = keys
        self.rejected = rejected
        self._by_kid = {key.kid: key for key in keys if key.kid is not None}
        self._sole = keys[0] if len(keys) == 1 else None

    @classmethod
    def from_jwks(cls, doc: Any) -> KeySet:
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise KeySetError('not a JWK Set: expected {"keys": [...]}')
        entries = doc["keys"]
        kids = [e.get("kid") for e in entries if isinstance(e, dict)]
        # Two keys under one kid make the lookup ambiguous: use neither (RFC 7517 §4.5).
        duplicated = {k for k, n in Counter(k for k in kids if isinstance(k, str)).items() if n > 1}
        keys: list[PublicKey] = []
        rejected: list[tuple[Any, str]] = []
        for entry in entries:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            if isinstance(kid, str) and kid in duplicated:
                rejected.append((kid, "duplicate kid"))
                continue
            try:
                keys.append(load_public_jwk(entry))
            except KeyRejected as exc:
                rejected.append((kid if isinstance(kid, str) else None, exc.reason))
        return cls(tuple(keys), tuple(rejected))

    def get(self, kid: str | None) -> PublicKey | None:
        if kid is None:
            # Without a kid only an unambiguous set answers (RFC 7515 §4.1.4).
            return self._sole
        if not isinstance(kid, str) or not kid:
            return None
        return self._by_kid.get(kid)


# Dozens of RSA-4096 keys; anything bigger is not a JWKS.
MAX_JWKS_BYTES = 256 * 1024


def parse_jwks(body: bytes | str) -> KeySet:
    """A JWKS read as strictly as a token, by every verifier of this project (the
    authorizer's and the issuer's trusted-issuer keys): at most `MAX_JWKS_BYTES` whatever
    its source, UTF-8, no duplicate member names (last-wins would let two readers of one
    document see different keys, RFC 8259 §4), no NaN/Infinity; unfit keys dropped by
    `KeySet` (listed in `.rejected`)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    if len(data) > MAX_JWKS_BYTES:
        raise KeySetError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
    try:
        doc = strict_json(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, duplicates, nesting
        raise KeySetError(f"JWKS is not strict JSON: {exc}") from None
    return KeySet.from_jwks(doc)


class RefetchedKeys:
    """A JWKS fetched from a URI and cached, shared by every verifier of this project
    (the authorizer's `JwksCache`, the issuer's trusted-issuer `RemoteKeys`); `get(kid)`
    is a verifier's key lookup. The rules, after aws-jwt-verify's `SimpleJwksCache`:
    - keys are trusted for `ttl` seconds after they were obtained, then refetched on
      the next lookup;
    - an unknown `kid` refetches at most once per `cooldown`, so a flood of made-up
      kids costs one fetch per cooldown (docs/threat-model.md §1), and a key the issuer
      rotated in is picked up within one;
    - a failed fetch (an exception of `absorbs`) is `_failed`'s to log, and absorbed:
      the keys held keep serving; it counts as an attempt, so the next is a cooldown away.
    A clock that steps back (a wall clock) makes the held keys and the last attempt
    stale rather than young. Subclasses say what to log (`_fetched`, `_failed`)."""

    # Absorbed by a refresh; anything else propagates to the lookup's caller.
    absorbs: tuple[type[Exception], ...] = (Exception,)

    def __init__(
        self,
        uri: str | None,
        fetcher: Callable[[str], bytes],
        clock: Callable[[], float],
        ttl: float,
        cooldown: float,
        keys: KeySet | None = None,
    ) -> None:
        self._uri = uri  # None: `keys` only, never fetched
        self._fetch = fetcher
        self._clock = clock
        self._ttl = ttl
        self._cooldown = cooldown
        # _thread, not threading: the authorizer's cold start does not load threading.
        self._lock = _thread.allocate_lock()
        self._keys = keys
        # When the keys held were obtained; None: nothing yet.
        self._fresh_at: float | None = clock() if keys is not None else None
        self._attempted_at: float | None = None  # last fetch attempt, good or bad

    @property
    def keys(self) -> KeySet | None:
        return self._keys

    def get(self, kid: str | None) -> PublicKey | None:
        uri = self._uri
        if uri is not None:
            # Past the TTL (or never filled), and not inside a failed attempt's cooldown.
            now, fresh_at = self._clock(), self._fresh_at
            if (fresh_at is None or not 0 <= now - fresh_at < self._ttl) and (
                self._cooled_down(now)
            ):
                self._refresh(uri, "first_use" if fresh_at is None else "ttl")
        keys = self._keys
        key = keys.get(kid) if keys is not None else None
        if key is None and uri is not None and self._cooled_down(self._clock()):
            self._refresh(uri, "unknown_kid")
            keys = self._keys
            key = keys.get(kid) if keys is not None else None
        return key

    def _cooled_down(self, now: float) -> bool:
        attempted_at = self._attempted_at
        return attempted_at is None or not 0 <= now - attempted_at < self._cooldown

    def _refresh(self, uri: str, reason: str) -> None:
        with self._lock:
            now = self._clock()
            if not self._cooled_down(now):
                return  # another thread fetched while this one waited for the lock
            self._attempted_at = now
            try:
                keys = parse_jwks(self._fetch(uri))
            except self.absorbs as exc:
                self._failed(reason, exc)
                return
            self._keys, self._fresh_at = keys, now
            self._fetched(reason, keys)

    def _fetched(self, reason: str, keys: KeySet) -> None:
        """A fetch replaced the keys held."""

    def _failed(self, reason: str, exc: Exception) -> None:
        """A fetch failed; the keys held (if any) keep serving."""
