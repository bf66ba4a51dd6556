"""DPoP at the token endpoint (RFC 9449 §4-§5, §8, §11.1).

A client sends a `DPoP` header with a proof signed by a key it holds; a valid proof
binds the access token to that key (`cnf.jkt`, §6.1) and the answer says
`token_type: DPoP` (§5). Here:

- `TokenEndpointDpop.verify`: exactly one `DPoP` header (§4.3 item 1), then
  `shared.dpop.verify_proof`'s checks (§4.3 items 2-11) with `htm` POST and `htu` the
  token endpoint's public URL (`ISSUER_URL` + `/oauth2/token`, what the client called),
  the iat window `ISSUER_DPOP_MAX_AGE` (+5 s leeway); with `ISSUER_DPOP_NONCE=on` a
  nonce this server issued (§8, `DpopNonces`). A failure is `invalid_dpop_proof` (§5)
  naming the check; a missing or stale nonce is `use_dpop_nonce` with a fresh
  `DPoP-Nonce` header (§8).
- `TokenEndpointDpop.spend`: the replay check (§11.1: a proof is accepted once per
  `jti` within its window). The (jkt, jti) pair is inserted into `dpop_proof_jtis` and
  committed before the token is signed; the primary key makes the second of two
  concurrent uses fail (`invalid_dpop_proof`, `dpop_replay`), in every worker and
  Lambda instance alike. Rows are kept until the proof's iat + window + leeway, after
  which the proof is stale anyway; expired rows are deleted on the way.

Which client must, may or may not send a proof is the token endpoint's rule
(`binding_for`, below): a client registered `token_binding: dpop` must (RFC 9449 §5.2's
`dpop_bound_access_tokens`: "MUST reject token requests from this client that do not
contain the DPoP header"); a client registered `none` may, and then gets a DPoP-bound
token (§5: the server binds the token to the proof's key; a client asking for binding
gets it, and a bearer token would be weaker than what it asked for); a client registered
`mtls` gets certificate-bound tokens and a proof is refused (`invalid_request`: one
token, one binding, so the authorizer never has to choose).

Every token request runs `binding_for`, so this module is imported with the token
endpoint; the proof checks (`shared.dpop`) and the replay table are imported by the
first request that sends a proof, so a cold start for a bearer token loads neither.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord
from issuer.clients.registry import DPOP_BINDING, MTLS_BINDING
from issuer.oauth.errors import InvalidDpopProof, InvalidRequest, UseDpopNonce
from shared.b64 import b64url_decode, b64url_encode
from shared.errors import TokenError

if TYPE_CHECKING:  # annotations only (module docstring: loaded by the requests using them)
    from issuer.oauth.client_cert import PresentedCertificate
    from shared.dpop import DpopProof

# token_type values (media-type-like names, not secrets).
DPOP_TOKEN_TYPE = "DPoP"  # noqa: S105 (RFC 9449 §5: a DPoP-bound access token)
BEARER_TOKEN_TYPE = "Bearer"  # noqa: S105 (RFC 6750)
_NONCE_INFO = b"tollgate dpop nonce v1"
_NONCE_MAC = 16


class DpopNonces:
    """Server nonces (RFC 9449 §8) that need no shared state: a nonce is a time slot and
    an HMAC of it under a key every process derives alike (from the client-secret data
    key, itself sealed under the KEK, issuer/keys/kek_check.py). A nonce is accepted in
    its slot and the next, so it lives between `period` and twice that; a client cannot
    make one for a future slot."""

    def __init__(self, key: bytes | Callable[[], bytes], period: int) -> None:
        self._key_source = key
        self._key: bytes | None = None
        self.period = period

    def _mac(self, slot: bytes) -> bytes:
        if self._key is None:
            base = self._key_source if isinstance(self._key_source, bytes) else self._key_source()
            self._key = hmac.new(base, _NONCE_INFO, hashlib.sha256).digest()
        return hmac.new(self._key, slot, hashlib.sha256).digest()[:_NONCE_MAC]

    def _slot(self, now: float) -> int:
        return int(now // self.period)

    def current(self, now: float) -> str:
        slot = struct.pack(">Q", self._slot(now))
        return b64url_encode(slot + self._mac(slot))

    def valid(self, nonce: str, now: float) -> bool:
        try:
            raw = b64url_decode(nonce) if len(nonce) <= 64 else b""
        except ValueError:
            return False
        if len(raw) != 8 + _NONCE_MAC:
            return False
        slot = raw[:8]
        if struct.unpack(">Q", slot)[0] not in (self._slot(now), self._slot(now) - 1):
            return False
        return hmac.compare_digest(raw[8:], self._mac(slot))


class Binding(NamedTuple):
    """What a token is bound to: its `cnf` claim (None: a bearer token) and
    `token_type`; `proof` is the DPoP proof still to be spent, if any."""

    cnf: dict[str, str] | None = None
    token_type: str = BEARER_TOKEN_TYPE
    proof: DpopProof | None = None


BEARER = Binding()


class TokenEndpointDpop:
    def __init__(
        self,
        token_endpoint: str,
        max_age: int,
        nonces: DpopNonces | None = None,
        leeway: float | None = None,
    ) -> None:
        self.htu = token_endpoint
        self.max_age = max_age
        self._leeway = leeway  # None: shared.dpop's DEFAULT_LEEWAY, read with the proof code
        self.nonces = nonces

    @property
    def leeway(self) -> float:
        if self._leeway is None:
            # Imported by the first proof (module docstring), as `verify` does.
            from shared.dpop import DEFAULT_LEEWAY

            self._leeway = DEFAULT_LEEWAY
        return self._leeway

    def verify(self, values: Sequence[str], now: datetime) -> DpopProof:
        """The one proof of `values` (the request's DPoP header lines), RFC 9449 §4.3."""
        if len(values) != 1:
            raise InvalidDpopProof(
                "send exactly one DPoP header (RFC 9449 §4.3): dpop_several", debug="dpop_several"
            )
        at = now.timestamp()
        # Imported by the first proof, not with the token endpoint (module docstring).
        from shared.dpop import verify_proof

        try:
            proof = verify_proof(
                values[0], method="POST", url=self.htu, now=at, max_age=self.max_age,
                leeway=self.leeway,
            )
        except TokenError as exc:
            raise InvalidDpopProof(
                f"the DPoP proof is invalid: {exc.code}", debug=exc.code
            ) from None
        if self.nonces is not None and (
            proof.nonce is None or not self.nonces.valid(proof.nonce, at)
        ):
            reason = "dpop_nonce_required" if proof.nonce is None else "dpop_bad_nonce"
            raise UseDpopNonce(self.nonces.current(at), debug=reason)
        return proof

    def spend(self, session: Session, proof: DpopProof, now: datetime) -> None:
        """Record the proof's (jkt, jti), committed at once (module docstring)."""
        # The replay table is declared by the first proof's spend (module docstring).
        from issuer.store.replay_tables import DpopProofJti

        until = datetime.fromtimestamp(proof.iat, now.tzinfo) + timedelta(
            seconds=self.max_age + self.leeway
        )
        session.execute(delete(DpopProofJti).where(DpopProofJti.expires_at < now))
        session.add(DpopProofJti(jkt=proof.jkt, jti=proof.jti, expires_at=until))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise InvalidDpopProof(
                "the DPoP proof was already used, make a new one per request: dpop_replay",
                debug="dpop_replay",
            ) from None

    def fresh_nonce(self, now: datetime) -> str | None:
        return self.nonces.current(now.timestamp()) if self.nonces is not None else None


def binding_for(
    client: ClientRecord,
    dpop_values: Sequence[str],
    certificate: PresentedCertificate | None,
    dpop: TokenEndpointDpop,
    now: datetime,
) -> Binding:
    """What this client's new token is bound to (module docstring), or the refusal."""
    if client.token_binding == MTLS_BINDING:
        if dpop_values:
            raise InvalidRequest(
                "this client's tokens are bound to its TLS certificate; send no DPoP proof",
                debug="dpop_for_mtls_client",
            )
        # RFC 8705 §3.4: a client registered for certificate-bound tokens asking over a
        # connection without mutual TLS: "at the authorization server's discretion
        # whether to return an error or issue an unbound token". An unbound token would
        # be a bearer token the client and its API do not expect: refused.
        if certificate is None:
            raise InvalidRequest(
                "this client's tokens are bound to its TLS certificate (RFC 8705 §3): "
                "request them over mutual TLS",
                debug="no_client_certificate",
            )
        try:
            thumbprint = certificate.thumbprint
        except ValueError:
            raise InvalidRequest(
                "the client certificate passed by the TLS terminator is unreadable",
                debug="client_certificate_unreadable",
            ) from None
        return Binding(cnf={"x5t#S256": thumbprint})
    if dpop_values:
        proof = dpop.verify(dpop_values, now)
        return Binding(cnf={"jkt": proof.jkt}, token_type=DPOP_TOKEN_TYPE, proof=proof)
    if client.token_binding == DPOP_BINDING:
        raise InvalidDpopProof(
            "this client's tokens are DPoP-bound, send a DPoP proof (RFC 9449 §5.2): "
            "dpop_proof_missing",
            debug="dpop_proof_missing",
        )
    return BEARER


def cnf_view(claims: dict[str, Any]) -> dict[str, str] | None:
    """A verified token's `cnf` as introspection shows it (RFC 7662 §2.2 with RFC 8705
    §3.2 / RFC 9449 §6.2): its `x5t#S256` or `jkt` member, nothing else."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict):
        return None
    shown = {k: v for k, v in cnf.items() if k in ("x5t#S256", "jkt") and isinstance(v, str)}
    return shown or None
