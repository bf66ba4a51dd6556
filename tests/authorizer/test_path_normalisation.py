"""The path the authorizer decides is the path the API serves (issue 12, item 9).

The attack: `GET /entries/1%2Flines` is one segment to a matcher that splits the raw path
on "/", so it falls under the one-segment rule `GET /entries/{id}`; the service behind the
gateway decodes the path first (ASGI `path` is percent-decoded) and serves
`/entries/{id}/lines`, which needs another scope. The same holds for `%5C` (a separator
on some servers), dot segments (`..`, `%2E%2E`: removed by RFC 3986 §5.2.4 resolution),
`//`, and double encoding (`%252F`, decoded twice by some chains).

What must hold, for all three event kinds: such a path is never allowed. Here the
authorizer refuses it before any token work (`ambiguous_path`, unauthorized), and the IAM
policy it returns (cached by API Gateway per token and evaluated against later method
ARNs without calling the authorizer) denies such resources too, whatever route filled
the cache. HTTP API events carry the path already decoded; there the route key API
Gateway selected must fit the decoded path, else the route was chosen on another reading
of it.

The test policy (conftest): `GET /entries/{id}` needs `entries:read`,
`GET /entries/{id}/lines` needs `orders:write`, `GET /orders/*` needs `orders:read`
(no deeper route), `GET /` needs `orders:read`.
"""

from __future__ import annotations

import copy

import pytest

from authorizer.responses import policy_allows

REST_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/"

# (path as sent, scope the token carries): each path, decoded and normalised, is a route
# that scope does not grant (or no route at all), while its raw form looks like one that
# the scope grants.
AMBIGUOUS = [
    ("/entries/1%2Flines", "entries:read"),      # decoded: /entries/1/lines (orders:write)
    ("/entries/1%2flines", "entries:read"),      # lower-case hex is the same octet
    ("/entries/1%5Clines", "entries:read"),      # "\" is a separator on some servers
    ("/entries/1%5clines", "entries:read"),
    ("/entries/1\\lines", "entries:read"),
    ("/entries/..", "entries:read"),             # resolves to "/" (orders:read)
    ("/entries/%2E%2E", "entries:read"),
    ("/entries/%2e%2e", "entries:read"),
    ("/entries/.%2E", "entries:read"),
    ("/entries/.", "entries:read"),              # resolves to /entries/
    ("/entries/1%252Flines", "entries:read"),    # decoded twice: /entries/1/lines
    ("/entries/1%25252Flines", "entries:read"),
    ("/orders/1%2Flines", "orders:read"),        # /orders/1/lines: no route at all
    ("/orders/1%3Flines", "orders:read"),        # a decoded "?" cuts the path there
    ("/orders/1%23lines", "orders:read"),        # a decoded "#" likewise
    ("/orders/1%00", "orders:read"),
    ("//entries/1", "entries:read"),             # empty segment: "//" is merged by some
    ("/entries//1", "entries:read"),
    # ":" splits the method ARN into another colon-separated segment, where IAM's
    # wildcards of the Allow and of the carve-outs may match differently.
    ("/entries/1:lines", "entries:read"),
    ("/entries/1%3Alines", "entries:read"),
    ("/entries/1%3alines", "entries:read"),
]
IDS = [p for p, _ in AMBIGUOUS]
# The forms the IAM policy itself carves out: every percent-encoded one and "//". Raw "\"
# and raw dot-segments are refused by the authorizer only (authorizer/responses.py says
# why they can not be policy resources).
RAW = {"/entries/1\\lines", "/entries/..", "/entries/."}
ENCODED = [(p, s) for p, s in AMBIGUOUS if p not in RAW]

# Percent-encodings that change no segment boundary stay allowed (RFC 3986 §2.1).
PLAIN = ["/entries/a%20b", "/entries/caf%C3%A9", "/entries/1%402", "/entries/..a", "/entries/.x"]


def _rest_request(events, token: str, path: str) -> dict:
    event = events("go-request").with_token(token)
    event["methodArn"] = REST_PREFIX + "GET" + path
    event["path"] = path
    event["resource"] = "/entries/{id}"
    return event


def _token_event(events, token: str, path: str) -> dict:
    event = events("go-token").with_token(token)
    event["methodArn"] = REST_PREFIX + "GET" + path
    return event


def _http_event(events, token: str, path: str, route_key: str = "GET /entries/{id}",
                raw_path: str | None = None) -> dict:
    event = copy.deepcopy(events("go-v2").with_token(token))
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = raw_path if raw_path is not None else path
    event["requestContext"]["http"]["method"] = "GET"
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["stage"] = "$default"
    event["routeArn"] = REST_PREFIX + "GET" + path
    return event


def _refused(harness, event) -> str:
    """The refusal's reason code. REST: the "Unauthorized" raise (401). HTTP API: that
    raise, or a refusing response (`isAuthorized: false`, or a policy that does not allow
    the route ARN), whichever the handler answers HTTP API refusals with."""
    try:
        response = harness.handler(event)
    except Exception as exc:
        assert (type(exc), str(exc)) == (Exception, "Unauthorized")
    else:
        assert event.get("version") == "2.0"
        if "isAuthorized" in response:
            assert response["isAuthorized"] is False
        else:
            assert not policy_allows(response, event["routeArn"])
    assert harness.last()["decision"] == "unauthorized"
    return harness.last()["reason"]


@pytest.mark.parametrize(("path", "scope"), AMBIGUOUS, ids=IDS)
def test_rest_request_event_with_ambiguous_path_is_refused(harness, events, path, scope):
    event = _rest_request(events, harness.token(scope), path)
    assert _refused(harness, event) == "ambiguous_path"


@pytest.mark.parametrize(("path", "scope"), AMBIGUOUS, ids=IDS)
def test_token_event_with_ambiguous_method_arn_is_refused(harness, events, path, scope):
    event = _token_event(events, harness.token(scope), path)
    assert _refused(harness, event) == "ambiguous_path"


@pytest.mark.parametrize(("path", "scope"), AMBIGUOUS, ids=IDS)
def test_http_event_with_ambiguous_path_is_refused(harness, events, path, scope):
    # As sent (if API Gateway left the encoding in place): refused for what it is.
    route_key = "GET /orders/{id}" if path.startswith("/orders") else "GET /entries/{id}"
    event = _http_event(events, harness.token(scope), path, route_key)
    assert _refused(harness, event) == "ambiguous_path"


def test_rest_event_path_field_is_checked_too(harness, events):
    # The method ARN looks plain but the request's own path is not: refused, not guessed.
    event = _rest_request(events, harness.token("entries:read"), "/entries/1")
    event["path"] = "/entries/1%2Flines"
    assert _refused(harness, event) == "ambiguous_path"


@pytest.mark.parametrize(("decoded", "route_key", "scope"), [
    ("/entries/1/lines", "GET /entries/{id}", "entries:read"),
    ("/entries/1/lines", "GET /entries/{id}", "orders:write"),  # granted, still refused
    ("/orders/1/lines", "GET /orders/{id}", "orders:read"),
    ("/entries", "GET /entries/{id}", "entries:read"),
    ("/other/1", "GET /entries/{id}", "entries:read"),
])
def test_http_event_decoded_path_outside_its_route_key_is_refused(harness, events, decoded,
                                                                  route_key, scope):
    # HTTP APIs hand the authorizer the decoded path: /entries/1%2Flines arrives as
    # /entries/1/lines under the route key GET /entries/{id}. A simple response is cached
    # per route key, so deciding another route than the key's would be replayed onto
    # every other request under that key: refused.
    event = _http_event(events, harness.token(scope), decoded, route_key)
    assert _refused(harness, event) == "ambiguous_path"


@pytest.mark.parametrize(("path", "route_key", "scope", "authorized"), [
    ("/entries/1", "GET /entries/{id}", "entries:read", True),
    ("/entries/1/lines", "GET /entries/{id}/lines", "orders:write", True),
    ("/entries/1/lines", "GET /entries/{id}/lines", "entries:read", False),
    ("/entries/1/lines", "ANY /{proxy+}", "entries:read", False),
    ("/entries/1/lines", "ANY /entries/{proxy+}", "orders:write", True),
    ("/entries/1", "$default", "entries:read", True),
    ("/entries/1/lines", "$default", "entries:read", False),
])
def test_http_event_within_its_route_key_is_decided_on_the_path(harness, events, path,
                                                                route_key, scope, authorized):
    response = harness.handler(_http_event(events, harness.token(scope), path, route_key))
    assert response["isAuthorized"] is authorized


@pytest.mark.parametrize("path", PLAIN)
def test_plain_percent_encoding_is_decided_as_usual(harness, events, path):
    token = harness.token("entries:read")
    assert policy_allows(harness.handler(_rest_request(events, token, path)),
                         REST_PREFIX + "GET" + path)
    assert harness.last()["reason"] == "granted"
    assert harness.handler(_http_event(events, token, path))["isAuthorized"] is True


@pytest.mark.parametrize(("path", "scope"), ENCODED, ids=[p for p, _ in ENCODED])
def test_cached_iam_policy_denies_ambiguous_resources(harness, events, path, scope):
    # API Gateway caches the policy per token and evaluates it against each later method
    # ARN without calling the authorizer: the policy itself must deny these resources,
    # whichever route filled the cache, in the encoded form of the ARN.
    plain = "/orders/1" if path.startswith("/orders") else "/entries/1"
    response = harness.handler(_rest_request(events, harness.token(scope), plain))
    assert policy_allows(response, REST_PREFIX + "GET" + plain)
    assert not policy_allows(response, REST_PREFIX + "GET" + path)


@pytest.mark.parametrize(("decoded", "scope"), [
    ("/entries/1/lines", "entries:read"), ("/orders/1/lines", "orders:read"),
    ("/", "entries:read"), ("/entries/", "entries:read"),
])
def test_cached_iam_policy_denies_the_decoded_forms_too(harness, events, decoded, scope):
    # Should API Gateway put the decoded path in the method ARN, the policy's carve-outs
    # for deeper paths deny it: the scope grants none of these.
    plain = "/orders/1" if decoded.startswith("/orders") else "/entries/1"
    response = harness.handler(_rest_request(events, harness.token(scope), plain))
    assert not policy_allows(response, REST_PREFIX + "GET" + decoded)


def test_http_event_iam_response_denies_ambiguous_resources(make_harness, events):
    h = make_harness(env={"AUTHORIZER_RESPONSE": "iam"})
    response = h.handler(_http_event(events, h.token("entries:read"), "/entries/1"))
    assert policy_allows(response, REST_PREFIX + "GET/entries/1")
    for path, _ in ENCODED:
        assert not policy_allows(response, REST_PREFIX + "GET" + path), path


def test_raw_dot_and_backslash_are_not_policy_resources(harness, events):
    # serverless-offline compiles policy resources into unescaped regular expressions:
    # "." and "\\" there are metacharacters, so such a resource would deny nearly every
    # request (`*\\*` matches all). The policy keeps to characters that mean the same to it.
    response = harness.handler(_rest_request(events, harness.token("entries:read"),
                                             "/entries/1"))
    resources = [r for st in response["policyDocument"]["Statement"] for r in st["Resource"]]
    assert not [r for r in resources if "\\" in r or "/." in r]


def test_refused_before_any_token_work(harness, events):
    # A token under a kid nobody knows would make the verifier fetch the JWKS: the path is
    # refused first, so the issuer is never asked.
    token = harness.token("entries:read", kid="unknown-kid")
    assert _refused(harness, _rest_request(events, token, "/entries/1%2Flines")) == (
        "ambiguous_path")
    assert harness.issuer.calls == 0
    assert _refused(harness, _rest_request(events, token, "/entries/1")) == "unknown_kid"
    assert harness.issuer.calls == 1
