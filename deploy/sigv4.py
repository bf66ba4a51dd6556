"""AWS Signature Version 4 for one request (deploy/aws_api.py): the `Authorization`
header AWS checks on every API call.

The algorithm, as AWS's IAM User Guide gives it ("Create a signed AWS API request",
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):

1. the canonical request: method, URI path, query, the signed headers (lower-case
   names, sorted, values trimmed), their names, and the SHA-256 of the body;
2. the string to sign: `AWS4-HMAC-SHA256`, the time, the credential scope
   (`date/region/service/aws4_request`) and the SHA-256 of the canonical request;
3. the signing key: HMAC-SHA-256 chained over the date, region, service and
   `aws4_request`, starting from `AWS4` + the secret access key;
4. the signature: HMAC-SHA-256 of the string to sign under that key, in hex.

Only what the issuer's calls need: a path of `/` or a plain path, no query string (the
JSON protocols put everything in the body), the standard library's hmac and hashlib.
Checked against botocore's signer and AWS's published example
(tests/deploy/test_sigv4.py), and by moto's server, which refuses a wrong signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

ALGORITHM = "AWS4-HMAC-SHA256"


class Credentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never the secret key nor the token, in a log or a traceback
        return f"Credentials(access_key_id={self.access_key_id!r}, ...)"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret_access_key).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _canonical_query(query: str) -> str:
    """Parameters sorted by name then value (already URI-encoded by the caller)."""
    if not query:
        return ""
    pairs = [p.partition("=") for p in query.split("&") if p]
    return "&".join(f"{k}={v}" for k, _, v in sorted(pairs, key=lambda p: (p[0], p[2])))


def authorization(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """The headers to add to a request so that AWS accepts it: `X-Amz-Date`,
    `X-Amz-Security-Token` (temporary credentials) and `Authorization`. `headers` must
    hold `Host` and every other header the request sends that should be signed; `now`
    an aware UTC time (AWS refuses a request more than 5 minutes off its clock)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    added = {"X-Amz-Date": amz_date}
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    signed = {name.lower(): " ".join(value.split()) for name, value in
              {**headers, **added}.items()}
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical = "\n".join([
        method.upper(),
        path or "/",
        _canonical_query(query),
        "".join(f"{name}:{signed[name]}\n" for name in names),
        signed_headers,
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(credentials.secret_access_key, date, region, service),
                         to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
                              f"SignedHeaders={signed_headers}, Signature={signature}")
    return added
