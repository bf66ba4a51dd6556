"""deploy/sigv4.py against AWS's published example and against botocore's own signer
(the oracle, as PyJWT is for the project's JWT verifier): the same request signs to the
same Authorization header, with and without a session token."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy.sigv4 import Credentials, authorization, signing_key

# AWS's worked example of a SigV4 signature (the IAM User Guide's signing walkthrough:
# GET ?Action=ListUsers&Version=2010-05-08 to iam.amazonaws.com on 2015-08-30 at
# 12:36:00 UTC, the documentation's example key pair).
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EXAMPLE_SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_awss_published_example_signs_to_its_published_signature():
    headers = authorization(
        "GET", "/", "Action=ListUsers&Version=2010-05-08",
        {"Host": "iam.amazonaws.com",
         "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"", Credentials("AKIDEXAMPLE", EXAMPLE_SECRET), "us-east-1", "iam",
        datetime(2015, 8, 30, 12, 36, tzinfo=UTC))
    assert headers == {
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                         "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                         f"Signature={EXAMPLE_SIGNATURE}",
    }


def _botocore(body: bytes, headers: dict, creds: Credentials, region: str, when: datetime,
              url: str) -> dict:
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    boto = BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
    signer = SigV4Auth(boto, "secretsmanager", region)
    # botocore stamps the request with its own clock, then signs: stamp ours instead.
    stamp_and_prepare = signer._modify_request_before_signing

    def at_our_time(req: AWSRequest) -> None:
        req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        stamp_and_prepare(req)
    signer._modify_request_before_signing = at_our_time
    signer.add_auth(request)
    return {k: v for k, v in request.headers.items()
            if k in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")}


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=300),
    token=st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                       min_size=1, max_size=80)),
    region=st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2", "cn-north-1"]),
    seconds=st.integers(min_value=0, max_value=20 * 365 * 86400),
)
def test_the_signature_is_botocores_for_the_same_request(body, token, region, seconds):
    when = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    creds = Credentials("ASIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                        token)
    host = f"secretsmanager.{region}.amazonaws.com"
    headers = {"Host": host, "Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": "secretsmanager.GetSecretValue"}
    ours = authorization("POST", "/", "", headers, body, creds, region, "secretsmanager", when)
    theirs = _botocore(body, headers, creds, region, when, f"https://{host}/")
    assert ours == theirs


def test_header_values_are_trimmed_and_names_lowercased_as_the_canonical_form_wants():
    when = datetime(2026, 11, 30, tzinfo=UTC)
    creds = Credentials("AKIDEXAMPLE", EXAMPLE_SECRET)
    spaced = authorization("POST", "/", "", {"Host": "h", "X-Amz-Target": "  a   b "}, b"{}",
                           creds, "eu-west-1", "secretsmanager", when)
    plain = authorization("POST", "/", "", {"host": "h", "x-amz-target": "a b"}, b"{}",
                          creds, "eu-west-1", "secretsmanager", when)
    assert spaced == plain


@pytest.mark.parametrize("change", ["body", "region", "service", "secret", "target"])
def test_every_signed_part_changes_the_signature(change):
    when = datetime(2026, 11, 30, tzinfo=UTC)
    args = {"body": b'{"SecretId": "a"}', "region": "eu-west-1", "service": "secretsmanager",
            "secret": EXAMPLE_SECRET, "target": "secretsmanager.GetSecretValue"}

    def sign(a: dict) -> str:
        return authorization("POST", "/", "", {"Host": "h", "X-Amz-Target": a["target"]},
                             a["body"], Credentials("AKIDEXAMPLE", a["secret"]), a["region"],
                             a["service"], when)["Authorization"]
    other = {**args, change: args[change] + (b"x" if change == "body" else "x")}
    assert sign(other) != sign(args)


def test_the_signing_key_is_the_documented_hmac_chain():
    # kSecret = "AWS4" + secret; kDate, kRegion, kService, kSigning (IAM User Guide).
    import hashlib
    import hmac

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    expected = h(h(h(h(b"AWS4" + EXAMPLE_SECRET.encode(), "20150830"), "us-east-1"), "iam"),
                 "aws4_request")
    assert signing_key(EXAMPLE_SECRET, "20150830", "us-east-1", "iam") == expected


def test_credentials_repr_never_shows_the_secret_or_the_token():
    creds = Credentials("ASIAEXAMPLE", "the-secret-key", "the-session-token")
    assert repr(creds) == "Credentials(access_key_id='ASIAEXAMPLE', ...)"
    assert repr([creds]) == "[Credentials(access_key_id='ASIAEXAMPLE', ...)]"  # in a list too
