"""CloudWatch embedded metric format (EMF): metric values carried by a JSON log line,
which CloudWatch Logs turns into CloudWatch metrics with no API call and no agent.

The format ("Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
the log event is one JSON object, nothing before or after it; its root holds
`"_aws": {"Timestamp": <ms since the epoch>, "CloudWatchMetrics": [{"Namespace": ...,
"Dimensions": [[<dimension names>], ...], "Metrics": [{"Name": ..., "Unit": ...}]}]}`
and, as root members, every dimension named (a string) and every metric named (a
number). Each dimension set is a separate metric per distinct combination of values.
On Lambda nothing else is needed: "Lambda automatically sends everything that your
function writes to standard output (STDOUT) to a CloudWatch Logs log group, and
CloudWatch Logs extracts metrics from any log events that follow the embedded metric
format specification"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
Off Lambda the same lines are written; the CloudWatch agent extracts them the same way,
and anything else reads them as JSON log lines.

Bounded cardinality. Every distinct dimension value is one more custom metric (billed
per metric, and a flood of values drowns the useful ones), so a client id becomes a
dimension value only when the client authenticated (a token the issuer minted or signed),
never because a request named it: refused and unauthenticated requests count under
`UNKNOWN`. On top of that a process puts at most `MAX_CLIENTS` distinct client ids in a
dimension; later ones count under `OTHER`. Neither value can be a client id: the issuer
makes ids of unreserved characters only (RFC 3986 §2.3; issuer/clients/registry.py).

Stdlib only: the authorizer imports this at cold start when metrics are on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring as _quote

MODES = ("off", "emf")
DEFAULT_NAMESPACE = "Tollgate"
UNKNOWN = "(unknown)"  # no authenticated client: refused, malformed or unknown credentials
OTHER = "(other)"  # an authenticated client past this process's MAX_CLIENTS
# Distinct client ids one process puts in a dimension. A Lambda instance or a server
# worker serves a bounded set of clients in practice; past this, the rest are summed.
MAX_CLIENTS = 100
# A dimension value is ASCII with a non-whitespace character, 1 to 1024 characters
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html);
# a client id is far shorter and printable, anything else is not counted by name.
_DIMENSION_VALUE = re.compile(r"[!-~]{1,255}\Z")


class MetricsConfigError(ValueError):
    """A metrics setting is malformed; the message names the variable."""


def parse_mode(value: str | None, name: str) -> str:
    mode = (value or "off").strip().lower() or "off"
    if mode not in MODES:
        raise MetricsConfigError(
            f"Config '{name}' has value {mode!r}, expected one of {', '.join(MODES)}."
        )
    return mode


def parse_namespace(value: str | None, name: str) -> str:
    """CloudWatch namespaces: 1 to 255 printable ASCII characters, not starting with
    `AWS/` (reserved for AWS services)."""
    namespace = (value or "").strip() or DEFAULT_NAMESPACE
    if not re.fullmatch(r"[ -~]{1,255}", namespace) or namespace.startswith("AWS/"):
        raise MetricsConfigError(
            f"Config '{name}' is not a CloudWatch namespace: 1-255 ASCII characters, "
            "not starting with AWS/."
        )
    return namespace


class ClientDimension:
    """Client id -> the value it is counted under: itself (the first `cap` distinct ids
    this process sees), `OTHER` past that, `UNKNOWN` for None. Only ever called with
    the id of a client that authenticated."""

    __slots__ = ("_cap", "_values")

    def __init__(self, cap: int = MAX_CLIENTS) -> None:
        self._cap = cap
        self._values: dict[str, str] = {}

    def value(self, client_id: str | None) -> str:
        if not client_id:
            return UNKNOWN
        known = self._values.get(client_id)
        if known is not None:
            return known
        if len(self._values) >= self._cap or _DIMENSION_VALUE.match(client_id) is None:
            return OTHER  # not remembered: the map stays at `cap` entries
        self._values[client_id] = client_id
        return client_id

    def __len__(self) -> int:
        return len(self._values)


def metric_directive(
    namespace: str, dimensions: Sequence[Sequence[str]], metrics: Iterable[str]
) -> str:
    """`"CloudWatchMetrics":[...]`: the constant member of an `_aws` object, built once
    (its other member, `Timestamp`, is written per line after it). Every metric is a
    count (`Unit: Count`)."""
    dims = ",".join("[" + ",".join(_quote(d) for d in dset) + "]" for dset in dimensions)
    mets = ",".join(f'{{"Name":{_quote(m)},"Unit":"Count"}}' for m in metrics)
    return (
        f'"CloudWatchMetrics":[{{"Namespace":{_quote(namespace)},'
        f'"Dimensions":[{dims}],"Metrics":[{mets}]}}]'
    )


quote = _quote
