"""The one AWS API call the issuer's functions make: Secrets Manager's GetSecretValue at
cold start (deploy/aws_secrets.py), over HTTPS with the standard library, signed with
SigV4 (deploy/sigv4.py).

Why not boto3: importing it, making a Secrets Manager client and reading the two secrets
executes 577 M instructions, a quarter of what importing the frameworks does; this
module and the same two reads, 18 M (`make bench`; docs/benchmarks.md, "Issuer cold
start"): urllib, json, hmac and hashlib are loaded by the init already. It does what
boto3 would do for this one call, as the AWS SDKs document it:

- **Credentials** (the AWS SDKs and Tools Reference Guide, "Understand the credential
  provider chain"): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
  `AWS_SESSION_TOKEN`, which Lambda sets for the execution role; or, where Lambda sets
  none of these (a SnapStart function: "Using SnapStart with AWS SDKs" in the Lambda
  Developer Guide), the container credential provider: a GET of
  `AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN` (or the
  contents of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) as `Authorization`, answered
  with `AccessKeyId`, `SecretAccessKey`, `Token` and `Expiration`. That endpoint must be
  HTTPS, `localhost`, a loopback address or one of the container agents' link-local
  addresses, as the SDKs require: the token is never sent anywhere else.
- **Endpoint**: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, then `AWS_ENDPOINT_URL` (the SDKs'
  "Service-specific endpoints" settings), else `https://secretsmanager.REGION.amazonaws.com`
  (`.amazonaws.com.cn` in the China regions), in `AWS_REGION` (set by Lambda) or
  `AWS_DEFAULT_REGION`. A VPC interface endpoint with private DNS answers on that name.
- **Protocol**: Secrets Manager's JSON 1.1 API: a POST of `{"SecretId": ...}` with
  `X-Amz-Target: secretsmanager.GetSecretValue`; an error is a 4xx/5xx whose JSON body
  names its type in `__type`.
- **Retries**: a throttled request, a 5xx or a network failure is retried twice (three
  attempts, 0.1 s then 0.2 s apart, 3 s timeout each) so a cold start stays inside
  Lambda's 10 s init limit; any other error is final. No redirect is followed: a signed
  request goes to the endpoint named above or nowhere.

Errors carry the AWS error code (`ResourceNotFoundException`, `AccessDeniedException`,
...) or what failed, never a secret, a key or a token.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from deploy.sigv4 import Credentials, authorization

SERVICE = "secretsmanager"
TIMEOUT = 3.0
ATTEMPTS = 3
BACKOFF = 0.1  # seconds before the second attempt; doubled before the third
MAX_RESPONSE = 1 << 20  # a secret is at most 64 KiB (Secrets Manager quotas)
# Temporary credentials are fetched again this long before they expire, as the SDKs do.
REFRESH_BEFORE = 300.0
# The throttling and transient codes the SDKs' standard retry mode retries besides any
# 5xx ("Retry behavior", AWS SDKs and Tools Reference Guide; botocore's
# retries/standard.py lists them).
RETRYABLE = frozenset({"Throttling", "ThrottlingException", "ThrottledException",
                       "RequestThrottledException", "TooManyRequestsException",
                       "RequestLimitExceeded", "LimitExceededException", "RequestThrottled",
                       "PriorRequestNotComplete", "RequestTimeout",
                       "RequestTimeoutException"})
# Where the container credential provider may send its token: the ECS agent, the EKS Pod
# Identity agent, or this host (Lambda's SnapStart credentials endpoint is loopback).
CONTAINER_HOSTS = (ipaddress.ip_address("169.254.170.2"),
                   ipaddress.ip_address("169.254.170.23"),
                   ipaddress.ip_address("fd00:ec2::23"))


class AwsApiError(Exception):
    """An AWS call failed. `code`: AWS's error code, or what failed on the way."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


# One for the process: no redirect handler that would follow a 3xx.
_OPENER = urllib.request.build_opener(_NoRedirect())


def _region(environ: Mapping[str, str]) -> str:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise AwsApiError("NoRegion", "AWS_REGION is unset (Lambda sets it)")
    return region


def endpoint(environ: Mapping[str, str]) -> str:
    configured = (environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
                  or environ.get("AWS_ENDPOINT_URL"))
    if configured:
        if urlsplit(configured).scheme not in ("https", "http"):
            raise AwsApiError("InvalidEndpoint", "AWS_ENDPOINT_URL_SECRETS_MANAGER and "
                              "AWS_ENDPOINT_URL must be https:// (or http:// to a stand-in)")
        return configured.rstrip("/")
    region = _region(environ)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICE}.{region}.{suffix}"


def container_credentials_uri(environ: Mapping[str, str]) -> str | None:
    relative = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return "http://169.254.170.2" + relative
    full = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not full:
        return None
    parts = urlsplit(full)
    if parts.scheme == "https":
        return full
    if parts.scheme == "http" and parts.hostname == "localhost":
        return full
    try:
        host = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        host = None
    if parts.scheme != "http" or host is None or not (host.is_loopback
                                                      or host in CONTAINER_HOSTS):
        raise AwsApiError("InvalidContainerCredentialsUri",
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, a loopback "
                          "address or a container agent's address")
    return full


class CredentialSource:
    """The function's credentials, read from `environ` when first needed and again when
    temporary ones come within REFRESH_BEFORE of their expiry (or after `forget()`)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._cached: Credentials | None = None
        self._expires_at = 0.0

    def forget(self) -> None:
        self._cached = None

    def get(self) -> Credentials:
        if self._cached is not None and time.time() < self._expires_at - REFRESH_BEFORE:
            return self._cached
        env = self._environ
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            # The execution role's, valid for the environment's life: read on every call,
            # they cost a dictionary lookup.
            return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                               env.get("AWS_SESSION_TOKEN") or None)
        uri = container_credentials_uri(env)
        if uri is None:
            raise AwsApiError("NoCredentials", "no AWS credentials in the environment "
                              "(AWS_ACCESS_KEY_ID or AWS_CONTAINER_CREDENTIALS_FULL_URI)")
        self._cached, self._expires_at = self._fetch(uri)
        return self._cached

    def _token(self) -> str | None:
        path = self._environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        if path:
            try:
                with open(path, encoding="utf-8") as file:
                    return file.read().strip()
            except OSError as exc:
                raise AwsApiError("ContainerCredentialsTokenFile",
                                  f"cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "
                                  f"{exc.strerror}") from None
        return self._environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None

    def _fetch(self, uri: str) -> tuple[Credentials, float]:
        # http(s) only: _container_uri checked the scheme and the host.
        request = urllib.request.Request(uri, method="GET")  # noqa: S310
        token = self._token()
        if token:
            request.add_header("Authorization", token)
        body = _send(request, "container credentials")
        try:
            doc = json.loads(body)
            credentials = Credentials(doc["AccessKeyId"], doc["SecretAccessKey"],
                                      doc.get("Token") or None)
            expires = datetime.fromisoformat(doc["Expiration"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AwsApiError("InvalidContainerCredentials",
                              "the container credentials endpoint answered without "
                              "AccessKeyId, SecretAccessKey and Expiration") from None
        return credentials, expires.timestamp()


def _error_code(error: urllib.error.HTTPError, body: bytes) -> str:
    """`__type` of a JSON error body (`prefix#Code` or `Code`), else x-amzn-ErrorType,
    else the `<Code>` of an XML `ErrorResponse` (what AWS's query-protocol front ends
    answer, moto's authentication errors included), else the HTTP status."""
    try:
        kind = json.loads(body).get("__type")
    except (ValueError, AttributeError):
        kind = None
    if not isinstance(kind, str) or not kind:
        kind = (error.headers.get("x-amzn-ErrorType") or "").split(":")[0]
    if not kind and body.lstrip().startswith(b"<"):
        code = body.partition(b"<Code>")[2].partition(b"</Code>")[0]
        kind = code.decode("ascii", "replace") if code.isalnum() else ""
    return kind.rsplit("#", 1)[-1] or f"HTTP{error.code}"


def _send(request: urllib.request.Request, what: str) -> bytes:
    """The response body of one request, retried as the module docstring says."""
    delay = BACKOFF
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with _OPENER.open(request, timeout=TIMEOUT) as response:
                body: bytes = response.read(MAX_RESPONSE)
                if getattr(response, "length", None):  # fewer bytes than Content-Length
                    raise http.client.IncompleteRead(body)
                return body
        except urllib.error.HTTPError as exc:
            body = exc.read(MAX_RESPONSE)
            code = _error_code(exc, body)
            if attempt == ATTEMPTS or not (exc.code >= 500 or code in RETRYABLE):
                raise AwsApiError(code, f"{what}: {code}") from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out,
            # DNS (URLError is an OSError), or a response cut short
            if attempt == ATTEMPTS:
                reason = getattr(exc, "reason", exc)
                raise AwsApiError("NetworkError", f"{what}: {type(reason).__name__}") from None
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class SecretsManager:
    """`get_secret_value(secret_id)`: the GetSecretValue response (`SecretString`,
    `ARN`, `VersionId`, ...) as a dict."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._region = _region(environ)
        self._endpoint = endpoint(environ)
        self._credentials = CredentialSource(environ)

    def forget_credentials(self) -> None:
        """Fetch credentials again before the next call (a SnapStart restore)."""
        self._credentials.forget()

    def get_secret_value(self, secret_id: str) -> dict[str, Any]:
        body = json.dumps({"SecretId": secret_id}).encode()
        parts = urlsplit(self._endpoint)
        path = parts.path or "/"
        headers = {"Host": parts.netloc, "Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": "secretsmanager.GetSecretValue"}
        headers.update(authorization("POST", path, "", headers, body,
                                     self._credentials.get(), self._region, SERVICE,
                                     datetime.now(UTC)))
        # http(s) only: endpoint() checked the scheme.
        request = urllib.request.Request(f"{parts.scheme}://{parts.netloc}{path}",  # noqa: S310
                                         data=body, headers=headers, method="POST")
        answer = _send(request, "GetSecretValue")
        try:
            value = json.loads(answer)
        except ValueError:
            raise AwsApiError("InvalidResponse", "GetSecretValue: not JSON") from None
        if not isinstance(value, dict):
            raise AwsApiError("InvalidResponse", "GetSecretValue: not a JSON object")
        return value
