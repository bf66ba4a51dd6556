"""`issuer policy check FILE [--json]`: load a policy as the issuer and the authorizer
do, and print what each scope grants (routes, the REST authorizer's IAM allow and deny
resources, and any `iam_inexact` residue: `shared/policy_report.py`). Exit 0 for a
valid policy, 1 with one line naming the file, API and route for an invalid one.
Needs no database, KEK or other setting."""

from __future__ import annotations

import argparse
import json
from typing import Any

from issuer.cli.errors import NEGATIVE, CliError


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser(
        "policy", help="check a policy file and show what each scope grants"
    )
    verbs = parser.add_subparsers(dest="policy_command", required=True, metavar="VERB")
    check = verbs.add_parser(
        "check", help="validate FILE; print each scope's routes and IAM resources"
    )
    check.add_argument("file", metavar="FILE", help="the policy TOML file (POLICY_FILE)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(handler=run_check, needs_settings=False)


def run_check(_settings: Any, args: argparse.Namespace) -> int:
    from shared.policy import PolicyError, load_policy
    from shared.policy_report import policy_report, report_lines

    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        raise CliError(str(exc), "invalid_policy", NEGATIVE) from None
    report = policy_report(policy)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(report_lines(report)))
    return 0
