"""docs/federation.md's recipes work: each recipe's `issuer` commands are run as written
(only the `--jwks-uri` is pointed at a local server holding this test's keys), then
tokens shaped as the platform makes them (its iss, the registered sub, our token
endpoint as aud, each documented algorithm) get the client's access token, and the
documented reuse setting holds (a second presentation works only where it is allowed).
A token of the same platform for another subject, or with another audience, does not."""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers.external_issuer import ExternalIssuer, JwksServer, assertion_form

from issuer.cli import main
from issuer.http.app import create_app
from issuer.settings import load_settings
from shared.jws import parse_compact

DOC = Path(__file__).resolve().parents[2] / "docs" / "federation.md"
RECIPES = ("kubernetes", "github", "aws", "spiffe")
# What each platform's tokens look like besides iss/sub/aud (docs/federation.md cites
# the platforms' documentation): the lifetime it gives them.
LIFETIME = {"kubernetes": 3600, "github": 300, "aws": 300, "spiffe": 300}


def recipe_commands(name: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- recipe: {name} -->\n```sh\n(.*?)```", text, re.S)
    assert match, f"docs/federation.md has no recipe {name}"
    joined = match.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


@pytest.mark.parametrize("name", RECIPES)
def test_recipe(name, admin_cli_env, capsys):
    commands = recipe_commands(name)
    add = next(c for c in commands if c[:3] == ["issuer", "trusted-issuers", "add"])
    create = next(c for c in commands if c[:3] == ["issuer", "clients", "create"])
    iss = add[3]
    algorithms = option_values(add, "--algorithm")
    reuse = "--allow-reuse" in add
    (pair,) = [create[i + 1:i + 3] for i, a in enumerate(create) if a == "--federated-identity"]
    assert pair[0] == iss
    subject = pair[1]

    issuers = {alg: ExternalIssuer(iss, alg=alg) for alg in algorithms}
    publisher = ExternalIssuer(iss, alg=algorithms[0], keys=[
        key for ext in issuers.values() for key in ext.keys])
    with JwksServer(publisher) as server:
        for argv in (add, create):
            argv = list(argv[1:])
            if "--jwks-uri" in argv:
                argv[argv.index("--jwks-uri") + 1] = server.uri
            capsys.readouterr()
            assert main([*argv, "--json"]) == 0, capsys.readouterr().err
        client_id = json.loads(capsys.readouterr().out)["client_id"]

        settings = load_settings()
        with TestClient(create_app(settings)) as http:
            now = time.time()  # the issuer's clock here is the wall clock
            for alg, ext in issuers.items():
                token = ext.token(subject, settings.token_endpoint, now,
                                  lifetime=LIFETIME[name])
                response = http.post("/oauth2/token", data=assertion_form(token))
                assert response.status_code == 200, (alg, response.text)
                claims = parse_compact(response.json()["access_token"]).claims
                assert claims["client_id"] == client_id
                assert claims["act"] == {"iss": iss, "sub": subject}
                again = http.post("/oauth2/token", data=assertion_form(token))
                assert again.status_code == (200 if reuse else 401), again.text
            ext = next(iter(issuers.values()))
            for token in (
                ext.token(subject + "-other", settings.token_endpoint, now),
                ext.token(subject, "https://api.elsewhere.example", now),
            ):
                assert http.post("/oauth2/token", data=assertion_form(token)).status_code == 401
