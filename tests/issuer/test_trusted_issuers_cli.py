"""`issuer trusted-issuers add|list|show|update|remove [--json]` and `issuer clients
create --auth-method federated --federated-identity ISSUER SUBJECT` on the database
directly: the admin API's rules and audit records (actor cli:<user>), one line per
refusal with its exit code (docs/federation.md)."""

from __future__ import annotations

import getpass
import json

from helpers.external_issuer import ExternalIssuer

from issuer.cli import main

GITHUB = "https://token.actions.githubusercontent.com"


def run_json(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def refused(capsys, argv, code: int, fragment: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()  # one line, never a traceback
    error = json.loads(line)
    assert fragment in error["error_description"], error
    return error


def test_trusted_issuer_and_federated_client_verbs(admin_cli_env, capsys, tmp_path):
    ext = ExternalIssuer(GITHUB)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(ext.jwks()))
    added = run_json(capsys, ["trusted-issuers", "add", GITHUB, "--jwks-file", str(jwks_file),
                              "--algorithm", "RS256", "--allow-reuse", "--json"])
    assert added["issuer"] == GITHUB and added["allow_reuse"] is True
    assert added["audience"] == "http://127.0.0.1:8000/oauth2/token"  # ISSUER_URL's default
    tid = added["id"]

    assert run_json(capsys, ["trusted-issuers", "show", GITHUB, "--json"]) == added
    assert run_json(capsys, ["trusted-issuers", "list", "--json"])["items"] == [added]
    updated = run_json(capsys, ["trusted-issuers", "update", tid, "--max-token-age", "600",
                                "--audience", "tollgate", "--json"])
    assert (updated["max_token_age"], updated["audience"]) == (600, "tollgate")

    subject = "repo:octo-org/octo-repo:ref:refs/heads/main"
    client = run_json(capsys, ["clients", "create", "--name", "ci", "--scope", "orders:read",
                               "--auth-method", "federated",
                               "--federated-identity", GITHUB, subject, "--json"])
    assert client["auth_method"] == "federated" and "client_secret" not in client
    assert client["federated_identities"] == [{"issuer": GITHUB, "subject": subject}]
    # A second client claiming the same identity (a conflict, exit 1, as the admin API's
    # 409); an untrusted issuer (a rule, exit 2).
    error = refused(capsys, ["clients", "create", "--name", "dup", "--scope", "orders:read",
                             "--auth-method", "federated", "--federated-identity", GITHUB,
                             subject],
                    1, "already authenticates client " + client["client_id"])
    assert error["error"] == "conflict"
    refused(capsys, ["clients", "create", "--name", "x", "--scope", "orders:read",
                     "--auth-method", "federated", "--federated-identity",
                     "https://nope.example", "x"], 2, "not a trusted issuer")
    # The issuer cannot go while the client's identity names it (exit 1: the answer is no).
    error = refused(capsys, ["trusted-issuers", "remove", tid], 1, "federated identit")
    assert error["error"] == "conflict"
    assert run_json(capsys, ["clients", "delete", client["client_id"], "--yes", "--json"])
    assert run_json(capsys, ["trusted-issuers", "remove", GITHUB, "--json"])["removed"] is True
    refused(capsys, ["trusted-issuers", "show", tid], 1, "no trusted issuer")

    records = run_json(capsys, ["audit", "--json", "--limit", "6"])["items"]
    actions = [r["action"] for r in records]
    assert actions[:5] == ["trusted_issuer.delete", "client.delete", "client.create",
                           "trusted_issuer.update", "trusted_issuer.create"]
    assert {r["actor"] for r in records[:5]} == {f"cli:{getpass.getuser()}"}
    assert records[2]["changes"]["federated_identities"] == [
        {"issuer": GITHUB, "subject": subject}]


def test_refusals_are_one_line(admin_cli_env, capsys, tmp_path):
    ext = ExternalIssuer("https://kubernetes.example.test")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(ext.jwks()))
    refused(capsys, ["trusted-issuers", "add", ext.iss, "--jwks-file", str(jwks_file),
                     "--algorithm", "HS256"], 2, "never none or HS*")
    refused(capsys, ["trusted-issuers", "add", ext.iss, "--jwks-file", str(jwks_file),
                     "--algorithm", "none"], 2, "never none or HS*")
    refused(capsys, ["trusted-issuers", "add", "kubernetes", "--jwks-file", str(jwks_file)],
            2, "must be a URI")
    refused(capsys, ["trusted-issuers", "add", ext.iss], 2, "exactly one of jwks_uri and jwks")
    run_json(capsys, ["trusted-issuers", "add", ext.iss, "--jwks-file", str(jwks_file),
                      "--json"])
    error = refused(capsys, ["trusted-issuers", "add", ext.iss, "--jwks-file", str(jwks_file)],
                    1, "already trusted")
    assert error["error"] == "conflict"
