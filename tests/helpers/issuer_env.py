"""Build a test issuer: a policy file, settings, a migrated database, clients."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from issuer.clients.registry import NewClient, create_client
from issuer.http.app import create_app
from issuer.keys.kek import new_kek_text
from issuer.oauth.throttle import FailureThrottle
from issuer.services import Services, build_services
from issuer.settings import Settings, load_settings
from issuer.store.engine import make_engine
from issuer.store.migrate import upgrade

ORDERS = "https://api.example.test/orders"
BILLING = "https://api.example.test/billing"
ISSUER_URL = "https://issuer.example.test"

POLICY = f"""
[apis.orders]
audience = "{ORDERS}"

[apis.orders.scopes]
"orders:read" = "Read orders"
"orders:write" = "Change orders"

[[apis.orders.routes]]
method = "GET"
path = "/orders/*"
scopes = ["orders:read"]

[apis.billing]
audience = "{BILLING}"

[apis.billing.scopes]
"billing:read" = "Read invoices"

[[apis.billing.routes]]
method = "GET"
path = "/invoices"
scopes = ["billing:read"]
"""


def write_policy(directory: Path) -> Path:
    path = directory / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def make_settings(
    database_url: str, policy_file: Path, url: str = ISSUER_URL, **env: str
) -> Settings:
    environ = {
        "ISSUER_URL": url,
        "ISSUER_DATABASE_URL": database_url,
        "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text(),
        "POLICY_FILE": str(policy_file),
        **env,
    }
    return load_settings(environ, env_file=None)


@dataclass
class TestIssuer:
    settings: Settings
    services: Services

    def app(self):
        return create_app(self.settings, self.services)

    def app_at(self, url: str):
        """The app as served at `url`, its `iss` that URL, on this issuer's database: for
        a server over real HTTP, whose URL is known only once its port is bound."""
        settings = self.settings._replace(url=url)
        return create_app(settings, build_services(settings, self.services.engine))

    def client(self, scopes: list[str], **kwargs) -> NewClient:
        with self.services.sessions() as session:
            return create_client(
                session,
                self.services.hasher,
                self.services.policy,
                name=kwargs.pop("name", "test client"),
                scopes=scopes,
                **kwargs,
            )


def make_issuer(
    database_url: str,
    policy_file: Path,
    throttle: FailureThrottle | None = None,
    clock: Callable[[], datetime] | None = None,
    **env: str,
) -> TestIssuer:
    """An issuer on a migrated database. Its failure throttle is lenient unless one is
    given: the refusal tests send many bad requests from one address on purpose."""
    settings = make_settings(database_url, policy_file, **env)
    engine = make_engine(database_url)
    upgrade(engine)
    throttle = throttle or FailureThrottle(limit=1_000_000)
    services = build_services(settings, engine, throttle, clock=clock)
    return TestIssuer(settings=settings, services=services)


def lambda_child_env(
    database_url: str, policy_file: Path, client_name: str
) -> tuple[dict[str, str], str, TestIssuer, NewClient]:
    """The environment of a child interpreter running the issuer's Lambda entry (none of
    this process's ISSUER_ or AWS_ variables), its issuer on a migrated database with a
    new KEK and one orders:read client, and that client's Basic authorization."""
    kek = new_kek_text()
    issuer = make_issuer(database_url, policy_file, ISSUER_KEY_ENCRYPTION_KEY=kek)
    new = issuer.client(["orders:read"], name=client_name)
    issuer.services.engine.dispose()
    basic = "Basic " + base64.b64encode(
        f"{new.client.client_id}:{new.client_secret}".encode()).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "AWS_"))}
    env.update({"ISSUER_URL": ISSUER_URL, "ISSUER_DATABASE_URL": database_url,
                "ISSUER_KEY_ENCRYPTION_KEY": kek, "POLICY_FILE": str(policy_file),
                "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    return env, basic, issuer, new


def lambda_event(
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
    client_cert_pem: str | None = None,
    *,
    source_ip: str = "10.0.0.1",
) -> dict:
    """An API Gateway HTTP API (payload 2.0) request event; `body` form-encoded;
    `client_cert_pem`: the certificate of a mutual-TLS connection, as API Gateway passes
    it (`requestContext.authentication.clientCert`); `source_ip`: the caller's address."""
    all_headers = {"host": "abc.execute-api.eu-west-1.amazonaws.com", **(headers or {})}
    if body:
        all_headers.update({"content-length": str(len(body)),
                            "content-type": "application/x-www-form-urlencoded"})
    context: dict = {"accountId": "123456789012", "apiId": "abc", "stage": "$default",
                     "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                              "sourceIp": source_ip, "userAgent": "test"},
                     "requestId": "r", "routeKey": f"{method} {path}", "timeEpoch": 0}
    if client_cert_pem is not None:
        context["authentication"] = {"clientCert": {"clientCertPem": client_cert_pem}}
    return {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
            "rawQueryString": "", "headers": all_headers, "requestContext": context,
            "body": body, "isBase64Encoded": False}


def lambda_token_event(authorization: str) -> str:
    """An API Gateway HTTP API (payload 2.0) client_credentials token request, as JSON
    text for a child interpreter's argv."""
    return json.dumps(lambda_event("POST", "/oauth2/token", "grant_type=client_credentials",
                                   {"authorization": authorization}))
