"""What the two client-assertion methods share (RFC 7523 §2.2): `private_key_jwt`
(`private_key_jwt.py`) and a trusted external issuer's assertion
(`federated_assertion.py`).

Each method's checks raise `Refused(reason)`; `AssertionMethod.authenticate` turns that
into the same `invalid_client` as a wrong secret, the reason going to the log only (the
failure handler, issuer/http/oauth/client_request.py). `spend_once` is RFC 7523 §3
item 7 for both: the replay store's primary key makes a second insert fail, so of two
concurrent replays one loses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer.clients.cache import ClientRecord
from issuer.oauth.client_auth import JWT_BEARER, TokenRequest
from issuer.oauth.errors import InvalidClient
from issuer.store.replay_tables import ClientAssertionJti, FederatedAssertionJti
from shared.claims import is_number
from shared.errors import TokenError
from shared.jws import Compact

LEEWAY = 30  # clock skew between the assertion's issuer and us


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AssertionMethod:
    """`authenticate` for a method whose `_authenticate` raises `Refused`."""

    def authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        try:
            return self._authenticate(request, session)
        except Refused as refused:
            raise InvalidClient(debug=refused.reason) from None

    def _authenticate(self, request: TokenRequest, session: Session) -> ClientRecord:
        raise NotImplementedError


def jwt_bearer_assertion(request: TokenRequest) -> Compact:
    """What both methods check first: RFC 7523 §2.2's two form fields, the assertion as
    parsed once per request (`TokenRequest.assertion`), and no `crit` header (RFC 7515
    §4.1.11: no extension is understood here)."""
    form = request.form
    if form.get("client_assertion_type") != JWT_BEARER:
        raise Refused("unsupported_assertion_type")
    if not form.get("client_assertion"):
        raise Refused("no_assertion")
    compact = request.assertion
    if not isinstance(compact, Compact):
        code = compact.code if isinstance(compact, TokenError) else "malformed"
        raise Refused(f"assertion_{code}")
    if "crit" in compact.header:
        raise Refused("crit_unsupported")
    return compact


def numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """The claim as a NumericDate, None when absent. `shared.claims.is_number`: a bool,
    NaN, or an integer beyond float range (10**400, an OverflowError in the time
    arithmetic) is not one."""
    if name not in claims:
        return None
    value = claims[name]
    if not is_number(value):
        raise Refused(f"{name}_not_a_number")
    return float(value)


def spend_once(
    session: Session,
    row: ClientAssertionJti | FederatedAssertionJti,
    exp: float,
    now: datetime,
    leeway: int,
) -> None:
    """Record the assertion (`row`, its key set) until it could no longer pass anyway
    (exp + leeway); committed now, so even a request that fails later cannot reuse it.
    Expired rows of the same store are deleted first."""
    table = type(row)
    row.expires_at = datetime.fromtimestamp(exp, now.tzinfo) + timedelta(seconds=leeway)
    session.execute(delete(table).where(table.expires_at < now))
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Refused("replayed") from None
