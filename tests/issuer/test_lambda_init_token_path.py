"""The issuer's Lambda init (`import deploy.issuer_lambda`) imports only what a
client_secret token needs (issue 14; bench/startup_bench.py measures it): the other
client authentication methods (issuer/oauth/client_auth.py `DeferredMethod`), federation
(issuer/services.py `OnFirstUse`), DPoP's proof checks (issuer/oauth/dpop.py) and the
JWS/JWK code behind them are imported by the first request that uses them, and so are
the tables a token does not touch (issuer/store/tables.py declares the others) and the
ORM classes (issuer/store/models.py: the token path reads and writes with Core, so
no class is mapped by the init or the first token).

Then, in one process whose init loaded none of them, a client_secret token, then a
private_key_jwt, a DPoP, a federated and a mutual-TLS token, a wrong secret, a
revocation and admin reads each get the answer they get from an issuer that imported
everything at start."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from helpers.client_assertion import client_assertion
from helpers.client_certs import make_cert
from helpers.external_issuer import ExternalIssuer
from helpers.external_issuer import assertion_form as federated_form
from helpers.issuer_env import ISSUER_URL, ORDERS, lambda_child_env, lambda_event
from helpers.mint import make_key

from issuer import logs
from issuer.audit import cli_actor
from issuer.federation import trusted_issuers
from issuer.federation.jwks import UriPolicy
from issuer.keys.store import ensure_active_key
from issuer.services import DEFERRED_MODULES
from issuer.store import engine
from shared.dpop import make_proof
from shared.jwk import thumbprint
from shared.jws import parse_compact

if TYPE_CHECKING:  # not at run time: pytest would try to collect it as a test class
    from helpers.issuer_env import TestIssuer

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ENDPOINT = ISSUER_URL + "/oauth2/token"
EXTERNAL = "https://token.actions.githubusercontent.com"
WORKLOAD = "repo:octo-org/octo-repo:ref:refs/heads/main"

# Imported by the first request that uses them, never by the init: what the init leaves
# out (and SnapStart's before-snapshot hook imports: tests/issuer/test_snapstart.py), and
# each table module issuer.store.schema imports, and the ORM classes of the token's
# tables (where those classes are declared: not imported, none is mapped).
LAZY_MODULES = (*DEFERRED_MODULES, "issuer.store.models",
                "issuer.store.audit_tables", "issuer.store.console_tables",
                "issuer.store.federation_tables", "issuer.store.replay_tables",
                "issuer.store.revocation_tables", "issuer.store.throttle_tables")
# What a client_secret token reads or writes: the client, its revocation generation and
# activity counts, the signing key, the KEK check (read at init).
TOKEN_TABLES = ["client_activity", "client_revocations", "clients", "kek_check",
                "signing_keys"]

# The child: the Lambda entry's init, then each event of argv[2] through its handler.
CHILD = r"""
import json, sys
LAZY = json.loads(sys.argv[1])

def loaded():
    return sorted(m for m in LAZY if m in sys.modules)

def tables():
    from issuer.store.tables import metadata
    return sorted(metadata.tables)

from deploy.issuer_lambda import handler

report = {"init": loaded(), "init_tables": tables(), "answers": []}
for name, event in json.loads(sys.argv[2]):
    if name == "admin audit":  # the admin token of the previous answer
        token = report["answers"][-1]["body"]["access_token"]
        event["headers"]["authorization"] = "Bearer " + token
        admin_token = token
    if name == "admin client":
        event["headers"]["authorization"] = "Bearer " + admin_token
    if name in ("revoke", "introspect"):  # the first token
        first = report["answers"][0]["body"]["access_token"]
        event["body"] = event["body"].replace("FIRST", first)
        event["headers"]["content-length"] = str(len(event["body"]))
    response = handler(event, None)
    body = response.get("body") or ""
    report["answers"].append({"name": name, "status": response["statusCode"],
                              "body": json.loads(body) if body else None,
                              "loaded": loaded(), "tables": tables()})
print(json.dumps(report))
"""


def _child_env(databases, policy_file) -> tuple[dict, str, TestIssuer]:
    """As deployed (serverless.yml: production) on a database whose signing key exists
    (made by `issuer serve` or the first deployment's token; bench/issuer_setup.py)."""
    env, basic, issuer, _ = lambda_child_env(databases.new_url("sqlite"), policy_file,
                                             "secret client")
    services = issuer.services
    ensure_active_key(services.sessions, services.kek, services.settings.signing_alg)
    env["ISSUER_ENV"] = "production"
    return env, basic, issuer


def _run(env: dict, events: list) -> dict:
    argv = [sys.executable, "-c", CHILD, json.dumps(LAZY_MODULES), json.dumps(events)]
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _form_event(form: dict, **headers: str) -> dict:
    return lambda_event("POST", "/oauth2/token", urlencode(form), headers)


def test_the_lambda_init_imports_no_method_federation_or_dpop_code(databases, policy_file):
    env, _basic_auth, issuer = _child_env(databases, policy_file)
    issuer.services.engine.dispose()
    report = _run(env, [])
    assert report["init"] == []
    assert report["init_tables"] == TOKEN_TABLES


def test_a_token_then_every_other_method_in_one_process(databases, policy_file):
    env, basic, issuer = _child_env(databases, policy_file)
    services = issuer.services
    # private_key_jwt (RFC 7523), federated (a trusted issuer's token), mutual TLS
    # (RFC 8705 §2.2), an admin: registered before the child starts.
    key, jwk = make_key("ES256", kid="k1")
    jwt_client = issuer.client(["orders:read"], name="jwt", auth_method="private_key_jwt",
                               jwks={"keys": [jwk]}).client.client_id
    external = ExternalIssuer(EXTERNAL)
    with services.sessions() as session:
        trusted_issuers.add(session, {"issuer": EXTERNAL, "jwks": external.jwks(),
                                      "algorithms": ["RS256"]},
                            cli_actor(), services.clock(), UriPolicy.development())
    federated_client = issuer.client(
        ["orders:read"], name="workload", auth_method="federated",
        federated_identities=[{"issuer": EXTERNAL, "subject": WORKLOAD}]).client.client_id
    cert = make_cert("orders-batch")
    mtls_client = issuer.client(["orders:read"], name="mtls",
                                auth_method="self_signed_tls_client_auth",
                                jwks={"keys": [cert.jwk()]}).client.client_id
    admin = issuer.client(["issuer:admin"], name="admin")
    services.engine.dispose()

    now = time.time()
    dpop_key, _ = make_key("ES256")
    proof = make_proof(dpop_key, "ES256", method="POST", url=TOKEN_ENDPOINT, iat=now)
    client_credentials = {"grant_type": "client_credentials"}
    events = [
        ("client_secret", _form_event(client_credentials, authorization=basic)),
        ("private_key_jwt", _form_event({**client_credentials,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(key, "ES256", jwt_client, TOKEN_ENDPOINT,
                                                 now, kid="k1")})),
        ("dpop", _form_event(client_credentials, authorization=basic, dpop=proof)),
        ("federated", _form_event(federated_form(external.token(WORKLOAD, TOKEN_ENDPOINT,
                                                                now)))),
        ("mtls", lambda_event("POST", "/oauth2/token", urlencode(
            {**client_credentials, "client_id": mtls_client}), client_cert_pem=cert.pem)),
        ("wrong secret", _form_event(client_credentials,
                                     authorization=_basic(jwt_client, "wrong"))),
        ("revoke", lambda_event("POST", "/oauth2/revoke", "token=FIRST",
                                {"authorization": basic})),
        ("introspect", lambda_event("POST", "/oauth2/introspect", "token=FIRST",
                                    {"authorization": basic})),
        ("admin token", _form_event(client_credentials, authorization=_basic(
            admin.client.client_id, admin.client_secret))),
        ("admin audit", lambda_event("GET", "/admin/audit", headers={})),
        ("admin client", lambda_event("GET", f"/admin/clients/{federated_client}",
                                      headers={})),
    ]
    report = _run(env, events)
    answers = {a["name"]: a for a in report["answers"]}
    assert report["init"] == []
    # The first token loads nothing of the other methods either.
    assert answers["client_secret"]["status"] == 200
    assert answers["client_secret"]["loaded"] == []
    assert answers["client_secret"]["tables"] == TOKEN_TABLES
    assert answers["client_secret"]["body"]["token_type"] == "Bearer"

    assert answers["private_key_jwt"]["status"] == 200, answers["private_key_jwt"]
    claims = parse_compact(answers["private_key_jwt"]["body"]["access_token"]).claims
    assert (claims["client_id"], claims["aud"]) == (jwt_client, ORDERS)

    assert answers["dpop"]["status"] == 200, answers["dpop"]
    assert answers["dpop"]["body"]["token_type"] == "DPoP"
    cnf = parse_compact(answers["dpop"]["body"]["access_token"]).claims["cnf"]
    assert cnf == {"jkt": thumbprint(parse_compact(proof).header["jwk"])}

    assert answers["federated"]["status"] == 200, answers["federated"]
    claims = parse_compact(answers["federated"]["body"]["access_token"]).claims
    assert claims["client_id"] == federated_client
    assert claims["act"] == {"iss": EXTERNAL, "sub": WORKLOAD}

    assert answers["mtls"]["status"] == 200, answers["mtls"]
    claims = parse_compact(answers["mtls"]["body"]["access_token"]).claims
    assert claims["client_id"] == mtls_client

    assert answers["wrong secret"]["status"] == 401
    assert answers["wrong secret"]["body"]["error"] == "invalid_client"
    assert answers["revoke"]["status"] == 200
    assert answers["introspect"] == {**answers["introspect"], "status": 200,
                                     "body": {"active": False}}
    assert answers["admin token"]["status"] == 200
    assert answers["admin audit"]["status"] == 200, answers["admin audit"]
    actions = [item["action"] for item in answers["admin audit"]["body"]["items"]]
    assert "trusted_issuer.create" in actions
    assert answers["admin client"]["status"] == 200, answers["admin client"]
    assert answers["admin client"]["body"]["federated_identities"] == [
        {"issuer": EXTERNAL, "subject": WORKLOAD}]
    # Each was imported by the request that used it (and every name above is a module).
    assert {"issuer.oauth.private_key_jwt", "shared.jwk"} <= set(
        answers["private_key_jwt"]["loaded"])
    assert "shared.dpop" not in answers["private_key_jwt"]["loaded"]
    assert "shared.dpop" in answers["dpop"]["loaded"]
    assert "issuer.federation.directory" not in answers["dpop"]["loaded"]
    assert "issuer.federation.directory" in answers["federated"]["loaded"]
    assert "issuer.oauth.tls_client_auth" not in answers["federated"]["loaded"]
    assert "issuer.oauth.tls_client_auth" in answers["mtls"]["loaded"]
    # All but the whole schema (Alembic's) and the console's table (no console in
    # production).
    unused = {"issuer.store.schema", "issuer.store.console_tables"}
    everything = [m for m in LAZY_MODULES if m not in unused]
    assert answers["admin client"]["loaded"] == sorted(everything)
    assert "revoked_tokens" in answers["revoke"]["tables"]
    assert "auth_failures" in answers["wrong secret"]["tables"]
    assert "dpop_proof_jtis" in answers["dpop"]["tables"]


def test_declaring_every_table_loads_no_database_dialect():
    """No `sqlite_*`/`postgresql_*` keyword at a table's definition: SQLAlchemy would
    import that dialect to check it (all of SQLite's on a PostgreSQL issuer, every
    PostgreSQL driver module on a SQLite one); the partial indexes' WHERE is attached when
    DDL is emitted (issuer/store/models.py)."""
    probe = ("import sys; import issuer.store.schema; "
             "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["[]"]



# The child: count what the init declares as dataclasses and which patterns it compiles.
COSTS = r"""
import dataclasses, json, re, sys
declared, compiled = [], []
process_class = dataclasses._process_class
def counting(cls, *args, **kwargs):
    declared.append(cls.__module__ + "." + cls.__qualname__)
    return process_class(cls, *args, **kwargs)
dataclasses._process_class = counting
compile_pattern = re._compile
def compiling(pattern, flags):
    compiled.append(str(pattern))
    return compile_pattern(pattern, flags)
re._compile = compiling
import deploy.issuer_lambda
ours = [c for c in declared if c.startswith(("issuer.", "shared.", "deploy."))]
print(json.dumps({"dataclasses": ours, "patterns": compiled}))
"""


def test_the_lambda_init_declares_no_dataclass_and_compiles_no_error_pattern(
        databases, policy_file):
    """A dataclass is compiled from source when its class statement runs (~1 ms each on
    Python 3.11, 20 of them were 37 ms of the init): the records the init declares are
    NamedTuples or plain classes (docs/benchmarks.md, "Issuer cold start"). The patterns
    that classify a database error and redact a password are compiled by the first
    error, not by every cold start."""
    env, _, _ = _child_env(databases, policy_file)
    proc = subprocess.run([sys.executable, "-c", COSTS], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["dataclasses"] == []
    error_patterns = {engine._UNREACHABLE, engine._MISSING_DATABASE, engine._CREDENTIALS,
                      engine._NOT_MIGRATED, engine._SQLITE_OPEN, logs._URL_PASSWORD,
                      logs._KEYWORD_PASSWORD}
    assert [p for p in report["patterns"] if p in error_patterns] == []
    assert len(report["patterns"]) > 0  # the counting saw the init's other patterns
