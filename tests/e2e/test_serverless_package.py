"""What `serverless package` builds from serverless.yml, checked without AWS.

The authorizer's zip must hold only the authorizer, `shared` (with the policy) and the
bundled JWKS, and must run from the zip alone: its handler is imported and called here
from the unpacked zip with the issuer's stack (FastAPI, Starlette, Pydantic, SQLAlchemy,
Alembic, Mangum, boto3, `issuer`) made unimportable.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers.procs import REPO

from shared.jwk import public_jwk

pytestmark = [pytest.mark.serverless, pytest.mark.slow]

SERVICE_FILES = ["serverless.yml", "package.json"]
SERVICE_DIRS = ["authorizer", "shared", "issuer", "deploy", "migrations"]
FORBIDDEN = ("fastapi", "starlette", "pydantic", "sqlalchemy", "alembic", "mangum",
             "uvicorn", "boto3", "botocore", "issuer")

RUN_FROM_ZIP = r"""
import importlib.abc, json, sys, time
BLOCKED = set(sys.argv[2].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} must not be imported by the authorizer")
        return None

sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
from cryptography.hazmat.primitives import serialization
from shared.jws import encode_compact
import authorizer.handler as h

key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
kid = json.load(open("build/jwks.json"))["keys"][0]["kid"]
now = int(time.time())
claims = {"iss": "https://issuer.test", "sub": "c1", "client_id": "c1",
          "aud": "https://api.example.com/orders", "iat": now, "exp": now + 300,
          "jti": "j1", "scope": "orders:read"}
token = encode_compact({"typ": "at+jwt", "kid": kid}, claims, key, "ES256")
arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders"
allowed = h.handler({"type": "TOKEN", "authorizationToken": "Bearer " + token,
                     "methodArn": arn}, None)
try:
    h.handler({"type": "TOKEN", "authorizationToken": "Bearer x.y.z", "methodArn": arn}, None)
    refused = "allowed?!"
except Exception as exc:
    refused = str(exc)
print(json.dumps({"file": h.__file__, "allowed": allowed, "refused": refused,
                  "gateway_loaded": "authorizer.gateway" in sys.modules}))
"""


@pytest.fixture(scope="module")
def packaged(offline_env, tmp_path_factory):
    service = tmp_path_factory.mktemp("service")
    for name in SERVICE_FILES:
        shutil.copy(REPO / name, service / name)
    for name in SERVICE_DIRS:
        shutil.copytree(REPO / name, service / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (service / "node_modules").symlink_to(REPO / "node_modules")
    key = ec.generate_private_key(ec.SECP256R1())
    (service / "build").mkdir()
    (service / "build" / "jwks.json").write_text(json.dumps({"keys": [public_jwk(key, "ES256")]}))
    pem = service / "signing-key.pem"  # outside every package pattern
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    out = service / "out"
    done = subprocess.run(
        [str(REPO / "node_modules/.bin/osls"), "package", "--stage", "offline",
         "--package", str(out)],
        cwd=service, env=offline_env(), capture_output=True, text=True, timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return service, out, pem


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as z:
        return z.namelist()


def test_authorizer_zip_holds_only_the_authorizer_shared_and_the_jwks(packaged):
    _, out, _ = packaged
    names = _names(out / "authorizer.zip")
    tops = {n.split("/")[0] for n in names}
    assert tops == {"authorizer", "shared", "build"}, sorted(tops)
    assert "authorizer/handler.py" in names
    assert "shared/example_policy.toml" in names
    assert "build/jwks.json" in names
    assert "authorizer/gateway.py" not in names  # a dev tool, not part of the Lambda
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pem")]
    for word in FORBIDDEN:
        assert not [n for n in names if word in n.lower().split("/")[0]], word


def test_authorizer_runs_from_its_zip_without_the_issuer_stack(packaged, tmp_path):
    _, out, pem = packaged
    unpacked = tmp_path / "task"  # like /var/task
    with zipfile.ZipFile(out / "authorizer.zip") as z:
        z.extractall(unpacked)
    env = {
        "PATH": "/usr/bin:/bin",
        "AUTHORIZER_ISSUER": "https://issuer.test",
        "AUTHORIZER_AUDIENCE": "https://api.example.com/orders",
        "AUTHORIZER_JWKS_FILE": "build/jwks.json",  # relative to the task root, as on AWS
        "AUTHORIZER_JWKS_URI": "http://127.0.0.1:9/jwks.json",  # unreachable on purpose
        "POLICY_FILE": "shared/example_policy.toml",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", RUN_FROM_ZIP, str(unpacked), ",".join(FORBIDDEN),
         str(pem)],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(str(unpacked))
    assert result["refused"] == "Unauthorized"
    assert result["gateway_loaded"] is False
    statements = result["allowed"]["policyDocument"]["Statement"]
    allowed = [r for s in statements if s["Effect"] == "Allow"
               for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders" in allowed


def _resources(out: Path, kind: str) -> list[dict]:
    template = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def test_authorizers_are_wired_with_safe_cache_keys(packaged):
    _, out, _ = packaged
    (rest,) = _resources(out, "AWS::ApiGateway::Authorizer")
    assert rest["Type"] == "TOKEN"
    assert rest["IdentitySource"] == "method.request.header.Authorization"
    assert rest["AuthorizerResultTtlInSeconds"] == 300
    (http,) = _resources(out, "AWS::ApiGatewayV2::Authorizer")
    assert http["AuthorizerPayloadFormatVersion"] == "2.0"
    assert http["EnableSimpleResponses"] is True
    # A simple response decides one route: the route must be part of the cache key.
    assert set(http["IdentitySource"]) == {"$request.header.Authorization", "$context.routeKey"}
    routes = {r["RouteKey"] for r in _resources(out, "AWS::ApiGatewayV2::Route")}
    assert {"POST /oauth2/token", "GET /.well-known/jwks.json", "GET /healthz",
            "GET /.well-known/oauth-authorization-server", "POST /oauth2/introspect",
            "POST /oauth2/revoke", "ANY /admin/{proxy+}", "GET /orders", "POST /orders",
            "GET /orders/{id}"} <= routes
    (rule,) = _resources(out, "AWS::Events::Rule")
    assert rule["ScheduleExpression"] == "rate(1 day)"


def test_only_the_offline_stage_wraps_the_handler():
    text = (REPO / "serverless.yml").read_text()
    handlers = dict(re.findall(r"^  (\w+):\n(?:    .*\n)*?    authorizerHandler: (\S+)",
                               text, re.MULTILINE))
    assert handlers == {"prod": "authorizer.handler.handler",
                        "offline": "deploy/offline_authorizer.handler"}
