"""The issuer's Lambda entry (deploy/issuer_lambda.py) in a fresh interpreter, under a
root logger set up as Lambda's Python runtime leaves it (a handler, level WARNING): a
token request through Mangum is answered and logged as token_issued (every issued
token is logged), unless the function's log level (AWS_LAMBDA_LOG_LEVEL) says otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.issuer_env import lambda_child_env, lambda_token_event

ROOT = Path(__file__).resolve().parents[2]

# Runs in the child: Lambda's runtime has configured the root logger before the handler
# module is imported; then one API Gateway HTTP API (payload 2.0) token request.
CHILD = r"""
import io, json, logging, sys
stream = io.StringIO()
logging.basicConfig(level=logging.WARNING, stream=stream, format="%(message)s")
from deploy.issuer_lambda import handler

class Context:
    function_name = "tollgate-issuer"
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:tollgate-issuer"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 30_000

event = json.loads(sys.argv[1])
response = handler(event, Context())
print(json.dumps({"status": response["statusCode"], "log": stream.getvalue()}))
"""


@pytest.fixture(scope="module")
def lambda_env(databases, policy_file):
    env, basic, _issuer, new = lambda_child_env(databases.new_url("sqlite"), policy_file,
                                               "lambda")
    return env, basic, new.client.client_id


def _invoke(env: dict, basic: str) -> dict:
    argv = [sys.executable, "-c", CHILD, lambda_token_event(basic)]
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_token_is_issued_and_logged(lambda_env):
    env, basic, client_id = lambda_env
    out = _invoke(env, basic)
    assert out["status"] == 200
    events = [json.loads(line) for line in out["log"].splitlines() if line.startswith("{")]
    issued = [e for e in events if e["event"] == "token_issued"]
    assert [e["client_id"] for e in issued] == [client_id]
    assert basic.split()[1] not in out["log"]


def test_the_functions_log_level_is_left_to_the_operator(lambda_env):
    env, basic, _ = lambda_env
    out = _invoke({**env, "AWS_LAMBDA_LOG_LEVEL": "WARN"}, basic)
    assert out["status"] == 200
    assert "token_issued" not in out["log"]
