"""serverless.yml tests need Node and the npm packages of package-lock.json.

Without them the tests are skipped with the way to get them, never failed: `make test`
runs on machines without Node; `make test-serverless` (CI) installs them first.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from helpers.procs import REPO

OSLS = REPO / "node_modules" / ".bin" / "osls"
OFFLINE_PLUGIN = REPO / "node_modules" / "serverless-offline" / "package.json"
INSTALL_HINT = "run `bash deploy/install_offline.sh` (npm ci --legacy-peer-deps)"


def tooling_missing() -> str | None:
    if not shutil.which("node"):
        return "node is not installed (serverless-offline needs Node.js 20+)"
    if not OSLS.exists() or not OFFLINE_PLUGIN.exists():
        return f"node_modules has no osls/serverless-offline: {INSTALL_HINT}"
    return None


def _offline_env(**extra: str) -> dict[str, str]:
    """An environment in which osls can make no AWS call and phones nobody."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ISSUER_", "AUTHORIZER_", "SLS_", "SERVERLESS_"))}
    venv_bin = str(Path(sys.executable).parent)
    env.update({
        # Dummy credentials: osls wants some, and none of them may be real.
        "AWS_ACCESS_KEY_ID": "AKIAOFFLINEOFFLINE00", "AWS_SECRET_ACCESS_KEY": "offline",
        "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true",
        "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
        "SLS_DEPRECATION_DISABLE": "*", "NODE_NO_WARNINGS": "1",
        # serverless-offline runs `python3` from PATH, after VIRTUAL_ENV/bin: this venv.
        "VIRTUAL_ENV": sys.prefix, "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
    })
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def offline_env():
    """Skips the module when Node or the npm packages are missing; else an env factory."""
    if reason := tooling_missing():
        pytest.skip(reason)
    return _offline_env
