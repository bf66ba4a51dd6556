"""The handler on API Gateway's recorded authorizer events (tests/vectors), all three
kinds, with the recorded token replaced by real ones."""

from __future__ import annotations

import pytest

from authorizer.responses import policy_allows


def test_rest_event_with_good_token_gets_iam_policy_allowing_its_route(harness, rest_event):
    response = harness.handler(rest_event.with_token(harness.token("orders:read")))
    assert response["principalId"] == "client-1"
    assert response["policyDocument"]["Version"] == "2012-10-17"
    assert policy_allows(response, rest_event.arn)
    line = harness.last()
    assert (line["decision"], line["reason"], line["client_id"]) == ("allow", "granted", "client-1")


def test_rest_event_scope_without_its_route_is_denied_by_the_policy(harness, rest_event):
    response = harness.handler(rest_event.with_token(harness.token("orders:write")))
    assert not policy_allows(response, rest_event.arn)
    assert harness.last()["decision"] == "deny"


@pytest.mark.parametrize(
    ("scope", "authorized"),
    [("orders:write", True), ("orders:read", False), ("orders:read orders:write", True)],
    ids=["write-scope", "read-only", "both"],
)
def test_http_v2_event_simple_response_decides_its_route(harness, http_event, scope, authorized):
    response = harness.handler(http_event.with_token(harness.token(scope)))
    assert response["isAuthorized"] is authorized
    assert set(response) == {"isAuthorized", "context"}
    assert response["context"]["scope"] == scope
    assert harness.last()["reason"] == ("granted" if authorized else "route_not_permitted")


def test_http_v2_event_with_iam_setting_builds_policy_from_route_arn(make_harness, http_event):
    h = make_harness(env={"AUTHORIZER_RESPONSE": "iam"})
    response = h.handler(http_event.with_token(h.token("orders:write")))
    resources = response["policyDocument"]["Statement"][0]["Resource"]
    prefix = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/"
    assert all(r.startswith(prefix) for r in resources)
    assert prefix + "POST/merchants" in resources


@pytest.mark.parametrize(
    "authorization",
    [None, "", "allow", "user1,123", "value", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ",
     "Bearer a b", "Bearer\tx.y.z", "Token x.y.z", "Bearer x.y.z extra"],
    ids=["absent", "empty", "recorded-allow", "recorded-user", "recorded-value", "basic",
         "scheme-only", "scheme-space", "two-tokens", "tab", "other-scheme", "trailing"],
)
def test_missing_or_malformed_authorization_is_unauthorized(harness, recorded, authorization):
    event = recorded.with_authorization(authorization)
    with pytest.raises(Exception, match=r"\AUnauthorized\Z") as info:
        harness.handler(event)
    assert type(info.value) is Exception
    assert harness.last()["decision"] == "unauthorized"


def test_recorded_events_unmodified_are_unauthorized(harness, recorded):
    with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
        harness.handler(recorded.event)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
@pytest.mark.parametrize("spaces", [1, 3])
def test_bearer_scheme_case_insensitive_and_one_or_more_spaces(harness, events, scheme, spaces):
    event = events("go-request").with_authorization(scheme + " " * spaces + harness.token())
    assert policy_allows(harness.handler(event), event["methodArn"])


@pytest.mark.parametrize(
    ("name", "header"),
    [("go-request", "AUTHORIZATION"), ("go-request", "authorization"),
     ("powertools-v2", "Authorization"), ("go-v2", "aUtHoRiZaTiOn")],
)
def test_header_name_is_case_insensitive(harness, events, name, header):
    event = events(name).with_authorization(None)
    event["headers"][header] = "Bearer " + harness.token("orders:read orders:write")
    event.pop("multiValueHeaders", None)
    response = harness.handler(event)
    assert response.get("isAuthorized", True) is True


def test_two_authorization_values_are_refused_not_guessed(harness, events):
    event = events("go-request").with_token(harness.token())
    event["multiValueHeaders"]["Authorization"].append("Bearer other")
    with pytest.raises(Exception, match="Unauthorized"):
        harness.handler(event)
    assert harness.last()["reason"] == "ambiguous_authorization"


@pytest.mark.parametrize(
    "event",
    [None, [], "TOKEN", {}, {"type": "TOKEN"}, {"type": "TOKEN", "methodArn": 5},
     {"type": "TOKEN", "methodArn": "not-an-arn", "authorizationToken": "Bearer x"},
     {"type": "REQUEST"}, {"type": "COGNITO"}, {"version": "2.0"},
     {"version": "2.0", "routeArn": "arn:aws:execute-api:r:a:api/stage/GET/",
      "requestContext": {"http": {"method": 1, "path": "/"}}},
     {"httpMethod": "GET", "path": "/", "headers": {"Authorization": "Bearer x"}}],
    ids=["none", "list", "string", "empty", "token-no-arn", "token-arn-int", "token-bad-arn",
         "request-no-arn", "unknown-type", "v2-no-route-arn", "v2-bad-method", "proxy-event"],
)
def test_unrecognised_event_shape_is_unauthorized_bad_event(harness, event):
    with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
        harness.handler(event)
    assert harness.last()["reason"] == "bad_event"


def test_unexpected_internal_error_is_unauthorized_with_reason(harness, events, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.authorizer, "decide", explode)
    event = events("go-token").with_token(harness.token())
    with pytest.raises(Exception, match=r"\AUnauthorized\Z") as info:
        harness.handler(event)
    assert type(info.value) is Exception
    assert harness.last()["reason"] == "internal_error"


def test_decision_log_line_never_holds_the_token(harness, events):
    token = harness.token()
    harness.handler(events("go-request").with_token(token))
    with pytest.raises(Exception, match="Unauthorized"):
        harness.handler(events("go-request").with_token(token[:-3]))
    text = harness.out.getvalue()
    assert token.split(".")[2][:20] not in text and token.split(".")[1][:20] not in text
    lines = harness.decisions()
    assert [line["decision"] for line in lines] == ["allow", "unauthorized"]
    assert set(lines[0]) >= {"decision", "reason", "client_id", "jti", "route", "us"}
    assert lines[0]["route"] == "GET /request"
    assert isinstance(lines[0]["us"], int)
