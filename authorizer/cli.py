"""`authorizer` command line.

- `authorizer check TOKEN --method GET --path /orders/1`: the decision and its reason
  code exactly as the Lambda would take them: the same settings (environment), the same
  cold start and decision code, on a REST API REQUEST event for that route, and the
  returned IAM policy applied to the route's method ARN as API Gateway applies it.
  Exit 0 for allow, 1 for deny or unauthorized, 2 for a configuration or usage error
  (one line on stderr, never a traceback). `--path` is required; `--method` one of the
  seven methods routes use. TOKEN `-` reads the token from stdin (keeps it out of shell
  history). `--policy FILE` replaces POLICY_FILE; alone (no TOKEN) it checks the file and
  prints what each scope grants, as `issuer policy check FILE` does.
- `authorizer gateway ...`: the local API Gateway stand-in (`authorizer.gateway`),
  imported only when asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from shared.route_pattern import METHODS

if TYPE_CHECKING:
    from authorizer.decision import Authorizer

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


class _OneLineParser(argparse.ArgumentParser):
    """A usage error is one line (`authorizer check: ...`), never argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _method(text: str) -> str:
    method = text.upper()
    if method not in METHODS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a method API Gateway routes (one of {', '.join(METHODS)})"
        )
    return method


def _path(text: str) -> str:
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(f"{text!r} must start with / (e.g. /orders/1)")
    return text


def check_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="authorizer check",
        description="Decide one request as the Lambda would (settings from the "
        "environment), or with --policy FILE alone, check a policy file.",
    )
    parser.add_argument(
        "token", nargs="?",
        help="the access token, 'Bearer <token>', or - for stdin (omit with --policy "
        "alone to check the policy file only)",
    )
    parser.add_argument(
        "--method", type=_method,
        help=f"the request's method, one of {', '.join(METHODS)} (default GET)",
    )
    parser.add_argument(
        "--path", type=_path, help="the request's path, e.g. /orders/1 (required with a token)"
    )
    parser.add_argument(
        "--policy", metavar="FILE",
        help="the policy file to use instead of POLICY_FILE; alone: validate it and print "
        "what each scope grants (as `issuer policy check FILE`)",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument(
        "--version", action="version", version=f"authorizer (tollgate) {_version()}",
        help="print the version and exit",
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tollgate")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def _fail(message: str, code: int = 2) -> int:
    print(f"authorizer check: {' '.join(message.split())}", file=sys.stderr)
    return code


def policy_check(path: str, as_json: bool) -> int:
    """`authorizer check --policy FILE`: the report `issuer policy check FILE` prints
    (shared/policy_report.py). Exit 0 valid, 1 invalid (one line)."""
    from shared.policy import PolicyError, load_policy
    from shared.policy_report import policy_report, report_lines

    try:
        report = policy_report(load_policy(path))
    except PolicyError as exc:
        return _fail(str(exc), 1)
    print(json.dumps(report, indent=2) if as_json else "\n".join(report_lines(report)))
    return 0


def check(argv: list[str]) -> int:
    parser = check_parser()
    try:
        args = parser.parse_args(argv)
        if args.token is None:
            if args.policy is None:
                parser.error("give a TOKEN (with --path), or --policy FILE to check a policy")
            if args.method is not None or args.path is not None:
                parser.error("--method and --path decide a TOKEN: give one")
            return policy_check(args.policy, args.json)
        if args.path is None:
            # A decision for "/" when the operator meant another route would mislead.
            parser.error("--path is required (the request's path, e.g. --path /orders/1)")
    except SystemExit as exit_:  # usage errors, --help, --version
        return int(exit_.code or 0)
    token = sys.stdin.readline().strip() if args.token == "-" else args.token.strip()  # noqa: S105
    authorization = token if token[:7].lower() == "bearer " else "Bearer " + token
    method = args.method or "GET"
    path = args.path

    from authorizer.coldstart import cold_start
    from authorizer.log import DecisionLog
    from authorizer.settings import ConfigError
    from shared.errors import KeySetError

    policy = None
    try:
        if args.policy is not None:
            from shared.policy import load_policy

            policy = load_policy(args.policy)
        # Cold-start warnings go to stderr so stdout carries only the answer.
        authorizer = cold_start(log=DecisionLog(sys.stderr.write), policy=policy)
    except ConfigError as exc:
        return _fail(str(exc))
    except KeySetError as exc:  # a bundled JWKS file that is not a JWK Set
        return _fail(f"AUTHORIZER_JWKS_FILE: {exc}")
    except OSError as exc:  # the bundled JWKS file (the policy's errors are PolicyError)
        return _fail(f"AUTHORIZER_JWKS_FILE {exc.filename}: {exc.strerror}")
    except Exception as exc:
        from shared.policy import PolicyError

        if isinstance(exc, PolicyError):
            setting = "--policy" if args.policy is not None else "POLICY_FILE"
            return _fail(f"{setting} {exc}")
        raise
    result = decide(authorizer, authorization, method, path)
    decision = result["decision"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{decision} {result['reason']}")
    return 0 if decision == "allow" else 1


def decide(authorizer: Authorizer, authorization: str, method: str, path: str) -> dict[str, Any]:
    """The decision `authorizer check` prints (also the issuer console's token tester):
    `authorizer.evaluate` on a REST REQUEST event for the route, and the returned IAM
    policy applied to its method ARN as API Gateway applies it. {decision, reason, route,
    response}."""
    from shared.iam import policy_allows

    event = check_event(authorization, method, path)
    outcome = authorizer.evaluate(event)
    decision = outcome.decision
    reason: str = outcome.reason  # the Lambda's reason code, or `iam_inexact` below
    if outcome.response is not None:
        allowed = policy_allows(outcome.response.get("policyDocument"), event["methodArn"])
        if allowed != (decision == "allow"):
            reason = "iam_inexact"  # the IAM globs disagree with the exact matcher
        decision = "allow" if allowed else "deny"
    return {"decision": decision, "reason": reason, "route": f"{method} {path}",
            "response": outcome.response}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "gateway":
        from authorizer.gateway import main as gateway_main  # its deps only when asked

        return gateway_main(argv[1:])
    if argv and argv[0] == "check":
        return check(argv[1:])
    if argv and argv[0] == "--version":
        print(f"authorizer (tollgate) {_version()}")
        return 0
    print("usage: authorizer {check TOKEN --method M --path P | check --policy FILE | "
          "gateway --upstream URL | --version}", file=sys.stderr)
    return 0 if argv and argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
