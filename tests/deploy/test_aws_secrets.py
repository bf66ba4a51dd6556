"""Secrets at cold start on AWS (deploy/aws_secrets.py, deploy/lambda_runtime.py) against
moto's Secrets Manager and KMS: the secrets encrypted under a customer key, read with
GetSecretValue, never taken from the function's environment."""

from __future__ import annotations

import json
import os

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from deploy import aws_secrets, lambda_runtime  # noqa: E402
from issuer.keys.kek import decode_kek, new_kek_text  # noqa: E402

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with moto.mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        key = kms.create_key(Description="tollgate test")["KeyMetadata"]["KeyId"]
        sm = boto3.client("secretsmanager", region_name=REGION)
        yield sm, key


def put(sm, key, name, value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return sm.create_secret(Name=name, KmsKeyId=key, SecretString=text)["ARN"]


DB = {"username": "tollgate", "password": "p@ss:/word%", "host": "db.internal",
      "port": 5432, "dbname": "tollgate"}


def env_for(db_arn: str, kek_arn: str, **extra) -> dict:
    return {"TOLLGATE_DB_SECRET_ARN": db_arn, "TOLLGATE_KEK_SECRET_ARN": kek_arn,
            "ISSUER_ENV": "production", **extra}


def test_resolve_reads_both_secrets_under_the_customer_key(aws):
    sm, key = aws
    kek = new_kek_text()
    env, creds = aws_secrets.resolve(env_for(put(sm, key, "db", DB), put(sm, key, "kek", kek),
                                             TOLLGATE_DB_HOST="proxy.internal"), client=sm)
    assert env["ISSUER_KEY_ENCRYPTION_KEY"] == kek  # a KEK text is used as it is
    # The password is URL-quoted; the proxy endpoint replaces the secret's host; TLS.
    assert env["ISSUER_DATABASE_URL"] == (
        "postgresql+psycopg://tollgate:p%40ss%3A%2Fword%25@proxy.internal:5432/tollgate"
        "?sslmode=require")
    assert creds.password() == "p@ss:/word%"
    # The secrets were stored encrypted under the customer key.
    assert sm.describe_secret(SecretId="kek")["KmsKeyId"] == key


def test_generated_kek_secret_is_derived_to_32_bytes_deterministically(aws):
    sm, key = aws
    generated = "A" * 20 + "b" * 20 + "9" * 24  # what GenerateSecretString makes: 64 alnum
    arn = put(sm, key, "kek", generated)
    first = aws_secrets.kek_text(aws_secrets.read_secret(sm, arn), arn)
    assert len(decode_kek(first)) == 32
    assert first == aws_secrets.kek_text(generated, arn)
    assert first != generated


def test_short_kek_secret_is_refused_without_echoing_it(aws):
    sm, key = aws
    arn = put(sm, key, "kek", "short-secret-value")
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env_for(put(sm, key, "db", DB), arn), client=sm)
    assert "short-secret-value" not in str(err.value)
    assert str(err.value).startswith(f"secret {arn} is neither a KEK")


def test_missing_secret_names_the_arn_and_error_code_only(aws):
    sm, key = aws
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:nope-AbCdEf"
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve(env_for(missing, put(sm, key, "kek", new_kek_text())), client=sm)
    assert str(err.value) == f"cannot read secret {missing}: ResourceNotFoundException"


def test_rotated_password_is_read_again_after_a_refresh(aws):
    sm, key = aws
    arn = put(sm, key, "db", DB)
    creds = aws_secrets.DbCredentials(sm, {"TOLLGATE_DB_SECRET_ARN": arn})
    assert creds.password() == DB["password"]
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({**DB, "password": "rotated"}))
    assert creds.password() == DB["password"]  # cached within CREDENTIALS_TTL
    assert creds.refresh()["password"] == "rotated"
    assert creds.password() == "rotated"


def test_off_aws_the_environment_is_used_as_is():
    env = {"ISSUER_KEY_ENCRYPTION_KEY": "x", "ISSUER_DATABASE_URL": "sqlite://"}
    assert lambda_runtime.environment(env) == (env, None)


def test_both_secret_names_are_required_on_aws():
    with pytest.raises(aws_secrets.SecretError) as err:
        aws_secrets.resolve({"TOLLGATE_DB_SECRET_ARN": "arn:x"}, client=object())
    assert str(err.value) == "TOLLGATE_KEK_SECRET_ARN unset: both secrets are needed on AWS"


def test_issuer_settings_load_from_the_secrets(aws, tmp_path):
    from issuer.settings import load_settings

    sm, key = aws
    env, _ = lambda_runtime.environment(env_for(
        put(sm, key, "db", DB), put(sm, key, "kek", new_kek_text()),
        ISSUER_URL="https://issuer.example.com", POLICY_FILE=str(tmp_path / "policy.toml")),
        client=sm)
    settings = load_settings(env, env_file=None)
    assert settings.production
    assert settings.database_url.startswith("postgresql+psycopg://tollgate:")
    assert len(settings.key_encryption_key) == 32
