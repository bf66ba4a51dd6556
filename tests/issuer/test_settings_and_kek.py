"""Settings (defaults, bounds, production refusals, .env) and the KEK (AES-GCM bound to
the kid, the development key file)."""

from __future__ import annotations

import os

import pytest

from issuer.keys.kek import Kek, KekError, decode_kek, load_or_create_kek_file, new_kek_text
from issuer.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_URL,
    Settings,
    SettingsError,
    load_settings,
)
from shared.b64 import b64url_encode

PROD = {
    "ISSUER_ENV": "production",
    "ISSUER_URL": "https://issuer.example",
    "ISSUER_DATABASE_URL": "postgresql+psycopg://db/issuer",
    "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text(),
    "POLICY_FILE": "/etc/tollgate/policy.toml",
}


def test_defaults():
    settings = load_settings({}, env_file=None)
    assert settings.url == DEFAULT_URL and settings.database_url == DEFAULT_DATABASE_URL
    assert settings.signing_alg == "RS256" and settings.token_lifetime == 3600
    assert settings.jwks_max_age == 300 and settings.key_encryption_key is None
    assert settings.policy_file.endswith("example_policy.toml")


def test_production_with_everything_set():
    settings = load_settings(PROD, env_file=None)
    assert settings.production and len(settings.key_encryption_key) == 32


@pytest.mark.parametrize("missing", sorted(set(PROD) - {"ISSUER_ENV"}))
def test_production_refuses_each_development_default(missing):
    env = {k: v for k, v in PROD.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env, env_file=None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**PROD, "ISSUER_URL": "http://issuer.example"}, "https"),
        ({"ISSUER_ENV": "staging"}, "ISSUER_ENV"),
        ({"ISSUER_SIGNING_ALG": "HS256"}, "ISSUER_SIGNING_ALG"),
        ({"ISSUER_SIGNING_ALG": "none"}, "ISSUER_SIGNING_ALG"),
        ({"ISSUER_TOKEN_LIFETIME": "abc"}, "ISSUER_TOKEN_LIFETIME"),
        ({"ISSUER_TOKEN_LIFETIME": "999999"}, "ISSUER_TOKEN_LIFETIME"),
        ({"ISSUER_TOKEN_LIFETIME": "1"}, "ISSUER_TOKEN_LIFETIME"),
        ({"ISSUER_JWKS_MAX_AGE": "-1"}, "ISSUER_JWKS_MAX_AGE"),
        ({"ISSUER_URL": "https://issuer.example/?a=b"}, "ISSUER_URL"),
        ({"ISSUER_URL": "ftp://issuer.example"}, "ISSUER_URL"),
        ({"ISSUER_KEY_ENCRYPTION_KEY": "short"}, "ISSUER_KEY_ENCRYPTION_KEY"),
    ],
)
def test_bad_values_are_named(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env, env_file=None)


@pytest.mark.parametrize(
    "weak",
    [bytes(32), b"\xff" * 32, b"k" * 32, b"0123456789abcdef" * 2, bytes(range(8)) * 4],
    ids=["all zero", "all ff", "all equal", "16-byte pattern", "8-byte pattern"],
)
def test_production_refuses_a_weak_kek(weak):
    env = {**PROD, "ISSUER_KEY_ENCRYPTION_KEY": b64url_encode(weak)}
    with pytest.raises(SettingsError, match="ISSUER_KEY_ENCRYPTION_KEY") as refused:
        load_settings(env, env_file=None)
    assert "not random" in str(refused.value)
    assert b64url_encode(weak) not in str(refused.value)  # the key is never echoed
    # Development takes it (tests and the example use fixed keys).
    dev = {k: v for k, v in env.items() if k != "ISSUER_ENV"}
    assert load_settings(dev, env_file=None).key_encryption_key == weak


def test_production_takes_random_keys():
    # 32 random bytes have about 30 distinct values; 1,000 draws never come near the bar.
    for _ in range(1000):
        env = {**PROD, "ISSUER_KEY_ENCRYPTION_KEY": new_kek_text()}
        assert load_settings(env, env_file=None).production


def test_kek_check_value_opens_only_under_its_kek():
    raw = decode_kek(new_kek_text())
    check = Kek(raw).check_value()
    assert Kek(raw).opens(check)
    assert not Kek(decode_kek(new_kek_text())).opens(check)
    assert not Kek(raw).opens(check[:-1] + bytes([check[-1] ^ 1]))
    assert not Kek(raw).opens(b"")
    # A signing key's ciphertext never passes for the check value.
    assert not Kek(raw).opens(Kek(raw).encrypt(b"tollgate key-encryption key check", "kid"))


def test_env_file_below_environment(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport ISSUER_URL='https://from-file.example/'\nISSUER_TOKEN_LIFETIME=900\n"
    )
    settings = load_settings({"ISSUER_TOKEN_LIFETIME": "1200"}, env_file=env_file)
    assert settings.url == "https://from-file.example"  # trailing slash dropped: exact `iss`
    assert settings.token_lifetime == 1200


def test_kek_binds_ciphertext_to_kid():
    kek = Kek(decode_kek(new_kek_text()))
    blob = kek.encrypt(b"private key", "kid-1")
    assert kek.decrypt(blob, "kid-1") == b"private key"
    assert b"private key" not in blob
    with pytest.raises(KekError):
        kek.decrypt(blob, "kid-2")
    with pytest.raises(KekError):
        Kek(decode_kek(new_kek_text())).decrypt(blob, "kid-1")


def test_legacy_secret_hmac_key_is_derived_not_the_kek():
    # The value databases made before the data key keep as theirs (kek_check.py).
    raw = decode_kek(new_kek_text())
    derived = Kek(raw).legacy_secret_hmac_key()
    assert len(derived) == 32 and derived != raw
    assert derived == Kek(raw).legacy_secret_hmac_key()
    with pytest.raises(KekError):  # the data key itself comes from the database
        Kek(raw).secret_hmac_key()


def test_development_kek_file_made_once(tmp_path):
    path = tmp_path / "state" / "kek"
    first = load_or_create_kek_file(path)
    assert load_or_create_kek_file(path) == first
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(KekError, match="readable by others"):
        load_or_create_kek_file(path)


def test_the_settings_repr_shows_no_kek_and_no_database_password():
    """A repr reaches tracebacks and debug output: both KEKs and the password of the
    database URL are masked, everything else is shown as set."""
    kek, previous = b"k" * 32, b"p" * 32
    settings = Settings(key_encryption_key=kek, previous_key_encryption_key=previous,
                        database_url="postgresql+psycopg://app:s3cr%40t@[::1]:5432/tg")
    shown = repr(settings)
    assert "key_encryption_key='***'" in shown
    assert "previous_key_encryption_key='***'" in shown
    assert "database_url='postgresql+psycopg://app:***@[::1]:5432/tg'" in shown
    for secret in (repr(kek), repr(previous), "s3cr", "kkkk", "pppp"):
        assert secret not in shown
    assert "signing_alg='RS256'" in shown
    plain = repr(Settings(database_url="sqlite:///./issuer.db"))
    assert "key_encryption_key=None" in plain
    assert "database_url='sqlite:///./issuer.db'" in plain
