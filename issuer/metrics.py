"""Token requests as CloudWatch metrics in embedded metric format (shared/emf.py), when
`ISSUER_METRICS=emf`.

One JSON line on stdout per token request, beside the issuer's log lines (stderr):
- a token issued: `{"event":"metric","client":"<client_id>","tokens_issued":1,"_aws":...}`,
  `client` being the id the request authenticated as (at most `shared.emf.MAX_CLIENTS`
  distinct ids per process, then `(other)`);
- a request refused for its client authentication (`invalid_client`, or 429 past the
  throttle): `"client":"(unknown)","token_requests_refused":1`. Whatever client id such
  a request names, it never becomes a dimension value: they are anyone's to invent.
Namespace `ISSUER_METRICS_NAMESPACE`, dimension set `[client]`.

A line of its own on stdout, not the `token_issued` log record: on Lambda, the Python
runtime prefixes each logging record with its level, time and request id, and an EMF
document must be the whole log event, "a valid JSON object with no additional data at the
beginning or end"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
what a function writes to stdout is the log event as written
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
`issuer serve` writes the same lines to its stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from shared.emf import UNKNOWN, ClientDimension, metric_directive, quote

ISSUED = "tokens_issued"
REFUSED = "token_requests_refused"

Write = Callable[[str], object]


class TokenMetrics:
    __slots__ = ("_clients", "_clock", "_directives", "_write")

    def __init__(
        self,
        namespace: str,
        write: Write | None = None,
        clients: ClientDimension | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._write = write
        self._clients = clients if clients is not None else ClientDimension()
        self._clock = clock
        self._directives = {
            name: metric_directive(namespace, (("client",),), (name,)) for name in (ISSUED, REFUSED)
        }

    def issued(self, client_id: str) -> None:
        """A token minted for `client_id`, which authenticated."""
        self._line(ISSUED, self._clients.value(client_id))

    def refused(self) -> None:
        """A token request whose client did not authenticate."""
        self._line(REFUSED, UNKNOWN)

    def _line(self, metric: str, client: str) -> None:
        line = (
            f'{{"event":"metric","client":{quote(client)},"{metric}":1,'
            f'"_aws":{{{self._directives[metric]},"Timestamp":{int(self._clock() * 1000)}}}}}\n'
        )
        if self._write is not None:
            self._write(line)
            return
        # Looked up per line (a replaced stdout is honoured) and flushed: a pipe buffers
        # whole blocks, and a metric late by minutes is counted in the wrong period.
        sys.stdout.write(line)
        sys.stdout.flush()
