"""Decision metrics as CloudWatch embedded metric format (AUTHORIZER_METRICS=emf).

Each decision line is parsed as CloudWatch Logs would: a JSON object whose `_aws` block
names a namespace, dimension sets and metrics that must all be root members
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The point is the bounded cardinality: a client id is a dimension value only when its
token verified; everything refused counts under one value, however many client ids the
requests claim; and one process names at most MAX_CLIENTS clients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.emf import extract
from helpers.mint import make_key

from authorizer.metrics import DecisionMetrics
from authorizer.settings import ConfigError, Settings
from shared.emf import MAX_CLIENTS, OTHER, UNKNOWN, ClientDimension

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "Tollgate/test"
EMF = {"AUTHORIZER_METRICS": "emf", "AUTHORIZER_METRICS_NAMESPACE": NAMESPACE}


def client_values(lines: list[dict]) -> set[str]:
    return {dict(dims)["client"] for line in lines for _, _, dims, _ in extract(line)
            if "client" in dict(dims)}


@pytest.fixture
def emf_harness(make_harness):
    return make_harness(env=EMF)


def call(h, event) -> None:
    """The REST handler raises "Unauthorized" on a refusal (API Gateway's 401)."""
    try:
        h.handler(event)
    except Exception as exc:
        assert str(exc) == "Unauthorized"


def test_a_granted_decision_is_counted_by_reason_and_by_its_client(emf_harness, events):
    h = emf_harness
    h.handler(events("powertools-token").with_token(h.token(client_id="c_reader")))
    line = h.last()
    # The decision line is still the decision line.
    assert (line["event"], line["decision"], line["reason"]) == ("decision", "allow", "granted")
    assert line["client_id"] == "c_reader"
    assert abs(line["_aws"]["Timestamp"] - h.wall() * 1000) < 1000
    assert sorted(extract(line)) == sorted([
        (NAMESPACE, "decisions", (("reason", "granted"),), 1),
        (NAMESPACE, "decisions", (("client", "c_reader"), ("decision", "allow")), 1),
    ])


def test_a_refusal_is_counted_under_unknown(emf_harness, events):
    h = emf_harness
    call(h, events("powertools-v2").with_authorization("Bearer not.a.token"))
    line = h.last()
    assert line["decision"] == "unauthorized" and "client_id" not in line
    assert sorted(extract(line)) == sorted([
        (NAMESPACE, "decisions", (("reason", line["reason"]),), 1),
        (NAMESPACE, "decisions", (("client", UNKNOWN), ("decision", "unauthorized")), 1),
    ])


def test_a_thousand_unknown_client_ids_make_one_dimension_value(emf_harness, events):
    # Tokens naming 1,000 different clients, signed by a key the issuer never published:
    # refused, and none of the claimed ids reaches a dimension.
    h = emf_harness
    stranger, _ = make_key("RS256", kid="rsa-1")
    event = events("powertools-token")
    for i in range(1000):
        call(h, event.with_token(h.token(key=stranger, client_id=f"c_guess{i}")))
    lines = h.decisions()
    assert len(lines) == 1000
    assert {line["reason"] for line in lines} == {"bad_signature"}
    assert client_values(lines) == {UNKNOWN}


def test_verified_clients_are_named_up_to_the_cap_then_other(emf_harness, events):
    h = emf_harness
    event = events("powertools-token")
    for i in range(MAX_CLIENTS + 50):
        h.handler(event.with_token(h.token(client_id=f"c_{i:04d}")))
    h.handler(event.with_token(h.token(client_id="c_0007")))  # named before the cap
    lines = h.decisions()
    assert {line["reason"] for line in lines} == {"granted"}
    values = client_values(lines)
    assert len(values) == MAX_CLIENTS + 1
    assert OTHER in values and "c_0149" not in values
    assert dict(extract(lines[-1])[1][2])["client"] == "c_0007"


def test_a_repeat_decision_reuses_the_client_part(emf_harness, events):
    h = emf_harness
    event = events("powertools-token").with_token(h.token(client_id="c_again"))
    h.handler(event)
    h.wall.advance(2.5)
    h.handler(event)
    first, second = h.decisions()
    assert second["client"] == "c_again"
    assert second["_aws"]["Timestamp"] - first["_aws"]["Timestamp"] == 2500


def test_metrics_off_by_default_leave_the_line_as_it_was(harness, events):
    harness.handler(events("powertools-token").with_token(harness.token()))
    line = harness.last()
    assert "_aws" not in line and "client" not in line and "decisions" not in line


@pytest.mark.parametrize(("env", "message"), [
    ({"AUTHORIZER_METRICS": "yes"}, "Config 'AUTHORIZER_METRICS' has value 'yes'"),
    ({"AUTHORIZER_METRICS": "emf", "AUTHORIZER_METRICS_NAMESPACE": "AWS/Lambda"},
     "Config 'AUTHORIZER_METRICS_NAMESPACE' is not a CloudWatch namespace"),
])
def test_a_bad_metrics_setting_fails_the_cold_start(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env({"AUTHORIZER_ISSUER": "https://i", "AUTHORIZER_AUDIENCE": "a", **env},
                          cwd="/nonexistent")


def test_client_dimension_never_names_a_value_that_is_not_a_client_id():
    dimension = ClientDimension(cap=3)
    assert dimension.value(None) == UNKNOWN and dimension.value("") == UNKNOWN
    assert dimension.value("c 1") == OTHER and dimension.value("é") == OTHER
    assert [dimension.value(c) for c in ("a", "b", "c", "d", "a")] == ["a", "b", "c", OTHER, "a"]
    assert len(dimension) == 3


def test_who_fragment_without_a_client_id_is_unknown():
    metrics = DecisionMetrics(NAMESPACE, clock=lambda: 1.0)
    line = json.loads('{"reason":"granted","decision":"allow"' + metrics.members("") + "}")
    assert line["client"] == UNKNOWN and line["_aws"]["Timestamp"] == 1000
    line = json.loads('{"reason":"granted","decision":"allow",'
                      '"client_id":"","jti":"j"' + metrics.members('"client_id":"","jti":"j",')
                      + "}")
    assert line["client"] == UNKNOWN


PROBE = """
import json, sys
import authorizer.handler as h
event = {"type": "TOKEN", "authorizationToken": "Bearer a.b.c",
         "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders"}
try:
    h.handler(event, None)
except Exception:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("authorizer", "shared")))))
"""


def _run_handler(tmp_path: Path, **extra: str) -> tuple[list[dict], set[str]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTHORIZER_", "POLICY_FILE", "LAMBDA_TASK_ROOT"))}
    env.update({"AUTHORIZER_ISSUER": "https://issuer.test", "AUTHORIZER_AUDIENCE": "a",
                "AUTHORIZER_JWKS_URI": "off", "AUTHORIZER_REVOCATION_URI": "off",
                "AUTHORIZER_JWKS_FILE": str(REPO / "tests" / "deploy" / "empty_jwks.json"),
                "PYTHONPATH": str(REPO), **extra})
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    *lines, modules = done.stdout.strip().splitlines()
    decisions = [json.loads(x) for x in lines if '"event":"decision"' in x]
    return decisions, set(json.loads(modules))


def test_the_lambda_handler_writes_emf_decision_lines_and_imports_little(tmp_path):
    (decision,), with_metrics = _run_handler(tmp_path, **EMF)
    assert decision["reason"] == "malformed"
    assert client_values([decision]) == {UNKNOWN}
    (plain,), without = _run_handler(tmp_path)
    assert "_aws" not in plain
    # What metrics add to the cold start: two stdlib-only modules, nothing when off.
    assert with_metrics - without == {"authorizer.metrics", "shared.emf"}
