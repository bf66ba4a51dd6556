"""client/pyproject.toml describes the package as it is: every third-party module the
library imports is a declared dependency and every declared dependency is imported;
Apache-2.0; the package's modules are the ones shipped."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"


def project() -> dict:
    return tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]


def imported_top_names() -> set[str]:
    names = set()
    for path in (CLIENT / "tollgate_client").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"tollgate_client", "__future__"}


def test_imports_and_declared_dependencies_match():
    declared = {
        re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
        for requirement in project()["dependencies"]
    }
    distributions = packages_distributions()
    imported = {distributions[name][0].lower() for name in imported_top_names()}
    assert imported == declared == {"authlib", "joserfc", "cryptography", "httpx", "requests"}


def test_license_and_python():
    meta = project()
    assert meta["license"] == "Apache-2.0"
    assert meta["requires-python"] == ">=3.11"
    assert (CLIENT / "README.md").is_file()
    assert (CLIENT / "tollgate_client" / "py.typed").is_file()


def test_public_names():
    import tollgate_client

    assert set(tollgate_client.__all__) >= {"TokenSource", "RequestsAuth", "HttpxAuth",
                                            "TokenError"}
    assert tollgate_client.__version__ == project()["version"]
