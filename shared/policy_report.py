"""What a policy grants, scope by scope: the report `issuer policy check FILE` and
`authorizer check --policy FILE` print (one function, so both say the same).

For each API, each declared scope: the routes a token with that scope alone may call
(`Route.grants`), the IAM resources the REST authorizer's policy would allow and deny
for it (`shared.iam.compile_iam`), and `iam_inexact`: what those IAM globs cannot
carve exactly (IAM's `*` spans `/`), in the compiler's own words. Routes that need
several scopes together (`all_of`) are listed with what they need, since no single
scope grants them.
"""

from __future__ import annotations

from typing import Any

from shared.iam import compile_iam
from shared.policy import Api, Policy, Route


def _route(route: Route) -> str:
    return f"{route.method} {route.path}"


def _needs(route: Route) -> str:
    parts = []
    if route.scopes:
        parts.append("any of " + ", ".join(route.scopes))
    if route.all_of:
        parts.append("all of " + ", ".join(route.all_of))
    return " and ".join(parts)


def scope_report(api: Api, scope: str) -> dict[str, Any]:
    grant = compile_iam((api,), frozenset({scope}))
    return {
        "scope": scope,
        "description": api.scopes[scope],
        "routes": [_route(r) for r in api.routes if r.grants(frozenset({scope}))],
        "iam_allow": list(grant.allow),
        "iam_deny": list(grant.deny),
        "iam_inexact": list(grant.inexact),
    }


def policy_report(policy: Policy) -> dict[str, Any]:
    """A JSON-ready description of `policy`: per API, its routes and per scope what it
    grants."""
    apis: list[dict[str, Any]] = []
    inexact = 0
    for api in policy.apis.values():
        scopes = [scope_report(api, scope) for scope in api.scopes]
        inexact += sum(len(s["iam_inexact"]) for s in scopes)
        apis.append({
            "api": api.name,
            "audience": api.audience,
            "routes": [{"route": _route(r), "needs": _needs(r)} for r in api.routes],
            "scopes": scopes,
        })
    return {"policy": policy.source, "valid": True, "apis": apis, "iam_inexact": inexact}


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as text, one fact per line."""
    apis = report["apis"]
    scopes = sum(len(a["scopes"]) for a in apis)
    lines = [f"{report['policy']}: valid ({len(apis)} APIs, {scopes} scopes)"]
    for api in apis:
        lines.append("")
        lines.append(f"api {api['api']}  audience {api['audience']}")
        for route in api["routes"]:
            lines.append(f"  route {route['route']}  needs {route['needs']}")
        for scope in api["scopes"]:
            lines.append(f"  scope {scope['scope']}  ({scope['description']})")
            granted = ", ".join(scope["routes"]) or "no route on its own"
            lines.append(f"    grants      {granted}")
            lines.append(f"    iam allow   {' '.join(scope['iam_allow']) or '-'}")
            if scope["iam_deny"]:
                lines.append(f"    iam deny    {' '.join(scope['iam_deny'])}")
            for residue in scope["iam_inexact"]:
                lines.append(f"    iam_inexact {residue}")
    if report["iam_inexact"]:
        lines.append("")
        lines.append(
            f"{report['iam_inexact']} iam_inexact line(s): a REST API authorizer's IAM "
            "policy grants more than these routes there (docs/policy.md)"
        )
    return lines
