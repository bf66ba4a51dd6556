"""JOSE names as plain constants, importable without `cryptography`: the algorithm
allowlist (RFC 7518 §3), the algorithms a DPoP proof may use (RFC 9449 §4.2) and the
members only a private JWK has (RFC 7518 §6). `shared.jwa`, `shared.jwk` and
`shared.dpop` check against them (and re-export them); the issuer's discovery metadata
advertises them without loading those modules (its Lambda cold start, docs/benchmarks.md)."""

from __future__ import annotations

RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
ALLOWED_ALGS = RSA_ALGS | frozenset(EC_CURVE_FOR_ALG) | {"EdDSA"}

# RFC 9449 §4.2: "MUST NOT be none or an identifier for a symmetric algorithm". The
# algorithms every verifier here implements; advertised as dpop_signing_alg_values_supported.
DPOP_ALGS: tuple[str, ...] = ("RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA")

# Members only a private (or symmetric) JWK has: RFC 7518 §6.2.2 (EC `d`), §6.3.2 (RSA `d`,
# `p`, `q`, `dp`, `dq`, `qi`, `oth`), §6.4 (`k`), RFC 8037 §2 (OKP `d`). A published key
# set never carries them (RFC 7517 §9.1): their presence means a leak. The one list for
# every place that checks or strips them (`shared.jwk`'s loader, client registration, the
# JWKS endpoint, deploy/bundle_jwks.py).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
