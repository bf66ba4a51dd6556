"""Compile the policy into the IAM statements a REST API Lambda authorizer returns.

API Gateway caches a REST authorizer's policy per token (docs/caching.md), so the
policy must not depend on the route requested: it must grant exactly what the token's
scopes permit, everywhere. Resources are method ARNs,
`arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}/{path}`; this module
deals in the suffix after `{stage}/` ("GET/orders/*", the root path is "GET/").

IAM globs are coarser than route patterns: "*" matches any run of characters INCLUDING
"/" (so "GET/orders/*" also matches "GET/orders/1/lines") and may match nothing
("GET/orders/"). The compiler therefore:
  - allows one glob per granted route and concrete verb (a method "*" rule is expanded:
    "*/orders/*" would also match "GET/x/orders/1"), a "**" route giving two;
  - denies what the allow globs over-grant, with two kinds of candidates: the globs of
    declared routes the scopes do not grant, and the generic over-grants of each "*"
    (empty, an empty segment, spanning a "/": "GET/orders/*/*", or deeper);
  - keeps a deny only if it matches no path of any granted route, because an explicit
    Deny beats every Allow and would refuse a legitimate call;
  - proves the result with automata (shared/iam_automata.py): whatever an allow glob
    still grants beyond the granted routes is reported in `inexact`, naming the
    declared routes it reaches, with an example. Declared routes that are not granted
    are denied exactly whenever IAM globs can express it; otherwise `inexact` says so.

And the one evaluator of an IAM policy document against a resource (`policy_allows`), as
API Gateway applies an authorizer's policy to a method ARN: `authorizer check`,
`authorizer gateway` and the tests use it; `iam_allows` is the same rule on a compiled
grant. The rules, from AWS's IAM reference:
- Action: "The prefix and the action name are case insensitive"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html),
  with the `*` and `?` wildcards;
- Resource: `*` any run of characters, `/` included, `?` one character, otherwise exact
  and case-sensitive
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html);
- Effect: exactly `Allow` or `Deny`, "The Effect value is case sensitive"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_effect.html);
- an applicable Deny beats every Allow; nothing applicable is an implicit deny
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html).
Not modelled: a `*` that is not a segment's last character is documented to stay inside
its colon-separated ARN segment; ours may cross a `:`, which only a request path holding
one could tell apart. Statements with `NotAction`, `NotResource`, `Condition` or
`Principal` are refused (`PolicyError`) rather than evaluated approximately: the
authorizer never writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from shared.iam_automata import Nfa, TooComplex, covers, find_word, glob_nfa, route_nfa
from shared.policy import Api, Route
from shared.route_pattern import METHODS, ONE, TAIL

# Placeholders for the wildcards of a glob while its variants are built.
_ONE_MARK, _TAIL_MARK = "\x00", "\x01"
# What a "*" can match in IAM but no route path can hold: an empty segment, at the start
# ("GET//x"), inside ("GET/a//b") or at the end ("GET/a/"). Routes never match one, so
# these denies are always safe; they replace every per-wildcard empty-segment variant.
_EMPTY_SEGMENTS = ("{}//*", "{}/*//*", "{}/*/")


@dataclass(frozen=True, slots=True)
class IamGrant:
    """Resource suffixes to Allow and to Deny; `inexact` lists what could not be carved."""

    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()
    inexact: tuple[str, ...] = ()


def glob_match(glob: str, resource: str) -> bool:
    """IAM resource matching: "*" any run of characters (even "/"), "?" one character.

    Iterative with one backtrack point (the last "*"), so O(len(glob) * len(resource))
    at worst: no regular expression, no catastrophic backtracking.
    """
    g = r = 0
    star_g, star_r = -1, 0
    while r < len(resource):
        if g < len(glob) and glob[g] == "*":
            star_g, star_r = g, r
            g += 1
        elif g < len(glob) and (glob[g] == "?" or glob[g] == resource[r]):
            g += 1
            r += 1
        elif star_g >= 0:
            star_r += 1  # let the last "*" swallow one more character
            g, r = star_g + 1, star_r
        else:
            return False
    return all(c == "*" for c in glob[g:])


# The action API Gateway authorizes a call to a method ARN with.
INVOKE = "execute-api:Invoke"
_EFFECTS = ("Allow", "Deny")
_ELEMENTS = frozenset({"Sid", "Effect", "Action", "Resource"})


class PolicyError(ValueError):
    """A policy document IAM would not accept, or with elements not evaluated here."""


def _strings(value: object, element: str) -> tuple[str, ...]:
    if type(value) is str:
        return (value,)
    if type(value) is list and value and all(type(v) is str for v in value):
        return tuple(value)
    raise PolicyError(f"{element} must be a string or a non-empty list of strings")


def _statements(document: object) -> list[tuple[bool, tuple[str, ...], tuple[str, ...]]]:
    """(is_deny, lower-cased action globs, resource globs) per statement, all checked
    before any is applied: a malformed statement is an error wherever it sits."""
    if type(document) is not dict:
        raise PolicyError("policy document is not an object")
    statements = document.get("Statement")
    if type(statements) is dict:
        statements = [statements]
    if type(statements) is not list:
        raise PolicyError("Statement must be an object or a list of objects")
    out = []
    for statement in statements:
        if type(statement) is not dict:
            raise PolicyError("Statement must be an object or a list of objects")
        other = set(statement) - _ELEMENTS
        if other:
            raise PolicyError(f"statement elements not evaluated here: {sorted(other)}")
        effect = statement.get("Effect")
        if type(effect) is not str or effect not in _EFFECTS:
            raise PolicyError('Effect must be "Allow" or "Deny" (case-sensitive)')
        actions = tuple(a.lower() for a in _strings(statement.get("Action"), "Action"))
        out.append((effect == "Deny", actions, _strings(statement.get("Resource"), "Resource")))
    return out


def policy_allows(document: object, resource: str, action: str = INVOKE) -> bool:
    """Whether the IAM policy `document` allows `action` on `resource` (a method ARN):
    an applicable Deny wins, then an applicable Allow is needed, else implicit deny.
    `PolicyError` (a ValueError) for a document IAM would refuse or that holds
    elements not evaluated here. Not on any hot path: nothing is cached."""
    wanted = action.lower()
    allowed = False
    for is_deny, actions, resources in _statements(document):
        if not any(glob_match(a, wanted) for a in actions):
            continue
        if not any(glob_match(r, resource) for r in resources):
            continue
        if is_deny:
            return False
        allowed = True
    return allowed


def iam_allows(grant: IamGrant, method: str, path: str) -> bool:
    """Evaluate the grant as IAM does: an explicit Deny wins, then any Allow, else deny."""
    if not path.startswith("/"):
        return False  # API Gateway never puts such a path in a method ARN
    resource = f"{method}/{path[1:]}"
    if any(glob_match(g, resource) for g in grant.deny):
        return False
    return any(glob_match(g, resource) for g in grant.allow)


def route_globs(method: str, pattern: tuple[str, ...]) -> tuple[str, ...]:
    """The IAM globs covering a route for one verb (a superset of its exact language)."""
    return tuple(t.replace(_ONE_MARK, "*").replace(_TAIL_MARK, "*")
                 for t in _templates(method, pattern))


def _templates(method: str, pattern: tuple[str, ...]) -> tuple[str, ...]:
    parts = [_ONE_MARK if s == ONE else s for s in pattern if s != TAIL]
    head = f"{method}/" + "/".join(parts)
    if pattern and pattern[-1] == TAIL:
        # "**": zero segments ("GET/orders") or more ("GET/orders/*"); at the root the
        # zero case "GET/" is already inside "GET/*".
        if not parts:
            return (head + _TAIL_MARK,)
        return (head, f"{head}/{_TAIL_MARK}")
    return (head,)


def compile_iam(apis: Iterable[Api], scopes: frozenset[str]) -> IamGrant:
    """The IAM grant for a token with these scopes, over these APIs' routes. Cached."""
    return _compile(tuple(apis), frozenset(scopes))


@lru_cache(maxsize=1024)
def _compile(apis: tuple[Api, ...], scopes: frozenset[str]) -> IamGrant:
    granted: dict[str, dict[tuple[str, ...], None]] = {m: {} for m in METHODS}
    refused: dict[str, list[tuple[Api, Route]]] = {m: [] for m in METHODS}
    for api in apis:
        for route in api.routes:
            ok = route.grants(scopes)
            for m in route.methods:
                if ok:
                    granted[m][route.pattern] = None
                else:
                    refused[m].append((api, route))
    allow: list[str] = []
    deny: list[str] = []
    inexact: list[str] = []
    for m in METHODS:
        if granted[m]:
            a, d, i = _compile_method(m, tuple(granted[m]), refused[m])
            allow += a
            deny += d
            inexact += i
    return IamGrant(tuple(allow), tuple(deny), tuple(inexact))


def _compile_method(method: str, granted: tuple[tuple[str, ...], ...],
                    refused: list[tuple[Api, Route]]) -> tuple[list[str], list[str], list[str]]:
    exact = [route_nfa(method, p) for p in granted]

    def safe(glob: str) -> bool:
        """A Deny on this glob refuses no call a granted route permits."""
        return not any(_meets(glob, method, p) for p in granted)

    allow = _minimal(g for p in granted for g in route_globs(method, p))
    candidates: list[str] = []
    depth = 2 + max(len(p) for p in granted)
    for p in granted:
        for template in _templates(method, p):
            candidates += _over_grant_denies(template, safe, depth)
    allow_nfas = [glob_nfa(a) for a in allow]
    for form in _EMPTY_SEGMENTS:
        g = form.format(method)
        if any(find_word((glob_nfa(g), a)) is not None for a in allow_nfas) and safe(g):
            candidates.append(g)
    for _api, route in refused:
        for g in route_globs(method, route.pattern):
            if any(find_word((glob_nfa(g), a)) is not None for a in allow_nfas) and safe(g):
                candidates.append(g)
    deny = _minimal(candidates)
    return allow, deny, _residue(method, allow, deny, exact, refused)


@lru_cache(maxsize=8192)
def _meets(glob: str, method: str, pattern: tuple[str, ...]) -> bool:
    """Whether the IAM glob matches some call the route (for this verb) permits."""
    try:
        return find_word((glob_nfa(glob), route_nfa(method, pattern))) is not None
    except TooComplex:
        return True  # unproven: a Deny there might refuse a permitted call


def _over_grant_denies(template: str, safe: Callable[[str], bool], depth: int) -> list[str]:
    """Safe Deny globs for what each wildcard of one allow glob matches beyond a route."""
    out = []
    for j, mark in enumerate(template):
        if mark not in (_ONE_MARK, _TAIL_MARK):
            continue

        def variant(text: str, j: int = j) -> str:
            t = template[:j] + text + template[j + 1:]
            return t.replace(_ONE_MARK, "*").replace(_TAIL_MARK, "*")

        # "**" may span "/"; "*" of a one-segment rule must not: deny the shallowest
        # "spans k slashes" glob that no granted route reaches into.
        chain = ["/".join(["*"] * k) for k in range(2, depth + 1)] if mark == _ONE_MARK else []
        for text in chain:
            if safe(variant(text)):
                out.append(variant(text))
                break
        if safe(variant("")):  # "*" matching nothing, e.g. "GET/" from "GET/*"
            out.append(variant(""))
    return out


def _minimal(globs: Iterable[str]) -> list[str]:
    """Sorted, without the globs another kept glob already covers."""
    kept: list[str] = []
    for g in sorted(dict.fromkeys(globs)):
        nfa = glob_nfa(g)
        if any(_covers(glob_nfa(k), nfa) for k in kept):
            continue
        kept = [k for k in kept if not _covers(nfa, glob_nfa(k))]
        kept.append(g)
    return sorted(kept)


def _covers(big: Nfa, small: Nfa) -> bool:
    try:
        return covers(big, small)
    except TooComplex:
        return False  # keep both: redundant, never wrong


def _residue(method: str, allow: list[str], deny: list[str], exact: list[Nfa],
             refused: list[tuple[Api, Route]]) -> list[str]:
    """What each allow glob still grants beyond the granted routes, in words."""
    blocked = [glob_nfa(d) for d in deny] + exact
    out: list[str] = []
    for a in allow:
        a_nfa = glob_nfa(a)
        try:
            word = find_word((a_nfa,), blocked)
        except TooComplex:
            word = "?"  # unproven: assume the worst
        if word is None:
            continue
        for api, route in refused:
            try:
                hit = find_word((a_nfa, route_nfa(method, route.pattern)), blocked)
            except TooComplex:
                hit = "?"
            if hit is not None:
                out.append(f"{a} also grants {method} {route.path} (api {api.name!r} "
                           f"routes[{route.position}], not granted by these scopes), "
                           f"e.g. {_as_call(method, hit)}")
        out.append(f"{a} grants more than the granted routes, e.g. {_as_call(method, word)}")
    return out


def _as_call(method: str, word: str) -> str:
    if word == "?":
        return "(unproven: too complex to check)"
    return f"{method} /{word[len(method) + 1:]}"
