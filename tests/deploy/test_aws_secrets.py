"""Secrets at cold start on AWS (deploy/aws_secrets.py, deploy/lambda_runtime.py) read
over HTTP from moto's Secrets Manager, with moto checking each request's SigV4 signature
and the execution role's policy (tests/helpers/aws_server.py): the secrets encrypted
under a customer key, read with GetSecretValue by deploy/aws_api.py's client exactly as
on AWS, never taken from the function's environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import aws_api, aws_secrets, lambda_runtime
from issuer.keys.kek import decode_kek, new_kek_text

ROOT = Path(__file__).resolve().parents[2]
# What the issuer's role may do (deploy/cfn/security.yml): read secrets, and decrypt
# through Secrets Manager.
ISSUER_ROLE = [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
               {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]


@pytest.fixture
def aws(moto_server):
    """(a Secrets Manager client for set-up, the customer key, the function's AWS_*)."""
    moto_server.reset()
    key = moto_server.client("kms").create_key(Description="tollgate test")["KeyMetadata"]
    role = moto_server.role_credentials("issuer", ISSUER_ROLE)
    yield moto_server.client("secretsmanager"), key["KeyId"], role


def put(sm, key, name, value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return sm.create_secret(Name=name, KmsKeyId=key, SecretString=text)["ARN"]


DB = {"username": "tollgate", "password": "p@ss:/word%", "host": "db.internal",
      "port": 5432, "dbname": "tollgate"}


def env_for(role: dict, db_arn: str, kek_arn: str, **extra) -> dict:
    return {**role, "TOLLGATE_DB_SECRET_ARN": db_arn, "TOLLGATE_KEK_SECRET_ARN": kek_arn,
            "ISSUER_ENV": "production", **extra}


def test_resolve_reads_both_secrets_under_the_customer_key(aws):
    sm, key, role = aws
    kek = new_kek_text()
    # No client given: the one the cold start makes from the function's environment.
    env, creds = aws_secrets.resolve(env_for(role, put(sm, key, "db", DB),
                                             put(sm, key, "kek", kek),
                                             TOLLGATE_DB_HOST="proxy.internal"))
    assert env["ISSUER_KEY_ENCRYPTION_KEY"] == kek  # a KEK text is used as it is
    # The password is URL-quoted; the proxy endpoint replaces the secret's host; TLS.
    assert env["ISSUER_DATABASE_URL"] == (
        "postgresql+psycopg://tollgate:p%40ss%3A%2Fword%25@proxy.internal:5432/tollgate"
        "?sslmode=require")
    assert creds.password() == "p@ss:/word%"
    # The secrets were stored encrypted under the customer key.
    assert sm.describe_secret(SecretId="kek")["KmsKeyId"] == key


def test_generated_kek_secret_is_derived_to_32_bytes_deterministically(aws):
    sm, key, role = aws
    generated = "A" * 20 + "b" * 20 + "9" * 24  # what GenerateSecretString makes: 64 alnum
    arn = put(sm, key, "kek", generated)
    first = aws_secrets.kek_text(aws_secrets.read_secret(aws_api.SecretsManager(role), arn), arn)
    assert len(decode_kek(first)) == 32
    assert first == aws_secrets.kek_text(generated, arn)
    assert first != generated


def test_short_kek_secret_is_refused_without_echoing_it(aws):
    sm, key, role = aws
    arn = put(sm, key, "kek", "short-secret-value")
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env_for(role, put(sm, key, "db", DB), arn))
    assert "short-secret-value" not in str(err.value)
    assert str(err.value).startswith(f"secret {arn} is neither a KEK")


def test_missing_secret_names_the_arn_and_error_code_only(aws):
    sm, key, role = aws
    missing = f"arn:aws:secretsmanager:{role['AWS_REGION']}:123456789012:secret:nope-AbCdEf"
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env_for(role, missing, put(sm, key, "kek", new_kek_text())))
    assert str(err.value) == f"cannot read secret {missing}: ResourceNotFoundException"


def test_a_role_without_get_secret_value_is_refused_by_name(aws, moto_server):
    # The role is what limits the function (least privilege, deploy/cfn/security.yml):
    # a role allowed only kms:Decrypt reads nothing.
    sm, key, _ = aws
    other = moto_server.role_credentials("other", [ISSUER_ROLE[1]])
    arn = put(sm, key, "db", DB)
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env_for(other, arn, put(sm, key, "kek", new_kek_text())))
    assert str(err.value) == f"cannot read secret {arn}: AccessDenied"


def test_a_wrong_secret_access_key_fails_the_signature_check(aws):
    sm, key, role = aws
    arn = put(sm, key, "db", DB)
    wrong = {**role, "AWS_SECRET_ACCESS_KEY": "x" + role["AWS_SECRET_ACCESS_KEY"][1:]}
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env_for(wrong, arn, put(sm, key, "kek", new_kek_text())))
    assert str(err.value) == f"cannot read secret {arn}: SignatureDoesNotMatch"
    assert wrong["AWS_SECRET_ACCESS_KEY"] not in str(err.value)


def test_no_region_is_one_line_naming_the_variable(aws):
    _, _, role = aws
    env = env_for({k: v for k, v in role.items() if k != "AWS_REGION"}, "arn:db", "arn:kek")
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env)
    assert str(err.value) == "AWS_REGION is unset (Lambda sets it)"


def _rotated(aws) -> aws_secrets.DbCredentials:
    """Credentials that read the password once, then the secret rotated behind them."""
    sm, key, role = aws
    arn = put(sm, key, "db", DB)
    creds = aws_secrets.DbCredentials(aws_api.SecretsManager(role),
                                      {"TOLLGATE_DB_SECRET_ARN": arn})
    assert creds.password() == DB["password"]
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({**DB, "password": "rotated"}))
    return creds


def test_rotated_password_is_read_again_after_a_refresh(aws):
    creds = _rotated(aws)
    assert creds.password() == DB["password"]  # cached within CREDENTIALS_TTL
    assert creds.refresh()["password"] == "rotated"
    assert creds.password() == "rotated"


def test_invalidate_reads_the_secret_again_on_the_next_use(aws):
    # A SnapStart restore (deploy/issuer_lambda.py `_after_restore`): the snapshot's
    # password may have been rotated since.
    creds = _rotated(aws)
    creds.invalidate()
    assert creds.password() == "rotated"


def test_off_aws_the_environment_is_used_as_is():
    env = {"ISSUER_KEY_ENCRYPTION_KEY": "x", "ISSUER_DATABASE_URL": "sqlite://"}
    assert lambda_runtime.environment(env) == (env, None)


def test_both_secret_names_are_required_on_aws():
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve({"TOLLGATE_DB_SECRET_ARN": "arn:x"})
    assert str(err.value) == "TOLLGATE_KEK_SECRET_ARN unset: both secrets are needed on AWS"


def test_issuer_settings_load_from_the_secrets(aws, tmp_path):
    from issuer.settings import load_settings

    sm, key, role = aws
    env, _ = lambda_runtime.environment(env_for(
        role, put(sm, key, "db", DB), put(sm, key, "kek", new_kek_text()),
        ISSUER_URL="https://issuer.example.com", POLICY_FILE=str(tmp_path / "policy.toml")))
    settings = load_settings(env, env_file=None)
    assert settings.production
    assert settings.database_url.startswith("postgresql+psycopg://tollgate:")
    assert len(settings.key_encryption_key) == 32


# The init as Lambda runs it, in a child interpreter: settings from the secrets read over
# HTTP with the role's credentials, then what it made. The database (from the secret,
# TLS required) does not answer here, as at a first cold start before the proxy is up:
# the init still completes and the first request reports the database.
INIT_CHILD = r"""
import json, sys
import deploy.issuer_lambda as entry
print(json.dumps({"kek": entry.settings.key_encryption_key.hex(),
                  "url": entry.settings.database_url,
                  "sdk": sorted(m for m in ("boto3", "botocore") if m in sys.modules)}))
"""


def _init_env(role: dict, db_arn: str, kek_arn: str, port: int) -> dict:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ISSUER_", "AWS_", "TOLLGATE_", "POLICY_FILE"))}
    role = {k: v for k, v in role.items() if not k.startswith("_")}
    return {**base, **env_for(role, db_arn, kek_arn), "PYTHONPATH": str(ROOT),
            "ISSUER_URL": "https://issuer.example.com", "TOLLGATE_DB_HOST": "127.0.0.1",
            "TOLLGATE_DB_PORT": str(port), "POLICY_FILE": str(ROOT / "tests/deploy/policy.toml")}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_lambda_init_reads_both_secrets_over_https_without_an_sdk(aws):
    sm, key, role = aws
    kek = new_kek_text()
    port = _closed_port()
    env = _init_env(role, put(sm, key, "db", DB), put(sm, key, "kek", kek), port)
    proc = subprocess.run([sys.executable, "-c", INIT_CHILD], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report == {
        "kek": decode_kek(kek).hex(),
        "url": "postgresql+psycopg://tollgate:p%40ss%3A%2Fword%25@127.0.0.1:"
               f"{port}/tollgate?sslmode=require",
        "sdk": [],  # no boto3: deploy/aws_api.py signs the call itself
    }
    # Neither secret reached the function's output.
    assert DB["password"] not in proc.stdout + proc.stderr
    assert kek not in proc.stdout + proc.stderr


def test_a_cold_start_whose_secret_is_missing_fails_in_one_line(aws):
    sm, key, role = aws
    missing = f"arn:aws:secretsmanager:{role['AWS_REGION']}:123456789012:secret:gone-AbCdEf"
    env = _init_env(role, missing, put(sm, key, "kek", new_kek_text()), _closed_port())
    proc = subprocess.run([sys.executable, "-c", "import deploy.issuer_lambda"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == f"issuer: cannot read secret {missing}: ResourceNotFoundException\n"


# A SnapStart restore after the database password was rotated (deploy/issuer_lambda.py
# `_after_restore`, hooks run as tests/issuer/test_snapstart.py runs them): the restored
# environment reads the secret again instead of connecting with the snapshot's password.
RESTORE_CHILD = r"""
import json, sys
import boto3
import snapshot_restore_py as hooks
import deploy.issuer_lambda as entry
endpoint, key_id, secret_key, arn = sys.argv[1:5]
before = entry._credentials.password()
boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=endpoint,
             aws_access_key_id=key_id, aws_secret_access_key=secret_key).put_secret_value(
    SecretId=arn, SecretString=json.dumps({**json.loads(sys.argv[5]), "password": "rotated"}))
cached = entry._credentials.password()
for fn, args, kwargs in hooks.get_after_restore():
    fn(*args, **kwargs)
print(json.dumps([before, cached, entry._credentials.password()]))
"""


def test_a_restored_environment_reads_the_rotated_password(aws, moto_server):
    sm, key, role = aws
    db_arn = put(sm, key, "db", DB)
    env = _init_env(role, db_arn, put(sm, key, "kek", new_kek_text()), _closed_port())
    admin = moto_server.admin_keys()
    proc = subprocess.run([sys.executable, "-c", RESTORE_CHILD, moto_server.endpoint, *admin,
                           db_arn, json.dumps(DB)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == [DB["password"], DB["password"],
                                                        "rotated"]
