"""deploy/aws_api.py: where its credentials come from (the execution role's variables, or
the container credentials endpoint Lambda gives a SnapStart function), where its request
goes, what it retries, and what it refuses. Real HTTP throughout: moto's server (which
checks the SigV4 signature and the role's policy, tests/helpers/aws_server.py) and small
stand-in servers for the credentials endpoint and for failures AWS documents but moto
cannot be made to answer (throttling, a 5xx, a redirect)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.aws_server import REGION

from deploy import aws_api

READ_ONLY = [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]


@pytest.fixture
def aws(moto_server):
    moto_server.reset()
    sm = moto_server.client("secretsmanager")
    arn = sm.create_secret(Name="db", SecretString='{"password": "s3cret"}')["ARN"]
    return moto_server, arn, moto_server.role_credentials("issuer", READ_ONLY)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(aws_api, "BACKOFF", 0.0)


class Stub:
    """A local HTTP server answering from `answers` in turn (status, headers, body); the
    requests it saw in `seen` (method, path, headers, body)."""

    def __init__(self, answers: list[tuple[int, dict, bytes]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, dict, bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                stub.seen.append((self.command, self.path, dict(self.headers),
                                  self.rfile.read(length)))
                status, headers, body = stub.answers[min(len(stub.seen),
                                                         len(stub.answers)) - 1]
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@contextmanager
def stub(answers: list[tuple[int, dict, bytes]]) -> Iterator[Stub]:
    server = Stub(answers)
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def json_error(status: int, kind: str) -> tuple[int, dict, bytes]:
    # Secrets Manager's JSON 1.1 error shape.
    return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
        {"__type": kind, "message": "..."}).encode()


OK = (200, {"Content-Type": "application/x-amz-json-1.1"},
      json.dumps({"SecretString": "value", "ARN": "arn:x"}).encode())
ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
       "AWS_REGION": REGION}


def test_the_role_credentials_read_a_secret_from_moto_with_a_checked_signature(aws):
    _, arn, role = aws
    assert aws_api.SecretsManager(role).get_secret_value(arn)["SecretString"] == \
        '{"password": "s3cret"}'


def test_a_snapstart_function_reads_its_credentials_from_the_container_endpoint(aws):
    # Lambda sets no AWS_ACCESS_KEY_ID for a SnapStart function, only the endpoint and
    # its token (Lambda Developer Guide, "Using SnapStart with AWS SDKs").
    _, arn, role = aws
    answer = {"AccessKeyId": role["AWS_ACCESS_KEY_ID"],
              "SecretAccessKey": role["AWS_SECRET_ACCESS_KEY"],
              "Token": role["AWS_SESSION_TOKEN"], "Expiration": role["_EXPIRATION"]}
    with stub([(200, {}, json.dumps(answer).encode())]) as endpoint:
        env = {"AWS_REGION": REGION,
               "AWS_ENDPOINT_URL_SECRETS_MANAGER": role["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
               "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/2021-04-23/credentials",
               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token"}
        client = aws_api.SecretsManager(env)
        assert client.get_secret_value(arn)["SecretString"] == '{"password": "s3cret"}'
        client.get_secret_value(arn)
        # Fetched once (valid for an hour), with the token, by GET.
        assert [(m, p, h["Authorization"]) for m, p, h, _ in endpoint.seen] == [
            ("GET", "/2021-04-23/credentials", "container-token")]
        client.forget_credentials()  # a SnapStart restore
        client.get_secret_value(arn)
        assert len(endpoint.seen) == 2


def test_the_container_token_can_come_from_a_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = {"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "Token": "t",
              "Expiration": expires}
    with stub([(200, {}, json.dumps(answer).encode())]) as endpoint:
        source = aws_api.CredentialSource({
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)})
        assert source.get() == ("ASIAX", "s", "t")
        assert endpoint.seen[0][2]["Authorization"] == "from-file"


def test_credentials_about_to_expire_are_fetched_again():
    soon = (datetime.now(UTC) + timedelta(seconds=aws_api.REFRESH_BEFORE - 10)).isoformat()
    answer = {"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "Token": "t", "Expiration": soon}
    with stub([(200, {}, json.dumps(answer).encode())]) as endpoint:
        source = aws_api.CredentialSource(
            {"AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/creds"})
        source.get()
        source.get()
        assert len(endpoint.seen) == 2


@pytest.mark.parametrize("uri", ["http://169.254.169.254/latest/credentials",
                                 "http://attacker.example/creds", "file:///etc/passwd",
                                 "http://10.0.0.8/creds", "http://localhost.attacker.example/",
                                 "ftp://127.0.0.1/creds"])
def test_the_container_token_is_never_sent_to_another_host(uri):
    source = aws_api.CredentialSource({"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri,
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t"})
    with pytest.raises(aws_api.AwsApiError) as err:
        source.get()
    assert err.value.code == "InvalidContainerCredentialsUri"


@pytest.mark.parametrize("uri", ["http://localhost:9001/creds", "http://127.0.0.1:9001/c",
                                 "http://[::1]:9001/c", "http://169.254.170.2/v2/creds",
                                 "http://169.254.170.23/v1/credentials",
                                 "http://[fd00:ec2::23]/v1/credentials",
                                 "https://creds.example/c"])
def test_the_container_token_may_go_to_loopback_https_and_the_agents(uri):
    assert aws_api.container_credentials_uri(
        {"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}) == uri


def test_a_refused_container_token_is_an_error_with_the_status_only():
    with stub([(401, {}, b"bad token container-token")]) as endpoint:
        source = aws_api.CredentialSource({
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token"})
        with pytest.raises(aws_api.AwsApiError) as err:
            source.get()
    assert (err.value.code, str(err.value)) == ("HTTP401", "container credentials: HTTP401")
    assert len(endpoint.seen) == 1  # a 4xx is final


def test_a_malformed_credentials_answer_is_one_error():
    with stub([(200, {}, b'{"AccessKeyId": "ASIAX"}')]) as endpoint:
        source = aws_api.CredentialSource(
            {"AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url + "/creds"})
        with pytest.raises(aws_api.AwsApiError) as err:
            source.get()
    assert err.value.code == "InvalidContainerCredentials"


def test_no_credentials_at_all_is_one_error():
    with pytest.raises(aws_api.AwsApiError) as err:
        aws_api.SecretsManager({"AWS_REGION": REGION}).get_secret_value("arn:x")
    assert err.value.code == "NoCredentials"


def test_throttling_and_a_5xx_are_retried_then_the_answer_is_returned():
    with stub([json_error(400, "ThrottlingException"), json_error(503, "ServiceUnavailable"),
               OK]) as server:
        client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": server.url})
        assert client.get_secret_value("arn:x")["SecretString"] == "value"
    assert len(server.seen) == aws_api.ATTEMPTS == 3


def test_retries_stop_after_three_attempts_with_the_last_code():
    with stub([json_error(500, "InternalServiceError")]) as server:
        client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": server.url})
        with pytest.raises(aws_api.AwsApiError) as err:
            client.get_secret_value("arn:x")
    assert err.value.code == "InternalServiceError"
    assert len(server.seen) == 3


@pytest.mark.parametrize("kind", ["ResourceNotFoundException", "AccessDeniedException",
                                  "com.amazonaws.secretsmanager#DecryptionFailure"])
def test_a_client_error_is_final_and_named_by_its_code(kind):
    with stub([json_error(400, kind)]) as server:
        client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": server.url})
        with pytest.raises(aws_api.AwsApiError) as err:
            client.get_secret_value("arn:x")
    assert err.value.code == kind.rsplit("#", 1)[-1]
    assert len(server.seen) == 1


def test_the_error_type_header_names_the_code_when_the_body_does_not():
    with stub([(400, {"x-amzn-ErrorType": "UnrecognizedClientException:http://x/"},
                b"")]) as server:
        client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": server.url})
        with pytest.raises(aws_api.AwsApiError) as err:
            client.get_secret_value("arn:x")
    assert err.value.code == "UnrecognizedClientException"


def test_a_refused_connection_is_retried_then_a_network_error():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    with pytest.raises(aws_api.AwsApiError) as err:
        client.get_secret_value("arn:x")
    assert (err.value.code, str(err.value)) == ("NetworkError",
                                                "GetSecretValue: ConnectionRefusedError")


def test_a_response_cut_short_is_retried_then_a_network_error():
    cut = (200, {"Content-Length": "100", "Connection": "close"}, b'{"SecretString": "va')
    with stub([cut]) as server:
        client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": server.url})
        with pytest.raises(aws_api.AwsApiError) as err:
            client.get_secret_value("arn:x")
    assert (err.value.code, str(err.value)) == ("NetworkError", "GetSecretValue: IncompleteRead")
    assert len(server.seen) == 3


def test_a_redirect_is_not_followed_so_a_signed_request_goes_nowhere_else():
    with stub([OK]) as elsewhere, stub([(307, {"Location": elsewhere.url + "/"},
                                         b"")]) as server:
        client = aws_api.SecretsManager({**ENV, "AWS_ENDPOINT_URL": server.url})
        with pytest.raises(aws_api.AwsApiError) as err:
            client.get_secret_value("arn:x")
        assert err.value.code == "HTTP307"
        assert elsewhere.seen == []


def test_the_request_is_secrets_managers_json_protocol_signed_for_the_region():
    with stub([OK]) as server:
        env = {**ENV, "AWS_SESSION_TOKEN": "session", "AWS_ENDPOINT_URL": server.url}
        aws_api.SecretsManager(env).get_secret_value("arn:aws:secretsmanager:x")
    method, path, headers, body = server.seen[0]
    assert (method, path, json.loads(body)) == ("POST", "/",
                                                {"SecretId": "arn:aws:secretsmanager:x"})
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert headers["X-Amz-Target"] == "secretsmanager.GetSecretValue"
    assert headers["X-Amz-Security-Token"] == "session"
    scope = f"/{REGION}/secretsmanager/aws4_request"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert scope + ", SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;" \
        "x-amz-target, Signature=" in headers["Authorization"]
    assert "secret" not in headers["Authorization"].replace("secretsmanager", "")


@pytest.mark.parametrize(("env", "expected"), [
    ({"AWS_REGION": "eu-west-1"}, "https://secretsmanager.eu-west-1.amazonaws.com"),
    ({"AWS_DEFAULT_REGION": "us-east-2"}, "https://secretsmanager.us-east-2.amazonaws.com"),
    ({"AWS_REGION": "cn-north-1"}, "https://secretsmanager.cn-north-1.amazonaws.com.cn"),
    ({"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "https://vpce.example/"},
     "https://vpce.example"),
    ({"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "https://all.example",
      "AWS_ENDPOINT_URL_SECRETS_MANAGER": "https://sm.example"}, "https://sm.example"),
])
def test_the_endpoint_follows_the_sdks_settings(env, expected):
    assert aws_api.endpoint(env) == expected


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://sm.example", "sm.example"])
def test_an_endpoint_that_is_not_http_is_refused(url):
    with pytest.raises(aws_api.AwsApiError) as err:
        aws_api.endpoint({"AWS_REGION": REGION, "AWS_ENDPOINT_URL": url})
    assert err.value.code == "InvalidEndpoint"


def test_no_region_is_one_error_naming_the_variable():
    with pytest.raises(aws_api.AwsApiError) as err:
        aws_api.SecretsManager({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert (err.value.code, str(err.value)) == ("NoRegion",
                                                "AWS_REGION is unset (Lambda sets it)")
