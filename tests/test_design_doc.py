"""docs/design.md matches the tree.

- Every path it names (`issuer/keys/store.py`, `deploy/cfn/*.yml`, `docs/revocation.md`,
  a folder such as `issuer/http/oauth/`) exists, and every dotted name in backticks
  (`shared.verify.AccessTokenVerifier`, `issuer.cli:main`) is a module, or a module and
  a name it defines: a rename or a removal fails here instead of leaving the map wrong.
- Every function or class it names in backticks as a call (`mint_access_token(...)`) or
  a class attribute (`KeyStore.cached_signer`) is defined somewhere in the code.
- Every Python module under the mapped packages has exactly one table row whose first
  cell names it, and every package folder is named: a module added without a row fails.
To keep it true, give a new module one row in its package's table, in the words of its
docstring.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
MAPPED = ("issuer", "shared", "authorizer", "deploy", "client")  # every module needs a row
TOP = ("issuer", "shared", "authorizer", "deploy", "bench", "migrations", "tests", "docs",
       "examples", "client")

# A repository path: a top-level folder, then segments; a trailing "/" names a folder.
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./*-]*)")
# A dotted module name inside backticks: shared.verify.AccessTokenVerifier, issuer.cli:main.
DOTTED = re.compile(rf"(?<![\w./:-])((?:{'|'.join((*MAPPED, 'bench'))})(?:\.\w+)+)(?::(\w+))?")
FILE_TYPES = {"zip", "json", "toml", "yml", "yaml", "md", "py", "txt", "lock", "jwt"}
SPANS = re.findall(r"`([^`\n]+)`", DOC)


def _paths() -> list[str]:
    return sorted({m.rstrip(".") for m in PATH.findall(DOC)})


def _dotted() -> list[str]:
    found = set()
    for span in SPANS:
        for name, attr in DOTTED.findall(span):
            if name.rsplit(".", 1)[-1] in FILE_TYPES:
                continue  # a file name (`authorizer.zip`), not a module
            found.add(f"{name}:{attr}" if attr else name)
    return sorted(found)


def _rows() -> list[str]:
    """The first cell of every table row (header and rule rows aside)."""
    cells = []
    for line in DOC.splitlines():
        if line.startswith("| ") and not line.startswith(("| module |", "|---", "| to find |")):
            cells.append(line.split(" | ", 1)[0])
    return cells


def _defines(module: Path, name: str) -> bool:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


def _has_code(init: Path) -> bool:
    body = ast.parse(init.read_text(encoding="utf-8")).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def _modules() -> list[str]:
    modules = []
    for top in MAPPED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            if path.name == "__init__.py" and not _has_code(path):
                continue  # an empty package marker: the folder is named instead
            modules.append(path.relative_to(ROOT).as_posix())
    return modules


def _packages() -> list[str]:
    return sorted(p.parent.relative_to(ROOT).as_posix() + "/"
                  for top in MAPPED for p in (ROOT / top).rglob("__init__.py")
                  if "__pycache__" not in p.parts)


# `name(` in a span: a function or class called; `Class.attr`: a class's member.
CALLED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
MEMBER_OF = re.compile(r"(?<![\w.])([A-Z]\w*[a-z]\w*)\.[a-z_]\w*")


def _defined_names() -> set[str]:
    names: set[str] = set()
    for top in (*MAPPED, "bench"):
        for path in (ROOT / top).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _symbols() -> list[str]:
    return sorted({name for span in SPANS
                   for name in CALLED.findall(span) + MEMBER_OF.findall(span)})


def test_the_document_names_enough_to_check():
    assert len(_paths()) > 100 and len(_dotted()) > 5 and len(_modules()) > 80
    assert len(_symbols()) > 100


def test_named_functions_and_classes_exist():
    defined = _defined_names()
    missing = [name for name in _symbols() if name not in defined]
    assert not missing, f"docs/design.md names {missing}: defined nowhere in the code"


@pytest.mark.parametrize("path", _paths())
def test_named_path_exists(path):
    if "*" in path:
        assert list(ROOT.glob(path)), f"docs/design.md names {path}: nothing matches"
    elif path.endswith("/"):
        assert (ROOT / path).is_dir(), f"docs/design.md names the folder {path}: not there"
    else:
        assert (ROOT / path).exists(), f"docs/design.md names {path}: not there"


@pytest.mark.parametrize("dotted", _dotted())
def test_named_module_exists(dotted):
    name, _, attr = dotted.partition(":")
    parts = name.split(".")
    # The longest prefix that is a module or a package, then the names it must define.
    for cut in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        module = base.with_suffix(".py")
        if module.is_file() or (base / "__init__.py").is_file():
            break
    else:
        pytest.fail(f"docs/design.md names {dotted}: no such module")
    rest = parts[cut:] + ([attr] if attr else [])
    if not rest:
        return
    source = module if module.is_file() else base / "__init__.py"
    assert _defines(source, rest[0]), (
        f"docs/design.md names {dotted}: {source.relative_to(ROOT)} defines no {rest[0]}")


@pytest.mark.parametrize("module", _modules())
def test_every_module_has_one_row(module):
    rows = [cell for cell in _rows() if f"`{module}`" in cell]
    assert len(rows) == 1, (
        f"{module}: {len(rows)} rows in docs/design.md; give it one row in its package's "
        "table (what it is for, from its docstring)")


@pytest.mark.parametrize("package", _packages())
def test_every_package_is_named(package):
    assert package in _paths(), f"docs/design.md does not name the package {package}"
