"""The policy loader: what it accepts, and that every refusal names file, API and route."""

from pathlib import Path

import pytest

from shared.policy import ADMIN_SCOPE, PolicyError, load_policy, parse_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "example_policy.toml"

HEAD = """
[apis.orders]
audience = "https://api.example.com/orders"
[apis.orders.scopes]
"orders:read" = "Read"
"orders:write" = "Write"
"""


def route(method='"GET"', path='"/orders/*"', extra='scopes = ["orders:read"]') -> str:
    return f"\n[[apis.orders.routes]]\nmethod = {method}\npath = {path}\n{extra}\n"


def test_example_policy_loads_with_its_apis_and_scopes():
    policy = load_policy(EXAMPLE)
    assert set(policy.apis) == {"orders", "inventory"}
    orders = policy.apis["orders"]
    assert orders.audience == "https://api.example.com/orders"
    assert policy.api_for_audience("https://api.example.com/inventory") is policy.apis["inventory"]
    assert policy.api_for_audience("https://elsewhere") is None
    assert policy.scopes_supported == (
        "inventory:read",
        "orders:admin",
        "orders:read",
        "orders:write",
    )
    assert policy.api_for_scope("orders:admin") is orders
    assert policy.api_for_scope(ADMIN_SCOPE) is None
    delete = next(r for r in orders.routes if r.method == "DELETE")
    assert delete.all_of == ("orders:write", "orders:admin") and delete.scopes == ()


def test_parsed_policy_is_immutable_and_hashable():
    policy = parse_policy(HEAD + route(), "p.toml")
    api = policy.apis["orders"]
    with pytest.raises(AttributeError):
        api.audience = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        api.scopes["orders:new"] = "x"  # type: ignore[index]
    assert hash(api) == hash(parse_policy(HEAD + route(), "p.toml").apis["orders"])


def test_both_scopes_and_all_of_are_kept():
    policy = parse_policy(
        HEAD + route(extra='scopes = ["orders:read"]\nall_of = ["orders:write"]'), "p.toml"
    )
    r = policy.apis["orders"].routes[0]
    assert (r.scopes, r.all_of) == (("orders:read",), ("orders:write",))


# (id, policy text, fragments the message must contain)
ERRORS = [
    ("not-toml", "[apis.orders", ["p.toml", "not valid TOML"]),
    ("no-apis", "", ["p.toml", "at least one API"]),
    ("unknown-top-key", HEAD + "\n[other]\n", ["p.toml", "'other'"]),
    (
        "unknown-api-key",
        HEAD.replace("[apis.orders.scopes]", "owner = 'x'\n[apis.orders.scopes]"),
        ["p.toml", "api 'orders'", "'owner'"],
    ),
    (
        "audience-missing",
        HEAD.replace('audience = "https://api.example.com/orders"', ""),
        ["api 'orders'", "audience"],
    ),
    (
        "audience-empty",
        HEAD.replace('"https://api.example.com/orders"', '""'),
        ["api 'orders'", "audience"],
    ),
    (
        "audience-not-string",
        HEAD.replace('"https://api.example.com/orders"', "3"),
        ["api 'orders'", "audience"],
    ),
    (
        "audience-duplicate",
        HEAD + '[apis.more]\naudience = "https://api.example.com/orders"\n'
        '[apis.more.scopes]\n"more:x" = "x"\n',
        ["api 'more'", "already the audience of api 'orders'"],
    ),
    (
        "scope-duplicate-across-apis",
        HEAD + '[apis.more]\naudience = "m"\n[apis.more.scopes]\n"orders:read" = "x"\n',
        ["api 'more'", "'orders:read'", "already declared by api 'orders'"],
    ),
    ("scope-with-space", HEAD + '"bad scope" = "x"\n', ["api 'orders'", "'bad scope'", "3.3"]),
    ("scope-with-quote", HEAD + '"bad\\"q" = "x"\n', ["api 'orders'", "scope-token"]),
    ("scope-with-backslash", HEAD + '"bad\\\\q" = "x"\n', ["api 'orders'", "scope-token"]),
    ("scope-admin-reserved", HEAD + f'"{ADMIN_SCOPE}" = "x"\n', ["api 'orders'", "built in"]),
    ("scope-description-not-string", HEAD + '"orders:x" = 1\n', ["'orders:x'", "description"]),
    ("no-scopes-table", '[apis.orders]\naudience = "a"\n', ["api 'orders'", "scopes"]),
    (
        "routes-not-array",
        HEAD.replace("[apis.orders.scopes]", "routes = 3\n[apis.orders.scopes]"),
        ["api 'orders'", "routes"],
    ),
    (
        "route-unknown-key",
        HEAD + route(extra='scopes = ["orders:read"]\npublic = true'),
        ["p.toml", "api 'orders'", "routes[0] (GET /orders/*)", "'public'"],
    ),
    ("method-lowercase", HEAD + route(method='"get"'), ["routes[0] (get /orders/*)", "method"]),
    ("method-unknown", HEAD + route(method='"TRACE"'), ["routes[0] (TRACE /orders/*)", "method"]),
    (
        "method-missing",
        HEAD + '\n[[apis.orders.routes]]\npath = "/x"\nscopes = ["orders:read"]\n',
        ["routes[0] (? /x)", "method"],
    ),
    (
        "path-missing",
        HEAD + '\n[[apis.orders.routes]]\nmethod = "GET"\nscopes = ["orders:read"]\n',
        ["routes[0] (GET ?)", "path"],
    ),
    ("path-relative", HEAD + route(path='"orders"'), ["routes[0] (GET orders)", "start with '/'"]),
    ("path-trailing-slash", HEAD + route(path='"/orders/"'), ["routes[0]", "empty"]),
    ("path-double-slash", HEAD + route(path='"/a//b"'), ["routes[0]", "empty"]),
    ("path-star-in-literal", HEAD + route(path='"/orders/a*"'), ["routes[0]", "wildcard"]),
    ("path-question-mark", HEAD + route(path='"/orders?x=1"'), ["routes[0]", "wildcard"]),
    ("path-globstar-not-last", HEAD + route(path='"/a/**/b"'), ["routes[0]", "last segment"]),
    ("path-bad-name", HEAD + route(path='"/a/{1x}"'), ["routes[0]", "{1x}"]),
    ("path-name-twice", HEAD + route(path='"/a/{id}/{id}"'), ["routes[0]", "used twice"]),
    ("path-partial-name", HEAD + route(path='"/a/{id}.json"'), ["routes[0]", "not allowed"]),
    ("path-space", HEAD + route(path='"/a b"'), ["routes[0]", "not allowed"]),
    ("path-bad-percent", HEAD + route(path='"/a%zz"'), ["routes[0]", "percent-encoding"]),
    ("path-dot-segment", HEAD + route(path='"/a/.."'), ["routes[0]", "dot-segment"]),
    ("no-scopes-at-all", HEAD + route(extra=""), ["routes[0] (GET /orders/*)", "never public"]),
    ("empty-scopes-list", HEAD + route(extra="scopes = []"), ["routes[0]", "empty list"]),
    ("empty-all-of-list", HEAD + route(extra="all_of = []"), ["routes[0]", "empty list"]),
    ("scopes-not-list", HEAD + route(extra='scopes = "orders:read"'), ["routes[0]", "list"]),
    (
        "scope-undeclared",
        HEAD + route(extra='scopes = ["orders:raed"]'),
        ["api 'orders'", "routes[0] (GET /orders/*)", "'orders:raed'", "not declared"],
    ),
    (
        "all-of-undeclared",
        HEAD + route(extra='all_of = ["orders:read", "x:y"]'),
        ["routes[0]", "'x:y'", "not declared"],
    ),
    (
        "scope-of-other-api",
        HEAD + '[apis.more]\naudience = "m"\n[apis.more.scopes]\n"more:x" = "x"\n'
        '[[apis.more.routes]]\nmethod = "GET"\npath = "/m"\nscopes = ["orders:read"]\n',
        ["api 'more'", "routes[0] (GET /m)", "'orders:read'", "not declared"],
    ),
    (
        "scope-listed-twice",
        HEAD + route(extra='scopes = ["orders:read", "orders:read"]'),
        ["routes[0]", "twice"],
    ),
    ("duplicate-route", HEAD + route() + route(), ["routes[1] (GET /orders/*)", "routes[0]"]),
    (
        "route-not-table",
        HEAD.replace("[apis.orders.scopes]", "routes = [1]\n[apis.orders.scopes]"),
        ["api 'orders'", "routes[0]"],
    ),
    (
        "bad-api-name",
        '[apis."orders x"]\naudience = "a"\n[apis."orders x".scopes]\n"o:r" = "r"\n',
        ["api 'orders x'", "API name"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_invalid_policy_is_refused_with_a_message_naming_where(text, fragments):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.toml")
    message = str(info.value)
    assert message.startswith("p.toml")
    for fragment in fragments:
        assert fragment in message


def test_load_policy_names_a_missing_file(tmp_path):
    with pytest.raises(PolicyError, match=r"nope\.toml"):
        load_policy(tmp_path / "nope.toml")


def test_load_policy_refuses_non_utf8(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b'[apis.x]\naudience = "\xff"\n')
    with pytest.raises(PolicyError, match=r"bad\.toml.*UTF-8"):
        load_policy(path)
