"""Settings from the environment: defaults, clear errors at cold start."""

from __future__ import annotations

import pytest

from authorizer.settings import ConfigError, Settings

BASE = {"AUTHORIZER_ISSUER": "https://issuer.example.com", "AUTHORIZER_AUDIENCE": "a"}


def test_defaults():
    s = Settings.from_env(BASE, cwd="/nonexistent")
    assert s.issuer == "https://issuer.example.com"
    assert s.audiences == ("a",)
    assert s.jwks_uri == "https://issuer.example.com/.well-known/jwks.json"
    assert (s.jwks_file, s.policy_file, s.response) == (None, None, "simple")
    assert 0 < s.leeway <= 60
    assert (s.jwks_ttl, s.jwks_cooldown) == (300, 60)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTHORIZER_ISSUER": None}, "Config 'AUTHORIZER_ISSUER' is missing, and has no default."),
        ({"AUTHORIZER_ISSUER": "  "}, "Config 'AUTHORIZER_ISSUER' is missing"),
        ({"AUTHORIZER_AUDIENCE": None},
         "Config 'AUTHORIZER_AUDIENCE' is missing, and has no default."),
        ({"AUTHORIZER_AUDIENCE": " , "}, "Config 'AUTHORIZER_AUDIENCE' names no audience."),
        ({"AUTHORIZER_LEEWAY": "1.5"}, "Config 'AUTHORIZER_LEEWAY' has value '1.5', expected"),
        ({"AUTHORIZER_LEEWAY": "ten"}, "expected a whole number of seconds"),
        ({"AUTHORIZER_LEEWAY": "-1"}, "expected 0..300 seconds"),
        ({"AUTHORIZER_JWKS_TTL": "0"}, "Config 'AUTHORIZER_JWKS_TTL' has value 0"),
        ({"AUTHORIZER_JWKS_COOLDOWN": "x"}, "Config 'AUTHORIZER_JWKS_COOLDOWN'"),
        ({"AUTHORIZER_RESPONSE": "policy"}, "Config 'AUTHORIZER_RESPONSE' has value 'policy'"),
        ({"AUTHORIZER_JWKS_URI": "file:///etc/jwks.json"}, "expected http(s)"),
        ({"AUTHORIZER_JWKS_URI": ""}, "there would be no keys"),
    ],
    ids=["issuer-missing", "issuer-blank", "audience-missing", "audience-empty",
         "leeway-float", "leeway-word", "leeway-negative", "ttl-zero", "cooldown-word",
         "response-unknown", "uri-file-scheme", "uri-off-without-file"],
)
def test_bad_settings_fail_clearly(env, message):
    environ = {**BASE, **env}
    environ = {k: v for k, v in environ.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(environ, cwd="/nonexistent")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"AUTHORIZER_AUDIENCE": "a, b,a"}, "audiences", ("a", "b")),
        ({"AUTHORIZER_LEEWAY": " 0 "}, "leeway", 0),
        ({"AUTHORIZER_RESPONSE": "IAM"}, "response", "iam"),
        ({"AUTHORIZER_JWKS_URI": "http://localhost:8000/jwks"}, "jwks_uri",
         "http://localhost:8000/jwks"),
        ({"AUTHORIZER_JWKS_FILE": "/k.json", "AUTHORIZER_JWKS_URI": "none"}, "jwks_uri", None),
        ({"AUTHORIZER_ISSUER": "https://i.example/"}, "jwks_uri",
         "https://i.example/.well-known/jwks.json"),
        ({"POLICY_FILE": "/p.toml"}, "policy_file", "/p.toml"),
    ],
    ids=["audience-list", "leeway-zero", "response-case", "uri-explicit", "uri-off",
         "issuer-trailing-slash", "policy-file"],
)
def test_values(env, field, value):
    assert getattr(Settings.from_env({**BASE, **env}, cwd="/nonexistent"), field) == value


def test_policy_found_in_task_root_then_cwd(tmp_path):
    root, cwd = tmp_path / "task", tmp_path / "cwd"
    root.mkdir()
    cwd.mkdir()
    (cwd / "policy.toml").write_text("")
    assert Settings.from_env(BASE, cwd=str(cwd)).policy_file == str(cwd / "policy.toml")
    (root / "policy.toml").write_text("")
    env = {**BASE, "LAMBDA_TASK_ROOT": str(root)}
    assert Settings.from_env(env, cwd=str(cwd)).policy_file == str(root / "policy.toml")


def test_settings_are_frozen():
    s = Settings.from_env(BASE, cwd="/nonexistent")
    with pytest.raises(AttributeError):
        s.issuer = "x"
