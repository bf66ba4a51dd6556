"""Token requests as CloudWatch embedded metric format (ISSUER_METRICS=emf): one JSON line
on stdout per token issued (dimension: the client that authenticated) and per request
refused for its client authentication (dimension value `(unknown)`, whatever id it named).
Each line is read as CloudWatch Logs reads an EMF document
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from helpers.emf import extract
from helpers.issuer_env import make_issuer

from issuer.metrics import TokenMetrics
from issuer.settings import SettingsError
from shared.emf import OTHER, UNKNOWN, ClientDimension

NAMESPACE = "Tollgate/test"
FORM = {"grant_type": "client_credentials"}


def metric_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if '"_aws"' in line]


@pytest.fixture(scope="module")
def emf_issuer(databases, policy_file):
    issuer = make_issuer(databases.new_url("sqlite"), policy_file,
                         ISSUER_METRICS="emf", ISSUER_METRICS_NAMESPACE=NAMESPACE)
    yield issuer
    issuer.services.engine.dispose()


@pytest.fixture(scope="module")
def emf_http(emf_issuer):
    with TestClient(emf_issuer.app()) as client:
        yield client


@pytest.fixture(scope="module")
def emf_reader(emf_issuer):
    return emf_issuer.client(["orders:read"], name="reader")


def test_a_token_issued_is_counted_under_its_client(emf_http, emf_reader, capsys):
    capsys.readouterr()
    response = emf_http.post("/oauth2/token", data=FORM,
                             auth=(emf_reader.client.client_id, emf_reader.client_secret))
    assert response.status_code == 200
    (line,) = metric_lines(capsys.readouterr().out)
    assert line["event"] == "metric"
    assert extract(line) == [
        (NAMESPACE, "tokens_issued", (("client", emf_reader.client.client_id),), 1)]


def test_a_thousand_unknown_client_ids_make_one_dimension_value(emf_http, emf_reader, capsys):
    capsys.readouterr()
    for i in range(1000):
        response = emf_http.post("/oauth2/token", data=FORM, auth=(f"c_nobody{i}", "guess"))
        assert response.status_code == 401
    # A real client id with a wrong secret did not authenticate either.
    response = emf_http.post("/oauth2/token", data=FORM,
                             auth=(emf_reader.client.client_id, "wrong"))
    assert response.status_code == 401
    lines = metric_lines(capsys.readouterr().out)
    assert len(lines) == 1001
    metrics = {m for line in lines for m in extract(line)}
    assert metrics == {(NAMESPACE, "token_requests_refused", (("client", UNKNOWN),), 1)}


def test_metrics_are_off_by_default(http, reader, capsys):
    capsys.readouterr()
    response = http.post("/oauth2/token", data=FORM,
                         auth=(reader.client.client_id, reader.client_secret))
    assert response.status_code == 200
    assert metric_lines(capsys.readouterr().out) == []


def test_clients_past_the_cap_count_as_other():
    out: list[str] = []
    metrics = TokenMetrics(NAMESPACE, out.append, ClientDimension(cap=2), clock=lambda: 2.0)
    for client in ("c_a", "c_b", "c_c", "c_a"):
        metrics.issued(client)
    assert [json.loads(line)["client"] for line in out] == ["c_a", "c_b", OTHER, "c_a"]
    assert json.loads(out[0])["_aws"]["Timestamp"] == 2000


@pytest.mark.parametrize(("env", "message"), [
    ({"ISSUER_METRICS": "on"}, "Config 'ISSUER_METRICS' has value 'on'"),
    ({"ISSUER_METRICS": "emf", "ISSUER_METRICS_NAMESPACE": "AWS/Tollgate"},
     "Config 'ISSUER_METRICS_NAMESPACE' is not a CloudWatch namespace"),
])
def test_a_bad_metrics_setting_is_refused(env, message, databases, policy_file):
    from helpers.issuer_env import make_settings

    with pytest.raises(SettingsError) as refused:
        make_settings(databases.new_url("sqlite"), policy_file, **env)
    assert message in str(refused.value)
