"""docs/threat-model.md names modules, symbols and tests: each must exist, so a rename or
a removed test makes this fail instead of leaving the document wrong. It stands alone:
it cites RFCs, CVEs, AWS documentation and the project's own docs, no working notes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")

TESTS = sorted(set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC)))
# `path/to/module.py` optionally followed by `Symbol` or `Class.method`.
MODULES = sorted(set(re.findall(
    r"`((?:issuer|authorizer|shared|deploy|migrations)/[\w/]+\.py)`(?: `([\w.]+)`)?", DOC)))
DOCS = sorted(set(re.findall(r"\b(docs/[\w-]+\.md)\b", DOC)))


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async def|def|class) {re.escape(name)}\b|^{re.escape(name)}\b"
                     rf"\s*[:=]", source, re.MULTILINE) is not None


def test_the_document_names_enough_to_check():
    assert len(TESTS) > 100 and len(MODULES) > 40 and DOCS


@pytest.mark.parametrize(("path", "name"), TESTS, ids=[f"{p}::{n}" for p, n in TESTS])
def test_named_test_exists(path, name):
    file = ROOT / path
    assert file.is_file(), path
    assert re.search(rf"^(?:async )?def {name}\(", file.read_text(encoding="utf-8"),
                     re.MULTILINE), f"{path} has no test {name}"


@pytest.mark.parametrize(("path", "symbol"), MODULES,
                         ids=[f"{p} {s}".strip() for p, s in MODULES])
def test_named_module_and_symbol_exist(path, symbol):
    file = ROOT / path
    assert file.is_file(), path
    source = file.read_text(encoding="utf-8")
    for name in filter(None, symbol.split(".")):
        assert _defines(source, name), f"{path} defines no {name}"


@pytest.mark.parametrize("path", DOCS)
def test_named_docs_exist(path):
    assert (ROOT / path).is_file()


def test_stands_alone():
    # Spelled in pieces so this file does not name them itself (tests/test_docs_stand_alone.py).
    for note in ("ATT" "ACKS", "SP" "EC", "ST" "YLE.md", "../sha" "red"):
        assert note not in DOC
