"""compile_iam on hand-written policies: allow globs, carve-out denies, inexact reports."""

from pathlib import Path

import pytest

from shared.iam import compile_iam, iam_allows
from shared.policy import load_policy, parse_policy
from shared.route_pattern import METHODS

EXAMPLE = load_policy(Path(__file__).resolve().parents[2] / "shared" / "example_policy.toml")


def api(*routes: tuple[str, str, str]):
    """One API 't' with scopes r, w, x and routes (method, path, scope)."""
    text = '[apis.t]\naudience = "t"\n[apis.t.scopes]\nr = "r"\nw = "w"\nx = "x"\n'
    for method, path, scope in routes:
        text += f'[[apis.t.routes]]\nmethod = "{method}"\npath = "{path}"\nscopes = ["{scope}"]\n'
    return parse_policy(text, "t.toml").apis["t"]


def test_spec_carve_out_entries_lines():
    # docs/threat-model.md §5: /entries/{id} must not grant /entries/42/lines through IAM's "*".
    entries = api(("GET", "/entries/{id}", "r"), ("GET", "/entries/{id}/lines", "w"))
    grant = compile_iam([entries], frozenset({"r"}))
    assert grant.allow == ("GET/entries/*",)
    assert grant.inexact == ()
    assert iam_allows(grant, "GET", "/entries/42")
    assert not iam_allows(grant, "GET", "/entries/42/lines")
    assert not iam_allows(grant, "GET", "/entries/42/other/deeper")
    assert not iam_allows(grant, "GET", "/entries/")


def test_both_granted_keeps_deny_off_the_deeper_route_and_reports_inexact():
    entries = api(("GET", "/entries/{id}", "r"), ("GET", "/entries/{id}/lines", "r"))
    grant = compile_iam([entries], frozenset({"r"}))
    assert iam_allows(grant, "GET", "/entries/42/lines")
    assert iam_allows(grant, "GET", "/entries/42")
    # /entries/42/other is undeclared; IAM globs can not exclude it without also
    # excluding .../lines, so the compiler must say so.
    assert iam_allows(grant, "GET", "/entries/42/other")
    assert any("GET/entries/*" in line and "GET /entries/" in line for line in grant.inexact)
    assert not iam_allows(grant, "GET", "/entries/42/lines/more")


def test_declared_route_that_can_not_be_carved_is_named_in_inexact():
    # Denying GET/a/*/* (for /a/{x}/{y}) would also deny the granted /a/{x}/c/d.
    a = api(("GET", "/a/{x}", "r"), ("GET", "/a/{x}/c/d", "r"), ("GET", "/a/{x}/{y}", "w"))
    grant = compile_iam([a], frozenset({"r"}))
    assert iam_allows(grant, "GET", "/a/1/c/d")
    assert iam_allows(grant, "GET", "/a/1/2")  # the over-grant, and it is reported:
    assert any("GET /a/{x}/{y}" in line and "routes[2]" in line for line in grant.inexact)


def test_method_star_is_expanded_to_the_seven_verbs():
    grant = compile_iam([api(("*", "/things/{id}", "r"))], frozenset({"r"}))
    assert grant.allow == tuple(f"{m}/things/*" for m in METHODS)  # in METHODS order
    assert not any(g.startswith("*") for g in grant.allow + grant.deny)
    assert not iam_allows(grant, "GET", "/x/things/1")
    assert not iam_allows(grant, "TRACE", "/things/1")
    for m in METHODS:
        assert iam_allows(grant, m, "/things/1")
        assert not iam_allows(grant, m, "/things/1/2")


# (id, route path, expected allow)
GLOBS = [
    ("root", "/", ("GET/",)),
    ("literal", "/a/b", ("GET/a/b",)),
    ("one", "/a/*", ("GET/a/*",)),
    ("named", "/a/{id}/b", ("GET/a/*/b",)),
    ("globstar", "/items/**", ("GET/items", "GET/items/*")),
    ("root-globstar", "/**", ("GET/*",)),
]


@pytest.mark.parametrize(("path", "allow"), [c[1:] for c in GLOBS], ids=[c[0] for c in GLOBS])
def test_allow_globs(path, allow):
    assert compile_iam([api(("GET", path, "r"))], frozenset({"r"})).allow == allow


def test_globstar_grants_every_depth_but_no_empty_segment():
    grant = compile_iam([api(("GET", "/items/**", "r"))], frozenset({"r"}))
    assert grant.inexact == ()
    for path in ("/items", "/items/a", "/items/a/b/c"):
        assert iam_allows(grant, "GET", path), path
    for path in ("/items/", "/items//a", "/items/a/", "/items/a//b", "/itemsx"):
        assert not iam_allows(grant, "GET", path), path


def test_no_granted_route_gives_an_empty_grant():
    grant = compile_iam([api(("GET", "/a", "r"))], frozenset({"w"}))
    assert (grant.allow, grant.deny, grant.inexact) == ((), (), ())


def test_example_policy_writer_grant_is_exact():
    orders = EXAMPLE.apis["orders"]
    grant = compile_iam([orders], frozenset({"orders:write"}))
    assert grant.allow == ("POST/orders", "PUT/orders/*")
    assert grant.deny == ("PUT/*/", "PUT/*//*", "PUT/orders/*/*")
    assert grant.inexact == ()


def test_example_policy_reader_grant_reports_its_only_inexact_region():
    grant = compile_iam([EXAMPLE.apis["orders"]], frozenset({"orders:read"}))
    assert grant.allow == ("GET/orders", "GET/orders/*")
    assert iam_allows(grant, "GET", "/orders/1/lines")
    assert not iam_allows(grant, "GET", "/orders/1/lines/2")
    assert not iam_allows(grant, "DELETE", "/orders/1")
    assert len(grant.inexact) == 1 and "GET/orders/*" in grant.inexact[0]


def test_deterministic_deduplicated_and_cached():
    a = api(("GET", "/a/{x}", "r"), ("*", "/a/{y}", "r"), ("GET", "/b", "w"))
    first = compile_iam([a], frozenset({"r", "w"}))
    assert len(set(first.allow)) == len(first.allow)
    assert compile_iam([a], {"w", "r"}) is first  # same key: served from the cache
    reordered = api(("GET", "/b", "w"), ("*", "/a/{y}", "r"), ("GET", "/a/{x}", "r"))
    assert compile_iam([reordered], frozenset({"r", "w"})) == first


def test_routes_of_several_apis_are_compiled_together():
    grant = compile_iam(EXAMPLE.apis.values(), frozenset({"orders:write", "inventory:read"}))
    assert "GET/items" in grant.allow and "POST/orders" in grant.allow
    assert iam_allows(grant, "GET", "/items/1/2")
    assert not iam_allows(grant, "GET", "/orders/1")


def test_declared_route_not_granted_is_denied_by_its_own_glob():
    # GET/a/*/* can not be denied (it would refuse the granted /a/{x}/c), so only the
    # route's own glob GET/a/*/d carves /a/{x}/d out; undeclared /a/1/zz stays inexact.
    a = api(("GET", "/a/{x}", "r"), ("GET", "/a/{x}/c", "r"), ("GET", "/a/{x}/d", "w"))
    grant = compile_iam([a], frozenset({"r"}))
    assert "GET/a/*/d" in grant.deny
    assert iam_allows(grant, "GET", "/a/1/c")
    assert not iam_allows(grant, "GET", "/a/1/d")
    assert not any("/a/{x}/d" in line for line in grant.inexact)
    assert iam_allows(grant, "GET", "/a/1/zz") and grant.inexact
