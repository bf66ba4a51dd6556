"""The copy-paste walkthrough `make run` prints: one shell command a step, each with
the HTTP status it should show in a trailing `# expect NNN` comment (which is also what
tests/e2e/test_demo.py checks, command by command)."""

from __future__ import annotations

from dataclasses import dataclass

# The client id and secret are RFC 3986 §2.3 unreserved characters only, so single
# quotes are enough to make them shell-safe.
JSON_FIELD = """python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'"""


@dataclass(frozen=True)
class Step:
    title: str
    command: str
    expect: int


def steps(issuer: str, gateway: str, client_id: str, client_secret: str) -> list[Step]:
    token_url = f"{issuer}/oauth2/token"
    auth = '-H "Authorization: Bearer $TOKEN"'
    return [
        Step(
            "Get a token (client_secret_basic; the token response is JSON)",
            f"curl -i -u '{client_id}:{client_secret}' -d grant_type=client_credentials "
            f"{token_url}",
            200,
        ),
        Step(
            "Keep the access token in $TOKEN",
            f"export TOKEN=$(curl -s -u '{client_id}:{client_secret}' "
            f"-d grant_type=client_credentials {token_url} | {JSON_FIELD})",
            0,
        ),
        Step("Call the API through the gateway: allowed by orders:read",
             f"curl -i {auth} {gateway}/orders/42", 200),
        Step("A route the token's scopes do not cover (POST needs orders:write): 403",
             f"curl -i -X POST {auth} -H 'Content-Type: application/json' "
             f"""-d '{{"item": "book"}}' {gateway}/orders""", 403),
        Step("No token at all: 401, the authorizer is not even called",
             f"curl -i {gateway}/orders", 401),
        Step("A token that is not ours: 401",
             f"curl -i -H 'Authorization: Bearer not.a.token' {gateway}/orders", 401),
    ]


def render(issuer: str, gateway: str, client_id: str, client_secret: str,
           admin_hint: str) -> str:
    lines = [
        "",
        "tollgate is running:",
        f"  issuer   {issuer}   (OpenAPI UI: {issuer}/docs)",
        f"  gateway  {gateway}   (the real Lambda authorizer in front of the example API)",
        "",
        f"A demo client was registered for you (scope orders:read):\n  {admin_hint}",
        "",
        "Walkthrough (copy-paste into another shell):",
    ]
    for number, step in enumerate(steps(issuer, gateway, client_id, client_secret), 1):
        lines.append(f"\n  {number}. {step.title}")
        suffix = f"   # expect {step.expect}" if step.expect else ""
        lines.append(f"     {step.command}{suffix}")
    lines += ["", "Press Ctrl-C to stop everything."]
    return "\n".join(lines)
