"""pyproject.toml's runtime dependencies are the product's, no more and no fewer.

- Every distribution in `[project].dependencies` is imported by product code (issuer/,
  authorizer/, shared/, deploy/, migrations/: imports read from the AST, lazy ones inside
  functions included), or is loaded by importing it (`LOADED_BY`: each entry says by what,
  and a fresh interpreter checks that it really is).
- Product code imports nothing third-party that is not declared: import names map to
  distributions with `importlib.metadata.packages_distributions()`, the standard library
  is `sys.stdlib_module_names`. The runtime-provided exceptions (`PROVIDED_BY_RUNTIME`)
  must be imported lazily, only where that runtime runs them, and pinned in an extra.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("issuer", "authorizer", "shared", "deploy", "migrations")

# Declared runtime dependencies that no product module imports, and what loads them.
# Each is checked in a fresh interpreter running `LOAD_PROBE`.
LOADED_BY = {
    # The issuer's forms are read by issuer/http/oauth/form.py, but Starlette's request module
    # imports python_multipart whenever it is installed (starlette/requests.py).
    "python-multipart": "importing the issuer's app (Starlette's request module)",
    # The one database driver: SQLAlchemy imports the DBAPI module named by the URL's
    # dialect (ISSUER_DATABASE_URL=postgresql+psycopg://..., README "Configuration").
    "psycopg": "SQLAlchemy, for a postgresql+psycopg:// ISSUER_DATABASE_URL",
    # uvicorn's fast event loop and HTTP parser: `issuer serve` leaves uvicorn's loop and
    # http on "auto" (issuer/cli/serve.py SERVER_OPTIONS), which imports them if installed.
    "uvloop": "uvicorn's loop='auto' in `issuer serve`",
    "httptools": "uvicorn's http='auto' in `issuer serve`",
}
LOAD_PROBE = """
import json, sys
import issuer.http.app
from issuer.store.engine import make_engine
make_engine("postgresql+psycopg://probe@127.0.0.1:1/probe")  # builds, never connects
from uvicorn.config import Config
from issuer.cli.serve import SERVER_OPTIONS
async def app(scope, receive, send): pass
config = Config(app, **SERVER_OPTIONS)  # as `issuer serve` configures uvicorn
config.load()
config.get_loop_factory()
print(json.dumps(sorted(sys.modules)))
"""

# Imported by product code, provided by the platform that runs it, so not a runtime
# dependency of the package: {import name: (where it may be imported, why)}.
PROVIDED_BY_RUNTIME = {
    # SnapStart runtime hooks: "included in Python managed runtimes"
    # (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html).
    "snapshot_restore_py": ("deploy/", "the AWS Lambda Python runtime"),
}

# Imported directly by product code yet declared only through FastAPI's own requirements
# (fastapi requires starlette and pydantic). Reported for pyproject.toml; each entry is
# checked to be still undeclared, so it is removed here once pyproject names it.
PENDING_DECLARATION: set[str] = set()


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return normalize(match.group(1))


@cache
def project() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]


def runtime_dependencies() -> set[str]:
    return {requirement_name(spec) for spec in project()["dependencies"]}


def extra_dependencies() -> set[str]:
    extras = project().get("optional-dependencies", {})
    return {requirement_name(spec) for specs in extras.values() for spec in specs}


class Import(NamedTuple):
    name: str  # top-level module
    path: str  # relative to the repository
    lazy: bool  # inside a function body: loaded only when that function runs


def _imports(node: ast.AST, path: str, lazy: bool, found: list[Import]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            found += [Import(alias.name.split(".")[0], path, lazy) for alias in child.names]
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            found.append(Import(child.module.split(".")[0], path, lazy))
        _imports(child, path, lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef),
                 found)


@cache
def product_imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for package in PRODUCT:
        for file in sorted((ROOT / package).rglob("*.py")):
            path = str(file.relative_to(ROOT))
            _imports(ast.parse(file.read_text(encoding="utf-8"), path), path, False, found)
    return tuple(found)


def third_party(imports: tuple[Import, ...]) -> list[Import]:
    return [i for i in imports if i.name not in sys.stdlib_module_names
            and i.name not in PRODUCT and i.name != "__future__"]


@cache
def _import_names() -> dict[str, list[str]]:
    return packages_distributions()  # reads every installed distribution's RECORD: once


def distributions(import_name: str) -> set[str]:
    return {normalize(dist) for dist in _import_names().get(import_name, [])}


def test_product_code_imports_only_declared_distributions():
    declared = runtime_dependencies()
    undeclared: dict[str, list[str]] = {}
    for used in third_party(product_imports()):
        if used.name in PROVIDED_BY_RUNTIME or used.name in PENDING_DECLARATION:
            continue
        dists = distributions(used.name)
        if not dists & declared:
            provider = ", ".join(sorted(dists)) or "no installed distribution provides it"
            undeclared.setdefault(f"{used.name} ({provider})", []).append(used.path)
    assert not undeclared, f"imported by product code, not in [project].dependencies: {undeclared}"


def test_pending_declarations_are_still_pending():
    """An entry of PENDING_DECLARATION that pyproject now declares (or that product code
    no longer imports) must leave the list, so the list never hides a new import."""
    imported = {i.name for i in third_party(product_imports())}
    declared = runtime_dependencies()
    for name in PENDING_DECLARATION:
        assert name in imported, f"{name} is no longer imported: drop it from the list"
        assert not distributions(name) & declared, f"{name} is declared now: drop it"


def test_runtime_provided_packages_are_lazy_local_and_pinned():
    declared, extras = runtime_dependencies(), extra_dependencies()
    for name, (where, _runtime) in PROVIDED_BY_RUNTIME.items():
        uses = [i for i in third_party(product_imports()) if i.name == name]
        assert uses, f"{name} is no longer imported: drop it from PROVIDED_BY_RUNTIME"
        for use in uses:
            # Imported at module level it would be needed by every importer, outside
            # the runtime that provides it too.
            assert use.lazy and use.path.startswith(where), use
        assert normalize(name) not in declared, f"{name}: the runtime provides it"
        assert normalize(name) in extras, f"{name}: pin the tested version in an extra"


@cache
def loaded_by_probe() -> frozenset[str]:
    result = subprocess.run([sys.executable, "-c", LOAD_PROBE], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return frozenset(name.split(".")[0] for name in json.loads(result.stdout))


def test_every_runtime_dependency_is_imported_or_loaded():
    imported = set()
    for used in third_party(product_imports()):
        imported |= distributions(used.name)
    unused = runtime_dependencies() - imported - set(LOADED_BY)
    assert not unused, f"[project].dependencies that product code never imports: {unused}"


@pytest.mark.parametrize("dist", sorted(LOADED_BY))
def test_loaded_by_is_true(dist):
    """Each LOADED_BY entry is a declared runtime dependency that product code does not
    import itself (else the entry is stale) and that the probe really loads."""
    assert dist in runtime_dependencies()
    imported = set()
    for used in third_party(product_imports()):
        imported |= distributions(used.name)
    assert dist not in imported, f"{dist} is imported by product code: drop the entry"
    loaded = {name for name in loaded_by_probe() if dist in distributions(name)}
    assert loaded, f"{dist} not loaded by {LOADED_BY[dist]}"


def test_import_walk_sees_lazy_and_nested_imports():
    source = "import a.b\nfrom c import d\ndef f():\n    import e\n    from .g import h\n"
    found: list[Import] = []
    _imports(ast.parse(source), "x.py", False, found)
    assert found == [Import("a", "x.py", False), Import("c", "x.py", False),
                     Import("e", "x.py", True)]
