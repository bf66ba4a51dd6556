"""Properties over random small policies, scope sets and paths.

Segments come from a tiny alphabet so that literals, wildcards and IAM's slash-crossing
"*" collide often. Checked:
  - the exact matcher agrees with a reference written here independently (regexes);
  - the IAM evaluation of compile_iam's grant (1) allows everything the exact matcher
    allows, (2) denies every path of a declared route that the scopes do not grant,
    unless `inexact` names that route, (3) denies undeclared paths unless `inexact` is
    non-empty; and every example `inexact` gives is a real over-grant.

Examples per test: max(150, the loaded Hypothesis profile's max_examples), so a CI
profile loaded with `pytest --hypothesis-profile=NAME` can raise it.
"""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.iam import compile_iam, iam_allows
from shared.policy import parse_policy
from shared.route_pattern import METHODS

PROPERTY = settings(max_examples=max(150, settings.default.max_examples), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

SCOPES = ("s1", "s2", "s3")
LITERALS = ("a", "b", "ab")
VALUES = ("a", "b", "ab", "x", "a*b")  # what a request puts in a wildcard segment
REQUEST_METHODS = ("GET", "POST", "DELETE")

scope_lists = st.lists(st.sampled_from(SCOPES), min_size=1, max_size=2, unique=True)


@st.composite
def route_paths(draw) -> str:
    segments = draw(st.lists(st.sampled_from((*LITERALS, "*", "{}")), max_size=3))
    segments = [f"{{n{i}}}" if s == "{}" else s for i, s in enumerate(segments)]
    if draw(st.booleans()):
        segments.append("**")
    return "/" + "/".join(segments)


@st.composite
def routes(draw) -> dict:
    rule = draw(st.sampled_from(("scopes", "all_of", "both")))
    return {
        "method": draw(st.sampled_from(("GET", "POST", "*"))),
        "path": draw(route_paths()),
        "scopes": draw(scope_lists) if rule in ("scopes", "both") else None,
        "all_of": draw(scope_lists) if rule in ("all_of", "both") else None,
    }


policies = st.lists(routes(), min_size=1, max_size=5,
                    unique_by=lambda r: (r["method"], r["path"]))


def toml(rules: list[dict]) -> str:
    text = '[apis.t]\naudience = "t"\n[apis.t.scopes]\n'
    text += "".join(f'{s} = "{s}"\n' for s in SCOPES)
    for r in rules:
        text += f'[[apis.t.routes]]\nmethod = "{r["method"]}"\npath = "{r["path"]}"\n'
        for key in ("scopes", "all_of"):
            if r[key]:
                text += f"{key} = [{', '.join(map(repr, r[key]))}]\n"
    return text


# --- the reference: route paths as regular expressions, written apart from the code ---

def reference_regex(path: str) -> str:
    if path == "/":
        return "/"
    if path == "/**":
        return "/|(/[^/]+)+"
    out = ""
    for seg in path[1:].split("/"):
        if seg == "**":
            out += "(/[^/]+)*"
        elif seg == "*" or seg.startswith("{"):
            out += "/[^/]+"
        else:
            out += "/" + re.escape(seg)
    return out


def declared(rule: dict, method: str, path: str) -> bool:
    return (method in METHODS and rule["method"] in (method, "*")
            and re.fullmatch(reference_regex(rule["path"]), path) is not None)


def granted(rule: dict, scopes: frozenset[str]) -> bool:
    any_of, all_of = rule["scopes"] or [], rule["all_of"] or []
    return (not any_of or any(s in scopes for s in any_of)) and all(s in scopes for s in all_of)


def reference_allows(rules: list[dict], scopes: frozenset[str], method: str, path: str) -> bool:
    return any(declared(r, method, path) and granted(r, scopes) for r in rules)


# --- request paths: from the routes' languages and at random ---

@st.composite
def path_in(draw, route_path: str) -> str:
    if route_path == "/":
        return "/"
    out = []
    for seg in route_path[1:].split("/"):
        if seg == "**":
            out += draw(st.lists(st.sampled_from(VALUES), max_size=2))
        elif seg == "*" or seg.startswith("{"):
            out.append(draw(st.sampled_from(VALUES)))
        else:
            out.append(seg)
    return "/" + "/".join(out)


random_paths = st.lists(st.sampled_from((*VALUES, "")), max_size=4).map(
    lambda segs: "/" + "/".join(segs))


@st.composite
def requests(draw, rules: list[dict]) -> list[tuple[str, str]]:
    paths = draw(st.lists(random_paths, max_size=8))
    for r in rules:
        paths += draw(st.lists(path_in(r["path"]), min_size=1, max_size=3))
    methods = draw(st.lists(st.sampled_from(REQUEST_METHODS), min_size=1, max_size=3,
                            unique=True))
    return [(m, p) for m in methods for p in paths]


@PROPERTY
@given(rules=policies, scopes=st.frozensets(st.sampled_from(SCOPES)), data=st.data())
def test_exact_matcher_agrees_with_the_reference(rules, scopes, data):
    api = parse_policy(toml(rules), "random.toml").apis["t"]
    for method, path in data.draw(requests(rules)):
        assert api.allows(scopes, method, path) == reference_allows(rules, scopes, method, path), (
            method, path)


@PROPERTY
@given(rules=policies, scopes=st.frozensets(st.sampled_from(SCOPES)), data=st.data())
def test_iam_grant_is_exact_or_says_where_it_is_not(rules, scopes, data):
    api = parse_policy(toml(rules), "random.toml").apis["t"]
    grant = compile_iam([api], scopes)
    for method, path in data.draw(requests(rules)):
        exact = api.allows(scopes, method, path)
        iam = iam_allows(grant, method, path)
        if exact:
            assert iam, f"(1) IAM refuses the allowed {method} {path}: {grant}"
            continue
        if not iam:
            continue
        # IAM over-grants this call: only acceptable if `inexact` says so.
        matching = [r for r in rules if declared(r, method, path)]
        if matching:
            named = [f"{method} {r['path']} " for r in matching]
            assert any(n in line for n in named for line in grant.inexact), (
                f"(2) declared {method} {path} not granted but IAM allows it: {grant}")
        else:
            assert grant.inexact, f"(3) undeclared {method} {path} allowed by IAM: {grant}"


@PROPERTY
@given(rules=policies, scopes=st.frozensets(st.sampled_from(SCOPES)))
def test_inexact_examples_are_real_over_grants(rules, scopes):
    api = parse_policy(toml(rules), "random.toml").apis["t"]
    grant = compile_iam([api], scopes)
    if not grant.allow:
        assert grant.deny == () and grant.inexact == ()
    for line in grant.inexact:
        method, path = line.rsplit("e.g. ", 1)[1].split(" ", 1)
        assert iam_allows(grant, method, path), line
        assert not api.allows(scopes, method, path), line
