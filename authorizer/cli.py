"""`authorizer` command line.

- `authorizer check TOKEN --method GET --path /orders/1`: the decision and its reason
  code exactly as the Lambda would take them: the same settings (environment), the same
  cold start and decision code, on a REST API REQUEST event for that route, and the
  returned IAM policy applied to the route's method ARN as API Gateway applies it.
  Exit 0 for allow, 1 for deny or unauthorized, 2 for a configuration error.
  TOKEN `-` reads the token from stdin (keeps it out of shell history).
- `authorizer gateway ...`: the local API Gateway stand-in (`authorizer.gateway`),
  imported only when asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# A method ARN for a route checked outside AWS; only its shape matters to the decision.
CHECK_ARN_PREFIX = "arn:aws:execute-api:local:000000000000:check/check/"


def check_event(authorization: str, method: str, path: str) -> dict[str, Any]:
    """A REST API REQUEST authorizer event for one route (API Gateway's shape)."""
    return {
        "type": "REQUEST",
        "methodArn": f"{CHECK_ARN_PREFIX}{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Authorization": authorization},
        "multiValueHeaders": {"Authorization": [authorization]},
        "requestContext": {"apiId": "check", "stage": "check", "httpMethod": method,
                           "path": path, "resourcePath": path, "accountId": "000000000000"},
    }


def check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="authorizer check",
                                     description="Decide one request as the Lambda would.")
    parser.add_argument("token", help="the access token, 'Bearer <token>', or - for stdin")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = parser.parse_args(argv)
    token = sys.stdin.readline().strip() if args.token == "-" else args.token.strip()  # noqa: S105
    authorization = token if token[:7].lower() == "bearer " else "Bearer " + token
    method = args.method.upper()
    path = args.path if args.path.startswith("/") else "/" + args.path

    from authorizer.coldstart import cold_start
    from authorizer.log import DecisionLog
    from authorizer.settings import ConfigError
    from shared.iam import policy_allows

    try:
        # Cold-start warnings go to stderr so stdout carries only the answer.
        authorizer = cold_start(log=DecisionLog(sys.stderr.write))
    except ConfigError as exc:
        print(f"authorizer check: {exc}", file=sys.stderr)
        return 2
    event = check_event(authorization, method, path)
    outcome = authorizer.evaluate(event)
    decision = outcome.decision
    reason: str = outcome.reason  # the Lambda's reason code, or `iam_inexact` below
    if outcome.response is not None:
        allowed = policy_allows(outcome.response.get("policyDocument"), event["methodArn"])
        if allowed != (decision == "allow"):
            reason = "iam_inexact"  # the IAM globs disagree with the exact matcher
        decision = "allow" if allowed else "deny"
    if args.json:
        print(json.dumps({"decision": decision, "reason": reason, "route": f"{method} {path}",
                          "response": outcome.response}, indent=2))
    else:
        print(f"{decision} {reason}")
    return 0 if decision == "allow" else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "gateway":
        from authorizer.gateway import main as gateway_main  # its deps only when asked

        return gateway_main(argv[1:])
    if argv and argv[0] == "check":
        return check(argv[1:])
    print("usage: authorizer {check TOKEN --method M --path P | gateway --upstream URL}",
          file=sys.stderr)
    return 0 if argv and argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
