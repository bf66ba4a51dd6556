"""The IAM policy: its shape, independence from the requested route, exactness (a
one-segment rule grants no deeper path), and the deny-all answers."""

from __future__ import annotations

import json
import time

import pytest

from authorizer.responses import policy_allows
from shared.iam import compile_iam, iam_allows

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/"


def request_event(events, token: str, method: str, path: str) -> dict:
    event = events("go-request").with_token(token)
    event["methodArn"] = f"{PREFIX}{method}{path}"
    event["httpMethod"], event["path"] = method, path
    return event


def test_iam_response_shape(harness, events):
    response = harness.handler(request_event(events, harness.token(), "GET", "/request"))
    assert set(response) == {"principalId", "policyDocument", "context"}
    doc = response["policyDocument"]
    assert doc["Version"] == "2012-10-17"
    for statement in doc["Statement"]:
        assert statement["Action"] == "execute-api:Invoke"
        assert statement["Effect"] in ("Allow", "Deny")
        assert isinstance(statement["Resource"], list) and statement["Resource"]
        assert all(r.startswith(PREFIX) for r in statement["Resource"])
    assert doc["Statement"][0]["Effect"] == "Allow"


def test_context_is_flat_strings_and_numbers(harness, events):
    token = harness.token("orders:read entries:read")
    context = harness.handler(request_event(events, token, "GET", "/request"))["context"]
    assert set(context) == {"client_id", "scope", "sub", "jti", "aud", "exp"}
    assert all(type(v) in (str, int, float, bool) for v in context.values())
    assert context["aud"] == harness.AUDIENCE and context["scope"] == "orders:read entries:read"
    assert isinstance(context["exp"], (int, float)) and context["sub"] == "client-1"


ROUTES = [("GET", "/request"), ("GET", "/orders/1"), ("POST", "/orders"), ("GET", "/"),
          ("DELETE", "/entries/1"), ("GET", "/entries/42/lines")]


@pytest.mark.parametrize("scope", ["orders:read", "entries:read", "orders:write", "nothing:here"])
def test_same_token_same_policy_bytes_for_any_route(make_harness, events, scope):
    h = make_harness()
    token = h.token(scope)
    answers = {json.dumps(h.handler(request_event(events, token, m, p)), sort_keys=True)
               for m, p in ROUTES}
    assert len(answers) == 1
    # A fresh instance (no token cache) gives the same bytes: the cache changes nothing.
    fresh = make_harness()
    again = fresh.handler(request_event(events, token, "PATCH", "/anything/else"))
    assert json.dumps(again, sort_keys=True) in answers


GRID = [("GET", "/"), ("GET", "/request"), ("GET", "/request/x"), ("GET", "/orders/1"),
        ("GET", "/orders/1/2"), ("GET", "/orders/"), ("GET", "/orders"), ("POST", "/orders/1"),
        ("GET", "/entries/42"), ("GET", "/entries/42/lines"), ("GET", "/entries/42/lines/7"),
        ("GET", "/entries/"), ("GET", "/entries"), ("GET", "/entries//lines"),
        ("POST", "/merchants"), ("POST", "/my/path"), ("POST", "/my/path/deeper"),
        ("GET", "/invoices/1")]


@pytest.mark.parametrize(
    "scope",
    ["orders:read", "entries:read", "orders:write", "entries:read orders:write",
     "orders:read orders:write entries:read"],
)
def test_policy_grants_exactly_what_the_policy_file_allows(harness, events, policy, scope):
    response = harness.handler(request_event(events, harness.token(scope), "GET", "/"))
    api = policy.api_for_audience(harness.AUDIENCE)
    grant = compile_iam([api], frozenset(scope.split()))
    for method, path in GRID:
        arn = f"{PREFIX}{method}{path}"
        expected = api.allows(frozenset(scope.split()), method, path)
        # The policy as returned (with its carve-outs), and the compiled grant it was
        # written from, both through the one IAM evaluator (shared.iam).
        assert policy_allows(response, arn) is expected, (method, path)
        assert iam_allows(grant, method, path) is expected, (method, path)


def test_one_segment_rule_does_not_grant_deeper_paths(harness, events):
    response = harness.handler(
        request_event(events, harness.token("entries:read"), "GET", "/entries/42"))
    assert policy_allows(response, PREFIX + "GET/entries/42")
    for deeper in ("GET/entries/42/lines", "GET/entries/42/x/y", "GET/entries/", "GET/entries"):
        assert not policy_allows(response, PREFIX + deeper), deeper


def test_no_permitted_route_is_a_single_deny_everything(harness, events):
    response = harness.handler(request_event(events, harness.token("nothing:here"), "GET", "/"))
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [PREFIX + "*/*"]}]
    assert harness.last()["reason"] == "no_route"


def test_no_policy_denies_every_valid_token(make_harness, events):
    h = make_harness(policy=None)
    response = h.handler(request_event(events, h.token("orders:read"), "GET", "/request"))
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert len(response["policyDocument"]["Statement"]) == 1
    assert (h.last()["decision"], h.last()["reason"]) == ("deny", "no_policy")
    assert any(line["event"] == "no_policy" for line in h.lines())


def test_only_apis_of_audiences_both_in_token_and_settings(make_harness, events):
    both = [make_harness().AUDIENCE, "https://api.example.com/billing"]
    h = make_harness()
    token = h.token("orders:read billing:read", audience=both)
    response = h.handler(request_event(events, token, "GET", "/request"))
    assert not policy_allows(response, PREFIX + "GET/invoices/1")  # billing not ours
    h2 = make_harness(env={"AUTHORIZER_AUDIENCE": ",".join(both)})
    response = h2.handler(request_event(events, h2.token("orders:read billing:read",
                                                        audience=both), "GET", "/request"))
    assert policy_allows(response, PREFIX + "GET/invoices/1")
    assert response["context"]["aud"] == " ".join(both)


def test_audience_ours_but_not_in_policy_is_no_api(make_harness, events):
    h = make_harness(env={"AUTHORIZER_AUDIENCE": "https://api.example.com/unknown"})
    token = h.token(audience="https://api.example.com/unknown")
    h.handler(request_event(events, token, "GET", "/request"))
    assert h.last()["reason"] == "no_api"


def test_stage_wildcard_of_token_event_is_kept(harness, events):
    event = events("go-token")
    response = harness.handler(event.with_token(harness.token()))
    prefix = "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/"
    assert all(r.startswith(prefix) for r in response["policyDocument"]["Statement"][0]["Resource"])


# -- repeat tokens ------------------------------------------------------------------


class CountingVerifier:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def verify(self, token, now=None):
        self.calls += 1
        return self.inner.verify(token, now)


@pytest.fixture
def counted(harness):
    counter = CountingVerifier(harness.authorizer._verifier)
    harness.authorizer._verifier = counter
    harness.counter = counter
    return harness


def test_repeat_token_is_not_verified_again(counted, events):
    h = counted
    token = h.token("orders:read")
    first = h.handler(request_event(events, token, "GET", "/request"))
    for method, path in ROUTES:
        assert h.handler(request_event(events, token, method, path)) == first
    assert h.counter.calls == 1


@pytest.mark.parametrize("spelling", ["bearer {}", "BEARER  {}", "Bearer {}x"],
                         ids=["scheme-case", "two-spaces", "other-token"])
def test_repeat_cache_is_keyed_by_the_exact_authorization_value(counted, events, spelling):
    # A hit skips the bearer parse, so it must only ever match the very string that was
    # parsed and verified: another spelling is parsed (and verified) on its own.
    h = counted
    token = h.token("orders:read")
    h.handler(request_event(events, token, "GET", "/request"))
    event = request_event(events, token, "GET", "/request")
    event["headers"] = {"Authorization": spelling.format(token)}
    event.pop("multiValueHeaders", None)
    if spelling.endswith("x"):
        with pytest.raises(Exception, match="Unauthorized"):
            h.handler(event)
    else:
        assert h.handler(event)["principalId"]
    assert h.counter.calls == 2


def test_cached_token_expires_with_its_exp(counted, events):
    h = counted
    token = h.token("orders:read", exp=int(h.wall()) + 10)
    h.handler(request_event(events, token, "GET", "/request"))
    h.wall.advance(9)
    h.handler(request_event(events, token, "GET", "/request"))
    assert h.counter.calls == 1
    h.wall.advance(1)  # at exp: the cache lets go, the verifier decides (leeway applies)
    h.handler(request_event(events, token, "GET", "/request"))
    assert h.counter.calls == 2
    h.wall.advance(h.settings.leeway)
    with pytest.raises(Exception, match="Unauthorized"):
        h.handler(request_event(events, token, "GET", "/request"))
    assert h.last()["reason"] == "expired"


def test_cached_token_no_longer_than_jwks_ttl(counted, events):
    h = counted
    token = h.token("orders:read", exp=int(h.wall()) + 3600)
    h.handler(request_event(events, token, "GET", "/request"))
    h.wall.advance(h.settings.jwks_ttl)
    h.handler(request_event(events, token, "GET", "/request"))
    assert h.counter.calls == 2


def test_simple_response_cached_per_route(make_harness, events):
    h = make_harness()
    token = h.token("orders:write")
    event = events("go-v2").with_token(token)
    assert h.handler(event)["isAuthorized"] is True
    event["requestContext"]["http"]["path"] = "/merchants/elsewhere"
    assert h.handler(event)["isAuthorized"] is False
    event["requestContext"]["http"]["path"] = "/my/path"
    assert h.handler(event)["isAuthorized"] is True


@pytest.mark.parametrize(
    ("stage", "path", "allowed"),
    [("$default", "/my/path", True), ("test", "/test/my/path", True),
     ("test", "/my/path", True), ("test", "/test", False), ("v1", "/test/my/path", False)],
)
def test_http_api_named_stage_prefix_is_stripped(make_harness, events, stage, path, allowed):
    h = make_harness()
    event = events("go-v2").with_token(h.token("orders:write"))
    event["requestContext"]["stage"] = stage
    event["requestContext"]["http"]["path"] = path
    assert h.handler(event)["isAuthorized"] is allowed


def test_token_cache_is_bounded(make_harness, events):
    from authorizer.token_cache import TokenCache

    cache = TokenCache(max_entries=3, clock=time.time)
    for i in range(10):
        cache.put(f"t{i}", i, time.time() + 100)
    assert len(cache) == 3 and cache.get("t9") == 9 and cache.get("t0") is None


INEXACT_TOML = """
[apis.orders]
audience = "https://api.example.com/orders"
[apis.orders.scopes]
"entries:read" = "Read entries"
[[apis.orders.routes]]
method = "GET"
path = "/entries/{id}"
scopes = ["entries:read"]
[[apis.orders.routes]]
method = "GET"
path = "/entries/{id}/lines"
scopes = ["entries:read"]
"""


def test_inexact_grant_is_logged_once_per_scope_set(make_harness, events):
    # IAM cannot allow /entries/* and /entries/*/lines yet refuse /entries/1/other: the
    # operator must be told once, not on every request.
    from shared.policy import parse_policy

    h = make_harness(policy=parse_policy(INEXACT_TOML, "inexact.toml"))
    for path in ("/entries/1", "/entries/2/lines"):
        h.handler(request_event(events, h.token("entries:read"), "GET", path))
    warnings = [line for line in h.lines() if line.get("event") == "iam_inexact"]
    assert len(warnings) == 1
    assert warnings[0]["scopes"] == "entries:read"
    assert "GET/entries/*" in warnings[0]["detail"]


def test_exact_grant_logs_no_inexact_warning(harness, events):
    harness.handler(request_event(events, harness.token("entries:read"), "GET", "/entries/42"))
    assert not [line for line in harness.lines() if line.get("event") == "iam_inexact"]
