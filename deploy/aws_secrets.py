"""The issuer's secrets on AWS, read at cold start from Secrets Manager; never from the
function's configuration.

The function's environment names the secrets, it never holds them (a Lambda environment
variable is readable by anyone with `lambda:GetFunctionConfiguration` and sits in the
CloudFormation template and the deployment bucket):

    TOLLGATE_DB_SECRET_ARN   the database credentials, the JSON RDS writes for a managed
                             or generated secret: {"username", "password", "host", "port",
                             "dbname"} (host/port/dbname may come from the variables below)
    TOLLGATE_DB_HOST         where to connect instead of the secret's host (the RDS Proxy
                             endpoint); TOLLGATE_DB_PORT, TOLLGATE_DB_NAME likewise
    TOLLGATE_KEK_SECRET_ARN  the key-encryption key: a KEK text (base64url of 32 bytes, as
                             `ISSUER_KEY_ENCRYPTION_KEY`) or a generated random string of at
                             least 40 characters, from which the KEK is derived with HKDF
                             (RFC 5869), so CloudFormation's GenerateSecretString can make it

Both secrets are encrypted under the stack's customer-managed KMS key; the function's role
may `secretsmanager:GetSecretValue` on exactly these two ARNs and `kms:Decrypt` on that
key only through Secrets Manager (`kms:ViaService`). Off AWS (`issuer serve`, the CLI)
none of this runs: the settings come from `ISSUER_*` as before.

The call itself is deploy/aws_api.py's (SigV4 over urllib, not boto3: a cold start's
cost, docs/benchmarks.md). The authorizer never imports this module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.b64 import b64url_encode

if TYPE_CHECKING:  # imported on AWS only, by the first read: off AWS the init never needs it
    from deploy.aws_api import SecretsManager

DB_SECRET = "TOLLGATE_DB_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
KEK_SECRET = "TOLLGATE_KEK_SECRET_ARN"  # noqa: S105 - a variable name
MIN_GENERATED_KEK_CHARS = 40  # 40 alphanumerics: > 238 bits of entropy
_KEK_INFO = b"tollgate/kek-from-secret/v1"
# How long new connections may use credentials read earlier; a failed connect re-reads
# at once (deploy/lambda_runtime.py), so a rotation costs one retry, not an outage.
CREDENTIALS_TTL = 300.0


class SecretError(Exception):
    """A secret is missing or malformed. The message names the secret, never its value."""


def on_aws(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(DB_SECRET) or environ.get(KEK_SECRET))


def read_secret(client: SecretsManager, arn: str) -> str:
    from deploy.aws_api import AwsApiError

    try:
        value = client.get_secret_value(arn)
    except AwsApiError as exc:  # name the secret and the error code only
        raise SecretError(f"cannot read secret {arn}: {exc.code}") from None
    text = value.get("SecretString")
    if not isinstance(text, str) or not text:
        raise SecretError(f"secret {arn} has no SecretString")
    return text


def kek_text(secret: str, arn: str) -> str:
    """The KEK text for `ISSUER_KEY_ENCRYPTION_KEY` from the secret's value."""
    from issuer.keys.kek import KekError, decode_kek

    value = secret.strip()
    try:
        decode_kek(value)
        return value
    except KekError:
        pass
    if len(value) < MIN_GENERATED_KEK_CHARS:
        raise SecretError(
            f"secret {arn} is neither a KEK (base64url of 32 bytes) nor a generated string of "
            f"at least {MIN_GENERATED_KEK_CHARS} characters"
        )
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(
        value.encode()
    )
    return b64url_encode(key)


class DbCredentials:
    """The database secret, re-read at most every CREDENTIALS_TTL seconds, or at once
    after a failed connect (`refresh()`): RDS rotation changes the password in place."""

    def __init__(self, client: SecretsManager, environ: Mapping[str, str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._arn = environ[DB_SECRET]
        self._env = environ
        self._clock = clock
        self._value: dict[str, Any] | None = None
        self._read_at = 0.0

    def refresh(self) -> dict[str, Any]:
        text = read_secret(self._client, self._arn)
        try:
            value = json.loads(text)
        except ValueError:
            raise SecretError(f"secret {self._arn} is not JSON") from None
        if not isinstance(value, dict) or not value.get("username") or not value.get("password"):
            raise SecretError(f"secret {self._arn} has no username/password")
        self._value, self._read_at = value, self._clock()
        return value

    def invalidate(self) -> None:
        """Read the secret, and the credentials to read it with, again before the next
        connection (a SnapStart restore: the snapshot may be days old)."""
        self._value = None
        self._client.forget_credentials()

    def current(self) -> dict[str, Any]:
        if self._value is None or self._clock() - self._read_at > CREDENTIALS_TTL:
            return self.refresh()
        return self._value

    def password(self) -> str:
        return str(self.current()["password"])

    def url(self, with_password: bool = True) -> str:
        """`postgresql+psycopg://` URL; TLS required (RDS and RDS Proxy both offer it)."""
        value = self.current()
        host = self._env.get("TOLLGATE_DB_HOST") or value.get("host")
        port = self._env.get("TOLLGATE_DB_PORT") or value.get("port") or 5432
        name = self._env.get("TOLLGATE_DB_NAME") or value.get("dbname") or "tollgate"
        if not host:
            raise SecretError(f"secret {self._arn} has no host and TOLLGATE_DB_HOST is unset")
        auth = quote(str(value["username"]), safe="")
        if with_password:
            auth += ":" + quote(str(value["password"]), safe="")
        return f"postgresql+psycopg://{auth}@{host}:{int(port)}/{quote(str(name))}?sslmode=require"


def resolve(environ: Mapping[str, str] | None = None,
            client: SecretsManager | None = None) -> tuple[dict, DbCredentials]:
    """The environment the issuer's settings are loaded from, with the database URL and
    the KEK filled in from Secrets Manager (in this process's memory only)."""
    env = dict(os.environ if environ is None else environ)
    missing = [name for name in (DB_SECRET, KEK_SECRET) if not env.get(name)]
    if missing:
        raise SecretError(f"{', '.join(missing)} unset: both secrets are needed on AWS")
    # The live os.environ on AWS: credentials are read when a call needs them, so a
    # SnapStart environment uses its own, not the snapshot's.
    if client is None:
        from deploy.aws_api import AwsApiError, SecretsManager

        try:
            client = SecretsManager(os.environ if environ is None else environ)
        except AwsApiError as exc:  # no region
            raise SecretError(str(exc)) from None
    creds = DbCredentials(client, env)
    env["ISSUER_DATABASE_URL"] = creds.url()
    env["ISSUER_KEY_ENCRYPTION_KEY"] = kek_text(read_secret(client, env[KEK_SECRET]),
                                                env[KEK_SECRET])
    return env, creds
