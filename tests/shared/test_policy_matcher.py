"""The exact matcher: Api.allows and Policy.allows on hand-written cases."""

from pathlib import Path

import pytest

from shared.policy import load_policy, parse_policy

EXAMPLE = load_policy(Path(__file__).resolve().parents[2] / "shared" / "example_policy.toml")
ORDERS = EXAMPLE.apis["orders"]
INVENTORY = EXAMPLE.apis["inventory"]

R, W, A = "orders:read", "orders:write", "orders:admin"

# (id, api, scopes, method, path, allowed)
CASES = [
    ("list", ORDERS, {R}, "GET", "/orders", True),
    ("one", ORDERS, {R}, "GET", "/orders/42", True),
    ("lines", ORDERS, {R}, "GET", "/orders/42/lines", True),
    ("deeper-undeclared", ORDERS, {R}, "GET", "/orders/42/other", False),
    ("too-deep", ORDERS, {R}, "GET", "/orders/42/lines/1", False),
    ("trailing-slash", ORDERS, {R}, "GET", "/orders/", False),
    ("trailing-slash-one", ORDERS, {R}, "GET", "/orders/42/", False),
    ("empty-segment", ORDERS, {R}, "GET", "/orders//lines", False),
    ("double-leading-slash", ORDERS, {R}, "GET", "//orders", False),
    ("no-leading-slash", ORDERS, {R}, "GET", "orders", False),
    ("empty-path", ORDERS, {R}, "GET", "", False),
    ("case-sensitive-literal", ORDERS, {R}, "GET", "/Orders", False),
    ("wrong-scope", ORDERS, {W}, "GET", "/orders", False),
    ("no-scope", ORDERS, set(), "GET", "/orders", False),
    ("other-api-scope", ORDERS, {"inventory:read"}, "GET", "/orders", False),
    ("write-post", ORDERS, {W}, "POST", "/orders", True),
    ("write-post-one", ORDERS, {W}, "POST", "/orders/1", False),
    ("write-put", ORDERS, {W}, "PUT", "/orders/1", True),
    ("lowercase-method", ORDERS, {W}, "put", "/orders/1", False),
    ("unknown-method", ORDERS, {R, W, A}, "TRACE", "/orders", False),
    ("delete-needs-all-of", ORDERS, {W}, "DELETE", "/orders/1", False),
    ("delete-admin-alone", ORDERS, {A}, "DELETE", "/orders/1", False),
    ("delete-both", ORDERS, {W, A}, "DELETE", "/orders/1", True),
    ("read-does-not-write", ORDERS, {R}, "POST", "/orders", False),
    ("globstar-zero", INVENTORY, {"inventory:read"}, "GET", "/items", True),
    ("globstar-one", INVENTORY, {"inventory:read"}, "GET", "/items/a", True),
    ("globstar-deep", INVENTORY, {"inventory:read"}, "GET", "/items/a/b/c", True),
    ("globstar-trailing-slash", INVENTORY, {"inventory:read"}, "GET", "/items/a/", False),
    ("globstar-empty-segment", INVENTORY, {"inventory:read"}, "GET", "/items//a", False),
    ("globstar-prefix-only", INVENTORY, {"inventory:read"}, "GET", "/itemsx", False),
    ("globstar-method", INVENTORY, {"inventory:read"}, "HEAD", "/items", False),
    ("weird-chars-in-wildcard", ORDERS, {R}, "GET", "/orders/a*?b c", True),
]


@pytest.mark.parametrize(("api", "scopes", "method", "path", "allowed"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_api_allows(api, scopes, method, path, allowed):
    assert api.allows(frozenset(scopes), method, path) is allowed


POLICY = parse_policy("""
[apis.a]
audience = "aud-a"
[apis.a.scopes]
"a:x" = "x"
"a:y" = "y"
[[apis.a.routes]]
method = "*"
path = "/"
scopes = ["a:x"]
[[apis.a.routes]]
method = "PATCH"
path = "/{first}/*/end"
scopes = ["a:x"]
all_of = ["a:y"]
[[apis.a.routes]]
method = "GET"
path = "/**"
scopes = ["a:y"]

[apis.b]
audience = "aud-b"
[apis.b.scopes]
"b:x" = "x"
[[apis.b.routes]]
method = "GET"
path = "/b"
scopes = ["b:x"]
""", "inline")

# (id, audiences, scopes, method, path, allowed)
POLICY_CASES = [
    ("root-any-method", ["aud-a"], {"a:x"}, "OPTIONS", "/", True),
    ("root-not-below", ["aud-a"], {"a:x"}, "GET", "/x", False),
    ("both-any-of-and-all-of", ["aud-a"], {"a:x", "a:y"}, "PATCH", "/1/2/end", True),
    ("all-of-missing", ["aud-a"], {"a:x"}, "PATCH", "/1/2/end", False),
    ("any-of-missing", ["aud-a"], {"a:y"}, "PATCH", "/1/2/end", False),
    ("root-globstar-root", ["aud-a"], {"a:y"}, "GET", "/", True),
    ("root-globstar-deep", ["aud-a"], {"a:y"}, "GET", "/p/q", True),
    ("other-audience-routes", ["aud-a"], {"b:x", "a:x"}, "GET", "/b", False),
    ("second-audience", ["aud-a", "aud-b"], {"b:x"}, "GET", "/b", True),
    ("audience-as-string", "aud-b", {"b:x"}, "GET", "/b", True),
    ("unknown-audience", ["aud-z"], {"a:x"}, "GET", "/", False),
    ("no-audience", [], {"a:x"}, "GET", "/", False),
]


@pytest.mark.parametrize(("audiences", "scopes", "method", "path", "allowed"),
                         [c[1:] for c in POLICY_CASES], ids=[c[0] for c in POLICY_CASES])
def test_policy_allows(audiences, scopes, method, path, allowed):
    assert POLICY.allows(audiences, frozenset(scopes), method, path) is allowed


@pytest.mark.parametrize("path", [None, 3, b"/orders", "/orders\x00", "\u2603"], ids=repr)
def test_weird_input_is_denied_not_raised(path):
    assert ORDERS.allows(frozenset({R}), "GET", path) is False  # type: ignore[arg-type]
