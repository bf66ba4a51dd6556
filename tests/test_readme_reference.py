"""The README's configuration reference is complete: every environment setting that
issuer/settings.py and authorizer/settings.py read has a row in a table of the
"Configuration" section, no row names a setting nobody reads, and every `issuer serve`
option has a row in its server table."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTING = re.compile(r"(?:ISSUER|AUTHORIZER)_[A-Z0-9_]+|POLICY_FILE")


def _read_settings() -> set[str]:
    names = set()
    for module in ("issuer/settings.py", "authorizer/settings.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SETTING.fullmatch(node.value):
                    names.add(node.value)
    return names


def _configuration_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Configuration\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _first_cells() -> list[str]:
    return [
        line.split("|")[1]
        for line in _configuration_section().splitlines()
        if line.startswith("| `")
    ]


def _documented() -> set[str]:
    return {name for cell in _first_cells() for name in re.findall(r"`([^`]+)`", cell)
            if SETTING.fullmatch(name)}


def test_settings_are_found():
    read = _read_settings()
    assert {"ISSUER_URL", "ISSUER_TRUSTED_PROXIES", "ISSUER_DOCS", "AUTHORIZER_ISSUER",
            "POLICY_FILE"} <= read
    assert len(read) >= 30


def test_every_setting_read_has_a_row():
    missing = _read_settings() - _documented()
    assert not missing, f"README's Configuration has no row for {sorted(missing)}"


def test_no_row_for_a_setting_nobody_reads():
    stale = _documented() - _read_settings()
    assert not stale, f"README documents settings no code reads: {sorted(stale)}"


def test_every_serve_option_has_a_row():
    from issuer.cli import full_parser

    parser = full_parser()
    groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = groups.choices["serve"]
    options = {
        option for action in serve._actions for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    documented = {name for cell in _first_cells() for name in re.findall(r"`(--[a-z-]+)`", cell)}
    assert options == {"--host", "--port", "--workers"}
    assert options <= documented
