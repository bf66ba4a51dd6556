"""The console's token tester: a token, a method and a path, decided as the authorizer
decides them (`authorizer/cli.py` `decide`, what `authorizer check` prints) under the
issuer's loaded policy, with this issuer's published keys and signed revocation list
handed to the authorizer in process (what it would fetch from `/.well-known/`). The
authorizer accepts every audience of the policy (one authorizer in front of every API)
and answers with an IAM policy, shown as API Gateway would receive it."""

from __future__ import annotations

import json
from typing import Any

from issuer.keys.store import published_jwks
from issuer.services import Services

REVOCATIONS_PATH = "/.well-known/revocations.jwt"


def decide_token(services: Services, token: str, method: str, path: str) -> dict[str, Any]:
    from authorizer.cli import decide
    from authorizer.coldstart import build_authorizer
    from authorizer.log import DecisionLog
    from authorizer.settings import Settings as AuthorizerSettings
    from issuer.http.discovery.revocation_list import _signed_list

    settings = services.settings
    with services.sessions() as session:
        jwks = json.dumps(published_jwks(session)).encode()
    documents = {
        settings.jwks_uri: jwks,
        settings.url + REVOCATIONS_PATH: _signed_list(services).encode("ascii"),
    }
    audiences = tuple(api.audience for api in services.policy.apis.values())
    authorizer = build_authorizer(
        AuthorizerSettings(
            issuer=settings.url,
            audiences=audiences or (settings.url,),
            jwks_uri=settings.jwks_uri,
            jwks_file=None,
            policy_file=None,
            response="iam",
            revocation_uri=settings.url + REVOCATIONS_PATH,
        ),
        fetcher=documents.__getitem__,
        wall_clock=lambda: services.clock().timestamp(),  # the issuer's time, as it mints
        policy=services.policy,
        log=DecisionLog(lambda line: None),  # the tester's decisions are not traffic
    )
    authorization = token if token[:7].lower() == "bearer " else "Bearer " + token
    return decide(authorizer, authorization, method, path)
