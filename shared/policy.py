"""The policy: which APIs (audiences) exist, their scopes, and the scopes each route needs.

One TOML file (README, "The policy"), read with the stdlib `tomllib` by both the issuer and the
authorizer (cold start: stdlib only, nothing heavy at import). Validation is strict:
an unknown key, an undeclared scope or an odd path is an error that names the file,
the API and the route, never a silent "public" or "deny".

The exact matcher lives here (`Api.allows`); shared/iam.py compiles the same rules
into the method-ARN globs API Gateway understands.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

from shared.route_pattern import METHODS, matches, parse_pattern, split_path
from shared.scope import ADMIN_SCOPE, is_scope_token

# Built in: the issuer's own admin scope, never declared by an API.

_API_KEYS = frozenset({"audience", "scopes", "routes"})
_ROUTE_KEYS = frozenset({"method", "path", "scopes", "all_of"})


class PolicyError(Exception):
    """A policy file that can not be used; the message names file, API and route."""

    def __init__(self, source: str, problem: str, api: str | None = None,
                 route: str | None = None) -> None:
        where = source
        if api is not None:
            where += f": api {api!r}"
        if route is not None:
            where += f", {route}"
        super().__init__(f"{where}: {problem}")
        self.source, self.api, self.route, self.problem = source, api, route, problem


_V = TypeVar("_V")


class FrozenMap(Mapping[str, _V]):
    """A read-only, hashable mapping, so an Api can key the compile_iam cache."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, _V]) -> None:
        self._data = dict(data)
        self._hash = hash(frozenset(self._data.items()))

    def __getitem__(self, key: str) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        # Mapping's own __contains__ goes through __getitem__ and a KeyError: the
        # issuer asks this for every scope of every token it grants.
        return key in self._data

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


class Route(NamedTuple):
    """One rule: method and path pattern, and the scopes it needs.

    `scopes` is any-of, `all_of` is every-one-of; when both are given both must hold.
    At least one of them is non-empty (the loader refuses a route that needs nothing).

    Route and Api are NamedTuples, Policy a plain class, not dataclasses: a dataclass is
    compiled from source when it is declared, ~1 ms of each cold start of the issuer
    and the authorizer (docs/benchmarks.md, "Issuer cold start").
    """

    method: str  # one of METHODS, or "*" for all of them
    path: str  # as written, for messages
    scopes: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    position: int = 0  # its index in its API's routes list
    pattern: tuple[str, ...] = ()

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.method == "*" else (self.method,)

    def grants(self, scopes: frozenset[str]) -> bool:
        if self.scopes and scopes.isdisjoint(self.scopes):
            return False
        return all(s in scopes for s in self.all_of)

    def describe(self) -> str:
        return f"routes[{self.position}] ({self.method} {self.path})"


class Api(NamedTuple):
    name: str
    audience: str
    scopes: Mapping[str, str]  # scope name -> description
    routes: tuple[Route, ...]

    def allows(self, scopes: frozenset[str], method: str, path: str) -> bool:
        """Exact decision: some route matching (method, path) is granted by the scopes."""
        segments = split_path(path)
        if segments is None or method not in METHODS:
            return False
        scopes = frozenset(scopes)
        return any(
            method in r.methods and matches(r.pattern, segments) and r.grants(scopes)
            for r in self.routes
        )


class Policy:
    """Every API of one policy file, read-only once made (the authorizer shares one
    across requests)."""

    __slots__ = ("_by_audience", "_by_scope", "apis", "source")
    source: str
    apis: Mapping[str, Api]
    _by_audience: dict[str, Api]
    _by_scope: dict[str, Api]

    def __init__(self, source: str, apis: Mapping[str, Api]) -> None:
        init = object.__setattr__
        init(self, "source", source)
        init(self, "apis", apis)
        init(self, "_by_audience", {a.audience: a for a in apis.values()})
        init(self, "_by_scope", {s: a for a in apis.values() for s in a.scopes})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Policy is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Policy is read-only: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Policy(source={self.source!r}, apis={self.apis!r})"

    def api_for_audience(self, audience: str) -> Api | None:
        return self._by_audience.get(audience)

    def api_for_scope(self, scope: str) -> Api | None:
        return self._by_scope.get(scope)

    @property
    def scopes_supported(self) -> tuple[str, ...]:
        """Every declared scope, sorted (the built-in ADMIN_SCOPE is not declared)."""
        return tuple(sorted(self._by_scope))

    def allows(self, audiences: str | Iterable[str], scopes: frozenset[str], method: str,
               path: str) -> bool:
        """The exact decision over the APIs whose audience the token carries."""
        if isinstance(audiences, str):
            audiences = (audiences,)
        scopes = frozenset(scopes)
        return any(
            api.allows(scopes, method, path)
            for aud in dict.fromkeys(audiences)
            if (api := self._by_audience.get(aud)) is not None
        )


def load_policy(path: str | os.PathLike[str]) -> Policy:
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:  # not pathlib: one module less on the cold start
            data = f.read()
    except OSError as exc:
        raise PolicyError(source, f"cannot read the policy file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(source, "the policy file is not UTF-8 (TOML 1.0 §2)") from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str) -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, f"not valid TOML: {exc}") from None
    _only_keys(doc, frozenset({"apis"}), source, "the top level")
    apis_doc = doc.get("apis")
    if not isinstance(apis_doc, dict) or not apis_doc:
        raise PolicyError(source, "needs an [apis.<name>] table with at least one API")
    apis: dict[str, Api] = {}
    audiences: dict[str, str] = {}
    scope_owner: dict[str, str] = {}
    for name, api_doc in apis_doc.items():
        api = _parse_api(name, api_doc, source)
        if api.audience in audiences:
            raise PolicyError(source, f"audience {api.audience!r} is already the audience "
                              f"of api {audiences[api.audience]!r}", api=name)
        audiences[api.audience] = name
        for scope in api.scopes:
            if scope in scope_owner:
                raise PolicyError(source, f"scope {scope!r} is already declared by api "
                                  f"{scope_owner[scope]!r} (a scope belongs to one API)",
                                  api=name)
            scope_owner[scope] = name
        apis[name] = api
    return Policy(source, FrozenMap(apis))


def _only_keys(table: dict[str, Any], allowed: frozenset[str], source: str, where: str,
               api: str | None = None, route: str | None = None) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PolicyError(source, f"unknown key(s) {', '.join(map(repr, unknown))} in {where}"
                          f" (allowed: {', '.join(sorted(allowed))})", api=api, route=route)


def _parse_api(name: str, doc: object, source: str) -> Api:
    if not _is_api_name(name):
        raise PolicyError(source, "an API name is letters, digits, '_' and '-'", api=name)
    if not isinstance(doc, dict):
        raise PolicyError(source, "must be a table", api=name)
    _only_keys(doc, _API_KEYS, source, f"[apis.{name}]", api=name)
    audience = doc.get("audience")
    if not isinstance(audience, str) or not audience.strip() or audience != audience.strip():
        raise PolicyError(source, "audience must be a non-empty string without surrounding "
                          "spaces", api=name)
    scopes_doc = doc.get("scopes")
    if not isinstance(scopes_doc, dict) or not scopes_doc:
        raise PolicyError(source, f"needs an [apis.{name}.scopes] table declaring at least "
                          "one scope", api=name)
    for scope, description in scopes_doc.items():
        problem = _scope_problem(scope)
        if problem is None and not isinstance(description, str):
            problem = "its description must be a string"
        if problem:
            raise PolicyError(source, f"scope {scope!r}: {problem}", api=name)
    routes_doc = doc.get("routes", [])
    if not isinstance(routes_doc, list):
        raise PolicyError(source, "routes must be an array of tables ([[apis."
                          f"{name}.routes]])", api=name)
    routes: list[Route] = []
    seen: dict[tuple[str, str], int] = {}
    for index, route_doc in enumerate(routes_doc):
        route = _parse_route(name, index, route_doc, frozenset(scopes_doc), source)
        key = (route.method, route.path)
        if key in seen:
            raise PolicyError(source, f"same method and path as routes[{seen[key]}]; "
                              "merge their scopes", api=name, route=route.describe())
        seen[key] = index
        routes.append(route)
    return Api(name, audience, FrozenMap(scopes_doc), tuple(routes))


def _is_api_name(name: str) -> bool:
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)


def _scope_problem(scope: str) -> str | None:
    if not is_scope_token(scope):
        return "not a valid scope-token (RFC 6749 §3.3: no spaces, '\"' or '\\')"
    if scope == ADMIN_SCOPE:
        return "is built in (the issuer's admin scope) and can not be declared by an API"
    return None


def _parse_route(api: str, index: int, doc: object, declared: frozenset[str],
                 source: str) -> Route:
    if not isinstance(doc, dict):
        raise PolicyError(source, "must be a table", api=api, route=f"routes[{index}]")
    method, path = doc.get("method"), doc.get("path")
    where = (f"routes[{index}] ({method if isinstance(method, str) else '?'} "
             f"{path if isinstance(path, str) else '?'})")

    def fail(problem: str) -> PolicyError:
        return PolicyError(source, problem, api=api, route=where)

    _only_keys(doc, _ROUTE_KEYS, source, "the route", api=api, route=where)
    if method != "*" and method not in METHODS:
        raise fail(f"method must be one of {', '.join(METHODS)} or '*' (upper case), "
                   f"not {method!r}")
    try:
        pattern = parse_pattern(path)
    except ValueError as exc:
        raise fail(str(exc)) from None
    lists = {}
    for key in ("scopes", "all_of"):
        value = doc.get(key)
        if value is None:
            lists[key] = ()
            continue
        if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
            raise fail(f"{key} must be a non-empty list of scope names (an empty list does not "
                       "make a route public)")
        if len(set(value)) != len(value):
            raise fail(f"{key} names a scope twice")
        undeclared = [s for s in value if s not in declared]
        if undeclared:
            raise fail(f"{key}: scope {undeclared[0]!r} is not declared in [apis.{api}.scopes]")
        lists[key] = tuple(value)
    if not lists["scopes"] and not lists["all_of"]:
        raise fail("needs 'scopes' (any of) or 'all_of' (every one of); routes are never public")
    return Route(method, path, lists["scopes"], lists["all_of"], index, pattern)
