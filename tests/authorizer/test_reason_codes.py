"""The authorizer's reason codes are data (`authorizer.decision.REASONS`, from the
`Literal`s the code is typed with: `shared.errors.TokenCode`, `shared.bearer.BearerCode`,
`authorizer.events.EventCode`, `DenyReason`, `DecisionCode`), and the documentation
lists exactly those: the decision module's docstring, and docs/design.md for the token
codes."""

from __future__ import annotations

import re
from pathlib import Path

import authorizer.decision as decision
from authorizer.decision import REASONS
from shared.errors import TOKEN_CODES

ROOT = Path(__file__).resolve().parents[2]
ALL = {code for codes in REASONS.values() for code in codes}


def _backticked_codes(text: str) -> set[str]:
    return set(re.findall(r"`([a-z]+(?:_[a-z]+)*)`", text))


def test_decisions_and_codes():
    assert set(REASONS) == {"allow", "deny", "unauthorized"}
    assert REASONS["allow"] == ("granted",)
    assert set(REASONS["deny"]) == {"route_not_permitted", "no_route", "no_api", "no_policy"}
    assert set(TOKEN_CODES) <= set(REASONS["unauthorized"])
    assert len(ALL) == sum(len(codes) for codes in REASONS.values())  # no code in two


def test_the_decision_docstring_lists_exactly_the_codes():
    doc = decision.__doc__ or ""
    section = doc[doc.index("Reason codes"):]
    assert _backticked_codes(section) == ALL


def test_design_doc_lists_every_token_code():
    design = (ROOT / "docs" / "design.md").read_text()
    row = next(line for line in design.splitlines() if line.startswith("| `shared/errors.py`"))
    assert _backticked_codes(row) >= set(TOKEN_CODES)


def test_every_code_the_source_raises_is_listed():
    """What mypy checks through the Literal types, checked again on the text: any
    `TokenError("x")`, `Refused("x")`, `BearerRefused("x")`, `BindingRefused("x")`,
    `Outcome(..., "x", ...)`."""
    raised: set[str] = set()
    for package in ("shared", "authorizer"):
        for path in (ROOT / package).glob("*.py"):
            text = path.read_text()
            raised |= set(re.findall(
                r"\b(?:TokenError|Refused|BearerRefused|BindingRefused)\(\"([a-z_]+)\"", text))
            raised |= set(re.findall(r"Outcome\([^)]*?\b(?:ALLOW|DENY|UNAUTHORIZED), \"([a-z_]+)\"",
                                     text))
            raised |= set(re.findall(r"deny_reason = \"([a-z_]+)\"", text))
    assert raised, "the patterns no longer find the codes"
    assert raised <= ALL, raised - ALL
