"""One client type on the authentication path: whichever method authenticates and
whatever finds the client (the services' cache, or a plain lookup), the result is the
immutable `ClientRecord` snapshot the grant and the token's `gen` are decided from."""

from __future__ import annotations

import base64

import pytest

from issuer.clients.cache import ClientRecord
from issuer.oauth.client_auth import TokenRequest, secret_authenticator
from issuer.oauth.errors import InvalidClient


def _requests(client_id: str, secret: str) -> list[TokenRequest]:
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {"grant_type": "client_credentials"}
    return [
        TokenRequest(form, basic),
        TokenRequest({**form, "client_id": client_id, "client_secret": secret}, None),
    ]


def test_the_default_lookup_authenticates_to_a_client_record(issuer, reader):
    authenticator = secret_authenticator(issuer.services.hasher)  # no cache: plain lookup
    with issuer.services.sessions() as session:
        for request in _requests(reader.client.client_id, reader.client_secret):
            authenticated = authenticator.authenticate(request, session)
            assert type(authenticated.client) is ClientRecord
            assert authenticated.client.client_id == reader.client.client_id


def test_the_services_authenticate_to_a_client_record(issuer, reader):
    with issuer.services.sessions() as session:
        for request in _requests(reader.client.client_id, reader.client_secret):
            authenticated = issuer.services.authenticator.authenticate(request, session)
            assert type(authenticated.client) is ClientRecord


def test_a_wrong_secret_is_refused_through_the_default_lookup(issuer, reader):
    authenticator = secret_authenticator(issuer.services.hasher)
    with issuer.services.sessions() as session:
        for request in _requests(reader.client.client_id, "wrong"):
            with pytest.raises(InvalidClient) as refused:
                authenticator.authenticate(request, session)
            assert refused.value.debug == "wrong_secret"
