"""The authorizer's decisions as CloudWatch metrics: the decision line in embedded metric
format (shared/emf.py), when `AUTHORIZER_METRICS=emf`.

The decision line (authorizer/log.py) gains `"client"`, `"decisions":1` and an `_aws`
block, and stays the one JSON line per invocation that it was: CloudWatch Logs extracts
`decisions` (Count) in the namespace `AUTHORIZER_METRICS_NAMESPACE` under two dimension
sets:
- `[reason]`: decisions by reason code (`granted`, `route_not_permitted`, `revoked`,
  `expired`, `internal_error`, ...: a fixed set, authorizer/decision.py);
- `[client, decision]`: per client, allow / deny / unauthorized. `client` is the id of
  a client whose token verified (the issuer signed it), or `(unknown)` when none did:
  a forged, malformed or foreign token never puts its claimed client id in a dimension.
  At most `shared.emf.MAX_CLIENTS` distinct ids per instance, then `(other)`.
So the metrics number at most (reason codes) + 3 x (clients + 2).

Per decision the cost is one dictionary lookup (the line's client part is made once per
verified token) and the timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from json import JSONDecoder

from shared.emf import ClientDimension, metric_directive, quote

DIMENSIONS = (("reason",), ("client", "decision"))
METRIC = "decisions"
# The identity fragment of a decision line starts with this (authorizer/log.py
# who_fragment), followed by the client id as a JSON string.
_WHO_PREFIX = '"client_id":'
# Line parts remembered per identity fragment (one per verified token); cleared when full.
_MAX_PARTS = 4096
_decode = JSONDecoder().raw_decode


class DecisionMetrics:
    __slots__ = ("_clients", "_clock", "_directive", "_parts")

    def __init__(
        self,
        namespace: str,
        clients: ClientDimension | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directive = metric_directive(namespace, DIMENSIONS, (METRIC,))
        self._clients = clients if clients is not None else ClientDimension()
        self._clock = clock
        self._parts: dict[str, str] = {}  # identity fragment -> `_part` of its client

    def _part(self, client: str) -> str:
        # Everything but the timestamp, which ends the line's `_aws` object.
        return f',"client":{quote(client)},"{METRIC}":1,"_aws":{{{self._directive},"Timestamp":'

    def members(self, who: str) -> str:
        """What the decision line adds after its last member: `,"client":...,
        "decisions":1,"_aws":{...}`. `who` is the line's identity fragment: empty when
        no token verified."""
        part = self._parts.get(who)
        if part is None:
            part = self._part(self._clients.value(_client_id(who)))
            if len(self._parts) >= _MAX_PARTS:
                self._parts.clear()
            self._parts[who] = part
        return f"{part}{int(self._clock() * 1000)}}}"


def _client_id(who: str) -> str | None:
    if not who.startswith(_WHO_PREFIX):
        return None
    try:
        value, _ = _decode(who, len(_WHO_PREFIX))
    except ValueError:
        return None
    return value if type(value) is str else None

