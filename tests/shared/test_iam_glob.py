"""IAM glob semantics (glob_match) and the IAM evaluation of a grant (iam_allows)."""

import time

import pytest

from shared.iam import IamGrant, glob_match, iam_allows

# (id, glob, resource, matches)
GLOBS = [
    ("literal", "GET/orders", "GET/orders", True),
    ("literal-differs", "GET/orders", "GET/order", False),
    ("literal-longer", "GET/orders", "GET/orders/1", False),
    ("case-sensitive", "GET/orders", "get/orders", False),
    ("star-one-segment", "GET/orders/*", "GET/orders/1", True),
    ("star-crosses-slash", "GET/orders/*", "GET/orders/1/lines", True),
    ("star-matches-empty", "GET/orders/*", "GET/orders/", True),
    ("star-not-without-slash", "GET/orders/*", "GET/orders", False),
    ("method-star-crosses-verb", "*/orders/*", "GET/x/orders/1", True),
    ("question-one-char", "GET/a?c", "GET/abc", True),
    ("question-slash", "GET/a?c", "GET/a/c", True),
    ("question-not-empty", "GET/a?c", "GET/ac", False),
    ("question-not-two", "GET/a?c", "GET/abbc", False),
    ("inner-star", "GET/a/*/lines", "GET/a/1/2/lines", True),
    ("inner-star-suffix", "GET/a/*/lines", "GET/a/1/line", False),
    ("backtracking", "a*b*c", "axxbyybzzc", True),
    ("backtracking-fail", "a*b*c", "axxbyybzz", False),
    ("star-only", "*", "", True),
    ("stars", "**", "anything/at/all", True),
    ("empty-glob", "", "", True),
    ("empty-glob-nonempty", "", "x", False),
    ("regex-chars-literal", "GET/a.b", "GET/axb", False),
    ("brackets-literal", "GET/[a]", "GET/a", False),
]


@pytest.mark.parametrize(("glob", "resource", "matches"), [c[1:] for c in GLOBS],
                         ids=[c[0] for c in GLOBS])
def test_glob_match(glob, resource, matches):
    assert glob_match(glob, resource) is matches


def test_glob_match_has_no_catastrophic_backtracking():
    start = time.perf_counter()
    assert not glob_match("a*a*a*a*a*a*a*a*b", "a" * 3000)
    assert time.perf_counter() - start < 2.0


GRANT = IamGrant(allow=("GET/orders/*", "POST/orders"), deny=("GET/orders/*/*",))

# (id, method, path, allowed)
EVALUATIONS = [
    ("allowed", "GET", "/orders/1", True),
    ("deny-beats-allow", "GET", "/orders/1/lines", False),
    ("other-allow", "POST", "/orders", True),
    ("implicit-deny", "PUT", "/orders/1", False),
    ("implicit-deny-path", "GET", "/customers/1", False),
    ("no-leading-slash", "GET", "orders/1", False),
]


@pytest.mark.parametrize(("method", "path", "allowed"), [c[1:] for c in EVALUATIONS],
                         ids=[c[0] for c in EVALUATIONS])
def test_iam_allows(method, path, allowed):
    assert iam_allows(GRANT, method, path) is allowed


def test_empty_grant_denies_everything():
    assert not iam_allows(IamGrant(allow=()), "GET", "/")
