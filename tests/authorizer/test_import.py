"""Cold start in a fresh interpreter: import-light, no network, clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("fastapi", "starlette", "pydantic", "sqlalchemy", "alembic", "boto3", "botocore",
             "issuer", "httpx", "uvicorn", "jwt", "requests", "urllib.request", "http.client",
             "logging")
PROBE = """
import json, sys, time
start = time.perf_counter()
import authorizer.handler
took = time.perf_counter() - start
print(json.dumps({"took": took, "modules": sorted(sys.modules)}))
"""


def run(env_extra: dict, code: str = PROBE, cwd: Path | None = None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTHORIZER_", "POLICY_FILE", "LAMBDA_TASK_ROOT"))}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory):
    # cwd without policy.toml, so only the two required settings are in play
    cwd = tmp_path_factory.mktemp("empty")
    env = {"AUTHORIZER_ISSUER": "https://issuer.example.com", "AUTHORIZER_AUDIENCE": "a",
           "PYTHONPATH": str(ROOT)}
    return run(env, cwd=cwd)


def test_import_with_two_settings_succeeds_fast_without_network(minimal):
    assert minimal.returncode == 0, minimal.stderr
    result = json.loads(minimal.stdout.strip().splitlines()[-1])
    assert result["took"] < 1.0
    # the one cold-start line: no policy, a warning
    assert '"event":"no_policy"' in minimal.stdout


@pytest.mark.parametrize("module", FORBIDDEN)
def test_import_loads_nothing_heavy(minimal, module):
    modules = json.loads(minimal.stdout.strip().splitlines()[-1])["modules"]
    assert module not in modules
    assert not any(m.startswith(module + ".") for m in modules)


@pytest.mark.parametrize(
    ("env", "message"),
    [({"AUTHORIZER_AUDIENCE": "a"}, "Config 'AUTHORIZER_ISSUER' is missing, and has no default."),
     ({"AUTHORIZER_ISSUER": "https://i"}, "Config 'AUTHORIZER_AUDIENCE' is missing"),
     ({"AUTHORIZER_ISSUER": "https://i", "AUTHORIZER_AUDIENCE": "a", "AUTHORIZER_LEEWAY": "x"},
      "Config 'AUTHORIZER_LEEWAY' has value 'x'")],
    ids=["issuer", "audience", "leeway"],
)
def test_missing_setting_fails_the_import_clearly(env, message, tmp_path):
    result = run({**env, "PYTHONPATH": str(ROOT)}, code="import authorizer.handler",
                 cwd=tmp_path)
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and message in result.stderr


def test_import_with_policy_and_jwks_file(tmp_path):
    from helpers.mint import make_key

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [make_key("RS256", kid="k")[1]]}))
    policy = ROOT / "shared" / "example_policy.toml"
    env = {"AUTHORIZER_ISSUER": "https://i", "AUTHORIZER_AUDIENCE": "https://api.example.com/orders",
           "AUTHORIZER_JWKS_FILE": str(jwks), "POLICY_FILE": str(policy), "PYTHONPATH": str(ROOT)}
    if not policy.exists():
        pytest.skip("shared/example_policy.toml not landed yet")
    result = run(env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.strip().splitlines()[-1])["modules"]
    assert not any(m.split(".")[0] in FORBIDDEN for m in modules)
