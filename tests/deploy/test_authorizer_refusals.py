"""The production handler's refusals are the ones API Gateway documents, per API type.

- REST API (TOKEN, REQUEST): `raise Exception("Unauthorized")`, which API Gateway answers
  401 (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-lambda-authorizer-output.html).
- HTTP API: never a raise (its status is not documented); a refused token is
  `{"isAuthorized": false}` with simple responses, or a Deny policy, both answered 403
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html).

Run in a fresh interpreter: `authorizer.handler` builds its state from the environment
at import, as on Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/GET/orders"
PROBE = r"""
import json, sys
import authorizer.handler as h
out = []
for event in json.loads(sys.argv[1]):
    try:
        out.append({"returned": h.handler(event, None)})
    except Exception as exc:
        out.append({"raised": type(exc).__name__, "message": str(exc)})
print(json.dumps(out))
"""


def http_event(authorization: str) -> dict:
    return {"version": "2.0", "type": "REQUEST", "routeArn": ARN, "routeKey": "GET /orders",
            "identitySource": [authorization, "GET /orders"], "rawPath": "/orders",
            "headers": {"authorization": authorization},
            "requestContext": {"http": {"method": "GET", "path": "/orders"},
                               "stage": "$default", "routeKey": "GET /orders"}}


TOKEN_EVENT = {"type": "TOKEN", "authorizationToken": "Bearer a.b.c",
               "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders"}


def run(events: list[dict], **env_extra: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTHORIZER_", "POLICY_FILE", "LAMBDA_TASK_ROOT"))}
    env.update({"AUTHORIZER_ISSUER": "https://issuer.test", "AUTHORIZER_AUDIENCE":
                "https://api.example.com/orders", "AUTHORIZER_JWKS_URI": "off",
                "AUTHORIZER_JWKS_FILE": str(REPO / "tests" / "deploy" / "empty_jwks.json"),
                "POLICY_FILE": str(REPO / "shared" / "example_policy.toml"),
                "PYTHONPATH": str(REPO)}, **env_extra)
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(events)], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", autouse=True)
def empty_jwks():
    path = REPO / "tests" / "deploy" / "empty_jwks.json"
    assert json.loads(path.read_text()) == {"keys": []}


def test_http_api_simple_refusal_is_is_authorized_false_not_a_raise():
    (bad_token, not_bearer) = run([http_event("Bearer a.b.c"), http_event("Basic dXNlcg==")])
    assert bad_token == {"returned": {"isAuthorized": False}}
    assert not_bearer == {"returned": {"isAuthorized": False}}


def test_http_api_iam_refusal_is_a_deny_policy():
    (result,) = run([http_event("Bearer a.b.c")], AUTHORIZER_RESPONSE="iam")
    policy = result["returned"]["policyDocument"]
    assert policy["Statement"] == [{
        "Action": "execute-api:Invoke", "Effect": "Deny",
        "Resource": ["arn:aws:execute-api:eu-west-1:123456789012:abc123/*"],
    }]


def test_rest_refusal_raises_unauthorized():
    (result,) = run([TOKEN_EVENT])
    assert result == {"raised": "Exception", "message": "Unauthorized"}


def test_unknown_event_shape_raises_unauthorized():
    (result,) = run([{"what": "ever"}])
    assert result == {"raised": "Exception", "message": "Unauthorized"}


def test_rest_token_event_with_a_version_member_still_raises():
    # serverless-offline adds `version: "1.0"` to REST events; API Gateway's REST events
    # have none. Either way a REST refusal is the raise (401), never a Deny (403).
    (result,) = run([{**TOKEN_EVENT, "version": "1.0"}])
    assert result == {"raised": "Exception", "message": "Unauthorized"}
