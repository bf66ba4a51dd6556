"""The import direction docs/design.md describes, read from the code (every import, lazy
ones inside functions included):

- `shared/` imports neither half: both read it, so it cannot depend on either;
- `authorizer/` imports nothing of the issuer (it is packaged without it);
- the issuer's domain packages (`issuer/store/`, `issuer/keys/`, `issuer/clients/`,
  `issuer/oauth/`, `issuer/audit.py`, `issuer/logs.py`, `issuer/settings.py`) import no
  web framework and nothing of `issuer/http/` or `issuer/cli/`: the CLI and the Lambda
  entries use them as the HTTP layer does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RULES = {
    "shared": ("issuer", "authorizer", "deploy", "bench", "client", "tollgate_client"),
    "authorizer": ("issuer", "deploy", "bench"),
    "issuer/store": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http", "issuer.cli"),
    "issuer/keys": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http", "issuer.cli"),
    "issuer/clients": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http", "issuer.cli"),
    "issuer/oauth": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http", "issuer.cli"),
    "issuer/audit.py": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http", "issuer.cli"),
    "issuer/logs.py": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http", "issuer.cli"),
    "issuer/settings.py": ("fastapi", "starlette", "uvicorn", "mangum", "issuer.http",
                           "issuer.cli"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from issuer import http` names issuer.http too
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _files(where: str) -> list[Path]:
    path = ROOT / where
    return [path] if path.suffix == ".py" else sorted(
        p for p in path.rglob("*.py") if "__pycache__" not in p.parts)


def _forbidden(module: str, banned: tuple[str, ...]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


@pytest.mark.parametrize("where", sorted(RULES))
def test_imports_point_one_way(where):
    files = _files(where)
    assert files, f"{where} holds no module"
    wrong = [f"{path.relative_to(ROOT)}:{line}: imports {module}"
             for path in files for line, module in _imports(path)
             if _forbidden(module, RULES[where])]
    assert not wrong, "\n".join(wrong)


def test_the_reader_sees_lazy_and_from_imports():
    sample = ROOT / "tests" / "test_import_direction.py"
    names = {module for _, module in _imports(sample)}
    assert {"ast", "pathlib", "pathlib.Path", "pytest"} <= names
    assert _forbidden("issuer.http.oauth.token", ("issuer.http",))
    assert not _forbidden("issuer.httpx", ("issuer.http",))
