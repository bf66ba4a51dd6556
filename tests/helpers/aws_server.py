"""moto as a local HTTP server (the AWS APIs the issuer's functions call at cold start,
deploy/aws_api.py), with its request authentication on: every request must carry a
SigV4 signature that moto recomputes with botocore's signer, from credentials its own
IAM and STS issued, and the caller's IAM policy must allow the action.

`MotoAws.start()` once per module; `reset()` between tests. Set-up calls (making keys,
secrets, roles) go through boto3 with the server's root credentials; the code under test
gets a role's temporary credentials (`role_credentials`), as Lambda gives a function its
execution role's."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


class MotoAws:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""
        self._admin: dict[str, str] = {}

    def start(self) -> MotoAws:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._set_auth(float("inf"))
        self._server.stop()

    def _post(self, path: str, data: bytes = b"") -> None:
        # Not a form (urllib's default type): moto reads the raw body.
        request = urllib.request.Request(self.endpoint + path, data=data, method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).read()

    def _set_auth(self, unauthenticated_requests: float) -> None:
        self._post("/moto-api/reset-auth", str(unauthenticated_requests).encode())

    def reset(self) -> None:
        """Empty every service, then an admin user (made while authentication is off) and
        authentication on for every request after."""
        self._set_auth(float("inf"))
        self._post("/moto-api/reset")
        iam = boto3.client("iam", region_name=REGION, endpoint_url=self.endpoint,
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        self._admin = {"aws_access_key_id": key["AccessKeyId"],
                       "aws_secret_access_key": key["SecretAccessKey"]}
        self._set_auth(0)

    def admin_keys(self) -> tuple[str, str]:
        return self._admin["aws_access_key_id"], self._admin["aws_secret_access_key"]

    def client(self, service: str) -> Any:
        """A boto3 client for setting things up, as the account's administrator."""
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint,
                            **self._admin)

    def role_credentials(self, name: str, statements: list[dict]) -> dict[str, str]:
        """A role allowed `statements`, assumed: the AWS_* variables Lambda would set for a
        function with that execution role."""
        iam = self.client("iam")
        # Lambda's service principal assumes a real execution role; here the account's
        # administrator does, to hand the test what Lambda would hand the function.
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin"},
            "Action": "sts:AssumeRole"}]}
        arn = iam.create_role(RoleName=name,
                              AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="function",
                            PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                       "Statement": statements}))
        creds = self.client("sts").assume_role(RoleArn=arn,
                                               RoleSessionName=name)["Credentials"]
        return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"],
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint,
                "_EXPIRATION": creds["Expiration"].isoformat()}
