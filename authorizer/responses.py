"""Authorizer responses: the IAM policy (REST APIs, HTTP API payload 1.0/iam) and the
HTTP API simple response; `policy_allows` applies a response's policy as API Gateway
does, with the one IAM evaluator (`shared.iam.policy_allows`).

IAM policy format: API Gateway Lambda authorizer output
`{principalId, policyDocument{Version, Statement[{Action, Effect, Resource}]}, context}`.
The policy is built from the token alone (never from the requested route) so API
Gateway's authorizer cache, keyed by the token, cannot replay a decision for one route
onto another (docs/caching.md; docs/threat-model.md §6).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.claims import AccessToken
from shared.route_pattern import AMBIGUOUS_ENCODINGS

VERSION = "2012-10-17"
ACTION = "execute-api:Invoke"
EVERYTHING = "*/*"  # after the stage: any method, any path (IAM `*` also spans `/`)
# Denied in every policy that allows anything (issue 12, item 9). API Gateway caches the
# policy per token and matches it against later method ARNs without asking the authorizer,
# and IAM's `*` matches any character: the Allow `GET/entries/*` covers
# `GET/entries/1%2Flines`, which the service decodes to the route `/entries/{id}/lines`.
# So the percent-encodings the authorizer refuses (`shared.route_pattern.path_problem`)
# and `//` are carved out of the policy itself, in both hex cases (resource matching is
# case-sensitive) and wherever they sit in the ARN. Should API Gateway put the decoded
# form in the method ARN (`GET/entries/1/lines`), that is a deeper path, decided by the
# compiled carve-outs (shared/iam.py) like any other. Raw dot-segments and "\" are not
# listed: a resource holding "." or "\" (`*/..`, `*\*`) is compiled by serverless-offline
# into an unescaped regular expression that denies nearly every request, and the service
# is not expected to resolve them (Starlette does not; docs/caching.md).
# `*:*`: a method ARN whose path holds ":" (shared/route_pattern.py says why such paths
# are refused); under IAM's per-segment wildcards it is the pattern of exactly those ARNs.
AMBIGUOUS_RESOURCES = tuple(dict.fromkeys(
    [f"*{case(e)}*" for e in AMBIGUOUS_ENCODINGS for case in (str.upper, str.lower)]
    + ["*//*", "*:*"]
))


def context_for(token: AccessToken) -> dict[str, Any]:
    """API Gateway allows only string, number and boolean context values."""
    return {
        "client_id": token.client_id,
        "scope": token.scope,
        "sub": token.sub,
        "jti": token.jti or "",
        "aud": " ".join(token.aud),
        "exp": token.exp,
    }


def policy_document(prefix: str, allow: Iterable[str], deny: Iterable[str]) -> dict[str, Any]:
    """`prefix` is `arn:aws:execute-api:{region}:{account}:{api}/{stage}/`; `allow` and
    `deny` are resource suffixes (`GET/orders/*`). No allow at all: Deny everything."""
    allow = [prefix + suffix for suffix in allow]
    statements = []
    if allow:
        statements.append({"Action": ACTION, "Effect": "Allow", "Resource": allow})
        # Carves deeper paths out of the allows (IAM's `*` matches `/` too), and the
        # ambiguous paths out of everything.
        deny = [prefix + suffix for suffix in (*deny, *AMBIGUOUS_RESOURCES)]
        statements.append({"Action": ACTION, "Effect": "Deny", "Resource": deny})
    else:
        statements.append({"Action": ACTION, "Effect": "Deny", "Resource": [prefix + EVERYTHING]})
    return {"Version": VERSION, "Statement": statements}


def iam_response(
    principal: str, document: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """The REST authorizer output. `document` is shared by every token with the same
    scopes: nobody mutates responses (the Lambda runtime only serialises them)."""
    return {"principalId": principal, "policyDocument": document, "context": context}


def simple_response(authorized: bool, context: dict[str, Any]) -> dict[str, Any]:
    """HTTP API payload 2.0 with `enableSimpleResponses`."""
    return {"isAuthorized": authorized, "context": context}


def policy_allows(response: dict[str, Any], method_arn: str) -> bool:
    """How API Gateway applies an IAM response's policy to one method ARN
    (`shared.iam.policy_allows`: Deny wins, then an Allow is needed; `PolicyError` for a
    policy IAM would refuse). For the tests; imported on use, so the handler's cold
    start does not load the IAM module."""
    from shared.iam import policy_allows as evaluate

    return evaluate(response.get("policyDocument"), method_arn, ACTION)


def http_api_refusal(event: object, response_kind: str) -> dict[str, Any] | None:
    """An HTTP API's answer to a refused request (403), or None for a REST API event,
    which must raise "Unauthorized" instead (401). Only payload 2.0 (`version` "2.0"
    with `routeArn`) is told apart: HTTP API payload 1.0 has the REST REQUEST shape
    (authorizer/events.py), so HTTP APIs should use 2.0, as serverless.yml does."""
    if type(event) is not dict or event.get("version") != "2.0":
        return None
    arn = event.get("routeArn")
    if type(arn) is not str:
        return None
    if response_kind == "simple":
        return {"isAuthorized": False}
    # Deny the whole API (arn:...:{api-id}/*): whatever route a cached answer is replayed
    # for, it refuses.
    api = arn.split("/", 1)[0]
    statement = {"Action": ACTION, "Effect": "Deny", "Resource": [api + "/*"]}
    return iam_response("unauthorized", {"Version": VERSION, "Statement": [statement]}, {})
