"""What `make package` builds, checked without AWS: the production artifacts and the
CloudFormation template of a production stage (`ci`, with an operator's policy).

The package step runs with every AWS credential source removed, so any AWS call osls
tried would fail it. The authorizer's zip is then started from the zip alone in a fresh
interpreter (`-I -S`: the unpacked zip and the standard library, nothing else). Its
arm64 wheels for CPython 3.12 cannot load here (x86_64, the test interpreter's CPython),
so that run uses a build of the same zip for this machine and interpreter; the test
checks both zips hold the same files apart from compiled extension modules and wheel
tags, which is all that differs between the two. What this does not check: the aarch64
binaries themselves load (only AWS, or an arm64 machine, can).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers.procs import REPO

from shared.jwk import public_jwk

pytestmark = [pytest.mark.serverless, pytest.mark.slow]

STAGE = "ci"
POLICY = REPO / "tests" / "deploy" / "policy.toml"
SERVICE_FILES = ["serverless.yml", "package.json", "requirements.lock"]
SERVICE_DIRS = ["authorizer", "shared", "issuer", "deploy", "migrations"]
FORBIDDEN = ("fastapi", "starlette", "pydantic", "sqlalchemy", "alembic", "mangum",
             "uvicorn", "boto3", "botocore", "issuer")
NATIVE = re.compile(r"\.(so|abi3\.so)$|\.cpython-[^/]*\.so$|\.libs/")


def no_aws_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ISSUER_", "AUTHORIZER_", "SLS_", "SERVERLESS_"))}
    env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true", "SLS_TELEMETRY_DISABLED": "1",
                "SLS_NOTIFICATIONS_MODE": "off", "NODE_NO_WARNINGS": "1"})
    return env


def build(service: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deploy.build_artifacts", "--deps", str(REPO / "build" / "deps"),
         *args], cwd=service, env=no_aws_env(), capture_output=True, text=True, timeout=600,
        check=False)


@pytest.fixture(scope="module")
def service(offline_env, tmp_path_factory) -> Path:
    service = tmp_path_factory.mktemp("service")
    for name in SERVICE_FILES:
        shutil.copy(REPO / name, service / name)
    for name in SERVICE_DIRS:
        shutil.copytree(REPO / name, service / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (service / "node_modules").symlink_to(REPO / "node_modules")
    return service


@pytest.fixture(scope="module")
def signing_key(service):
    key = ec.generate_private_key(ec.SECP256R1())
    (service / "jwks.json").write_text(json.dumps({"keys": [public_jwk(key, "ES256")]}))
    pem = service / "signing-key.pem"  # outside every package
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return pem


@pytest.fixture(scope="module")
def packaged(service, signing_key):
    done = build(service, "--stage", STAGE, "--policy", str(POLICY), "--jwks", "jwks.json")
    assert done.returncode == 0, done.stderr[-3000:]
    out = subprocess.run([str(REPO / "node_modules/.bin/osls"), "package", "--stage", STAGE],
                         cwd=service, env=no_aws_env(), capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    template = json.loads(
        (service / ".serverless" / "cloudformation-template-update-stack.json").read_text())
    return service, template


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def function(template: dict, name: str) -> dict:
    return template["Resources"][f"{name}LambdaFunction"]["Properties"]


def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as z:
        return z.namelist()


# -- the package step --------------------------------------------------------------


def test_a_production_stage_refuses_the_example_policy_and_a_missing_one(service):
    done = build(service, "--stage", "staging", "--policy", "shared/example_policy.toml",
                 "--out", "build/refused")
    assert done.returncode == 1
    assert done.stderr == (
        "build_artifacts: stage 'staging' is a production stage and "
        "shared/example_policy.toml is the example policy: write your own (docs/policy.md) "
        "and pass it as POLICY_FILE=path\n")
    done = build(service, "--stage", "prod", "--out", "build/refused")
    assert done.returncode == 1
    assert "POLICY_FILE=path is required" in done.stderr
    assert not (service / "build" / "refused").exists()


def test_without_a_jwks_bundle_the_package_step_warns(service, tmp_path):
    done = build(service, "--stage", STAGE, "--policy", str(POLICY), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "WARNING: no JWKS bundled" in done.stdout
    assert json.loads((tmp_path / "manifest.json").read_text())["jwksFile"] == ""
    assert "jwks.json" not in names(tmp_path / "authorizer.zip")


def test_any_stage_name_resolves_without_aws(service):
    done = subprocess.run([str(REPO / "node_modules/.bin/osls"), "print", "--stage", "staging"],
                          cwd=service, env=no_aws_env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "tollgate-staging-alarms" in done.stdout


# -- the template ------------------------------------------------------------------


def test_every_url_the_authorizer_fetches_is_routed_on_the_issuers_api(packaged):
    _, template = packaged
    env = function(template, "Authorizer")["Environment"]["Variables"]
    issuer_env = function(template, "Issuer")["Environment"]["Variables"]
    # Both halves name the same issuer: the HTTP API's own URL, computed in this deploy.
    assert env["AUTHORIZER_ISSUER"] == issuer_env["ISSUER_URL"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    from authorizer.settings import Settings

    settings = Settings.from_env({**{k: v for k, v in env.items() if isinstance(v, str)},
                                  "AUTHORIZER_ISSUER": "https://api.test"})
    fetched = [settings.jwks_uri, settings.revocation_uri]
    assert None not in fetched
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in resources(template, "AWS::ApiGatewayV2::Route").values()}
    issuer_target = {"Fn::Join": ["/", ["integrations", {"Ref": "HttpApiIntegrationIssuer"}]]}
    for url in fetched:
        route = routes.get("GET " + url.removeprefix("https://api.test"))
        assert route is not None, f"{url} is not routed"
        assert route["Target"] == issuer_target
        assert "AuthorizerId" not in route  # public, as the authorizer fetches it
    # The probes a deploy pipeline or an operator checks: liveness and readiness.
    for probe in ("GET /healthz", "GET /readyz"):
        assert routes[probe]["Target"] == issuer_target


def test_the_authorizer_has_no_vpc_and_the_database_functions_do(packaged):
    _, template = packaged
    assert "VpcConfig" not in function(template, "Authorizer")
    for name in ("Issuer", "RotateKeys", "Ops"):
        vpc = function(template, name)["VpcConfig"]
        assert vpc["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    assert resources(template, "AWS::RDS::DBProxy")
    (endpoint,) = resources(template, "AWS::EC2::VPCEndpoint").values()
    assert endpoint["Properties"]["ServiceName"] == {
        "Fn::Sub": "com.amazonaws.${AWS::Region}.secretsmanager"}


def test_no_secret_in_any_function_environment(packaged):
    _, template = packaged
    text = json.dumps(template)
    assert "resolve:ssm" not in text and "ISSUER_KEY_ENCRYPTION_KEY" not in text
    assert "ISSUER_DATABASE_URL" not in text
    issuer = function(template, "Issuer")["Environment"]["Variables"]
    assert issuer["TOLLGATE_KEK_SECRET_ARN"] == {"Ref": "KekSecret"}
    assert issuer["TOLLGATE_DB_SECRET_ARN"] == {"Ref": "DatabaseSecret"}
    assert issuer["TOLLGATE_DB_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    kek = template["Resources"]["KekSecret"]["Properties"]
    assert kek["KmsKeyId"] == {"Ref": "TollgateKey"} and "SecretString" not in kek


def test_one_role_per_function_and_secrets_scoped_to_their_arns(packaged):
    _, template = packaged
    roles = {name: function(template, name)["Role"]
             for name in ("Issuer", "Authorizer", "RotateKeys", "Ops", "OrdersRest")}
    assert roles["Issuer"] == {"Fn::GetAtt": ["IssuerRole", "Arn"]}
    assert len({json.dumps(r) for r in roles.values()}) == 5
    assert "IamRoleLambdaExecution" not in template["Resources"]
    authorizer_policies = json.dumps(template["Resources"]["AuthorizerRole"]["Properties"])
    assert "secretsmanager" not in authorizer_policies and "kms:" not in authorizer_policies
    (secrets,) = [p for p in template["Resources"]["IssuerRole"]["Properties"]["Policies"]
                  if p["PolicyName"] == "secrets"]
    get, decrypt = secrets["PolicyDocument"]["Statement"]
    assert get["Resource"] == [{"Ref": "KekSecret"}, {"Ref": "DatabaseSecret"}]
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"]


def test_rest_authorizer_validates_a_bearer_jwt_shape(packaged):
    _, template = packaged
    (rest,) = resources(template, "AWS::ApiGateway::Authorizer").values()
    expression = re.compile(rest["Properties"]["IdentityValidationExpression"])
    assert expression.fullmatch("Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    for value in ("Basic dXNlcjpwYXNz", "Bearer x", "Bearer a.b", "bearer a.b.c",
                  "Bearer a.b.c extra", "Bearer a.b.c.d.e"):
        assert not expression.fullmatch(value), value


def test_authorizers_are_wired_with_safe_cache_keys(packaged):
    _, template = packaged
    (rest,) = [r["Properties"] for r in resources(template, "AWS::ApiGateway::Authorizer").values()]
    assert rest["Type"] == "TOKEN"
    assert rest["IdentitySource"] == "method.request.header.Authorization"
    (http,) = [r["Properties"]
               for r in resources(template, "AWS::ApiGatewayV2::Authorizer").values()]
    # IAM responses: a cached answer is a route-independent policy, safe on GET
    # /orders/{id} (docs/caching.md); a cached simple response would not be.
    assert http["EnableSimpleResponses"] is False
    # TTL 0: the HTTP API's routes take DPoP- and certificate-bound tokens, whose proof or
    # certificate must be checked on every request (docs/caching.md, "Bound tokens").
    assert http["AuthorizerResultTtlInSeconds"] == 0
    assert http["AuthorizerPayloadFormatVersion"] == "2.0"
    assert set(http["IdentitySource"]) == {"$request.header.Authorization", "$context.routeKey"}
    env = function(template, "Authorizer")["Environment"]["Variables"]
    assert env["AUTHORIZER_RESPONSE"] == "iam"
    assert env["AUTHORIZER_REVOCATION_FAIL"] == "closed"
    # Every HTTP API route the authorizer guards has a path variable or not: either way
    # the IAM answer is right for it; none is a simple response replayed per route key.
    guarded = [r["Properties"]["RouteKey"]
               for r in resources(template, "AWS::ApiGatewayV2::Route").values()
               if r["Properties"].get("AuthorizationType") == "CUSTOM"]
    assert "GET /orders/{id}" in guarded


def test_the_authorizer_reaches_the_revocation_list_within_its_cold_start(packaged):
    # A cold authorizer fetches the JWKS (no bundle) and then the revocation list in its
    # first invocation: both timeouts together must end before the function's own, or
    # that invocation is a 500 instead of a refusal. No VPC: the public API is reachable.
    from authorizer.jwks_cache import FETCH_TIMEOUT as JWKS_TIMEOUT
    from authorizer.revocation import FETCH_TIMEOUT as LIST_TIMEOUT

    _, template = packaged
    authorizer = function(template, "Authorizer")
    assert "VpcConfig" not in authorizer
    assert JWKS_TIMEOUT + LIST_TIMEOUT < authorizer["Timeout"]
    env = authorizer["Environment"]["Variables"]
    assert "AUTHORIZER_REVOCATION_URI" not in env  # the default: <issuer>/.well-known/...


def test_both_halves_write_embedded_metrics_in_the_stage_namespace(packaged):
    _, template = packaged
    authorizer = function(template, "Authorizer")["Environment"]["Variables"]
    issuer = function(template, "Issuer")["Environment"]["Variables"]
    assert authorizer["AUTHORIZER_METRICS"] == issuer["ISSUER_METRICS"] == "emf"
    assert (authorizer["AUTHORIZER_METRICS_NAMESPACE"] == issuer["ISSUER_METRICS_NAMESPACE"]
            == f"Tollgate/{STAGE}")


def test_operations_arm64_alarms_logs_and_limits(packaged):
    _, template = packaged
    for name in ("Issuer", "Authorizer", "RotateKeys", "Ops", "OrdersRest", "OrdersHttp"):
        assert function(template, name)["Architectures"] == ["arm64"], name
    assert function(template, "Issuer")["ReservedConcurrentExecutions"] == 20
    alarms = {name for name in resources(template, "AWS::CloudWatch::Alarm")}
    assert {"IssuerErrorsAlarm", "IssuerThrottlesAlarm", "AuthorizerErrorsAlarm",
            "AuthorizerThrottlesAlarm", "RotateKeysErrorsAlarm", "HttpApi5xxAlarm",
            "RestApi5xxAlarm", "AuthorizerInternalErrorAlarm",
            "RevocationFetchFailureAlarm"} <= alarms
    filters = [r["Properties"]["FilterPattern"]
               for r in resources(template, "AWS::Logs::MetricFilter").values()]
    assert '{ $.reason = "internal_error" }' in filters
    (destination,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert destination["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Ref": "AlarmTopic"}
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30
    stage = template["Resources"]["HttpApiStage"]["Properties"]
    assert stage["AccessLogSettings"]["DestinationArn"]
    assert stage["RouteSettings"]["POST /oauth2/token"]["ThrottlingRateLimit"] == 200


# -- the authorizer's zip ----------------------------------------------------------

RUN_FROM_ZIP = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
BLOCKED = set(sys.argv[2].split(","))
from cryptography.hazmat.primitives import serialization
from shared.jws import encode_compact
import authorizer.handler as h

key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
kid = json.load(open("jwks.json"))["keys"][0]["kid"] if sys.argv[4] == "bundled" else "k"
now = int(time.time())
claims = {"iss": "https://issuer.test", "sub": "c1", "client_id": "c1",
          "aud": "https://api.example.com/orders", "iat": now, "exp": now + 300,
          "jti": "j1", "scope": "orders:read"}
token = encode_compact({"typ": "at+jwt", "kid": kid}, claims, key, "ES256")
arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders"
try:
    allowed = h.handler({"type": "TOKEN", "authorizationToken": "Bearer " + token,
                         "methodArn": arn}, None)
except Exception as exc:
    allowed = "raised " + str(exc)
print(json.dumps({"file": h.__file__, "allowed": allowed,
                  "paths": [p for p in sys.path if "site-packages" in p],
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""


@pytest.fixture(scope="module")
def x86_build(service, signing_key, packaged, tmp_path_factory):
    out = tmp_path_factory.mktemp("x86")
    done = build(service, "--stage", STAGE, "--policy", str(POLICY), "--jwks", "jwks.json",
                 "--arch", "x86_64", "--out", str(out),
                 "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_x86_64_test_build_holds_the_same_files_as_the_arm64_one(packaged, x86_build):
    service, _ = packaged
    # Bytecode is named for its interpreter: cpython-312 there, this one's here.
    tag = re.compile(r"\.cpython-3\d+\.pyc$")
    arm = {tag.sub(".pyc", n) for n in names(service / "build/artifacts/authorizer.zip")
           if not NATIVE.search(n)}
    x86 = {tag.sub(".pyc", n) for n in names(x86_build / "authorizer.zip")
           if not NATIVE.search(n)}
    # Wheel metadata names the platform (WHEEL tags); everything else is identical.
    strip = re.compile(r"[^/]*\.dist-info/(WHEEL|RECORD)$")
    assert {n for n in arm if not strip.search(n)} == {n for n in x86 if not strip.search(n)}
    native = [n for n in names(service / "build/artifacts/authorizer.zip") if NATIVE.search(n)]
    assert native  # cryptography's Rust extension is there, built for aarch64


def test_every_packaged_wheel_loads_on_the_python312_runtime(packaged):
    # python3.12 is Amazon Linux 2023, glibc 2.34 (deploy/build_artifacts.py cites AWS):
    # a manylinux_2_X wheel needs glibc >= 2.X (PEP 600), and arm64 needs aarch64.
    from deploy.build_artifacts import MAX_GLIBC, PYTHON_VERSION

    service, template = packaged
    for name in ("Issuer", "Authorizer"):
        assert function(template, name)["Runtime"] == f"python{PYTHON_VERSION}"
    tags = set()
    for zip_name in ("issuer.zip", "authorizer.zip"):
        with zipfile.ZipFile(service / "build" / "artifacts" / zip_name) as z:
            for entry in z.namelist():
                if entry.endswith(".dist-info/WHEEL"):
                    text = z.read(entry).decode()
                    tags |= {line.split(":", 1)[1].strip() for line in text.splitlines()
                             if line.startswith("Tag:")}
    platforms = {tag.rsplit("-", 1)[1] for tag in tags}
    native = {p for p in platforms if p != "any"}
    assert native, "no compiled wheel packaged: cryptography and psycopg are"
    for platform_tag in native:
        match = re.fullmatch(r"manylinux_(\d+)_(\d+)_aarch64|manylinux2014_aarch64",
                             platform_tag)
        assert match is not None, platform_tag
        glibc = (int(match[1]), int(match[2])) if match[1] else (2, 17)
        assert glibc <= MAX_GLIBC, platform_tag
    for tag in tags:  # pure Python 3, or CPython up to 3.12 (abi3 wheels name their floor)
        interpreter = tag.split("-")[0]
        assert interpreter.startswith(("py3", "py2.py3")) or (
            interpreter.startswith("cp3") and int(interpreter[3:]) <= 12), tag


# CPython 3.12's bytecode magic number (Lib/importlib/_bootstrap_external.py, 3531) and
# the PEP 552 flags of a hash-based .pyc whose source is never checked.
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = (1).to_bytes(4, "little")


def test_every_packaged_module_has_its_python312_bytecode(packaged):
    """/var/task is read-only: a module with no .pyc there is compiled at every cold
    start. Each .py of the three zips has a CPython 3.12 .pyc beside it that the
    runtime uses without checking the source (deploy/compile_bytecode.mjs)."""
    service, _ = packaged
    for zip_name in ("issuer.zip", "authorizer.zip", "orders.zip"):
        with zipfile.ZipFile(service / "build" / "artifacts" / zip_name) as z:
            listed = set(z.namelist())
            sources = [n for n in listed if n.endswith(".py")]
            assert len(sources) > (1000 if zip_name == "issuer.zip" else 1), zip_name
            for source in sources:
                folder, _, file = source.rpartition("/")
                cached = (folder + "/" if folder else "") + \
                    f"__pycache__/{file[:-3]}.cpython-312.pyc"
                assert cached in listed, cached
                header = z.read(cached)[:8]
                assert header == MAGIC_312 + UNCHECKED_HASH, (cached, header)
            assert not [n for n in listed if n.endswith(".pyc") and "cpython-312" not in n]


def test_authorizer_zip_holds_only_the_authorizer_shared_policy_jwks_and_cryptography(packaged):
    service, _ = packaged
    listed = names(service / "build/artifacts/authorizer.zip")
    tops = {n.split("/")[0] for n in listed}
    assert {"authorizer", "shared", "policy.toml", "jwks.json", "cryptography"} <= tops
    assert "shared/example_policy.toml" not in listed  # production: the operator's only
    assert "authorizer/gateway.py" not in listed and "authorizer/cli.py" not in listed
    for word in FORBIDDEN:
        assert not [n for n in tops if word in n.lower()], word


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the test build is x86_64")
@pytest.mark.parametrize("jwks", ["bundled", "fetched"])
def test_authorizer_cold_starts_from_its_zip_alone(packaged, x86_build, signing_key, jwks,
                                                   tmp_path):
    unpacked = tmp_path / "task"  # like /var/task
    with zipfile.ZipFile(x86_build / "authorizer.zip") as z:
        z.extractall(unpacked)
    env = {
        "PATH": "/usr/bin:/bin",
        "AUTHORIZER_ISSUER": "https://issuer.test",
        "AUTHORIZER_AUDIENCE": "https://api.example.com/orders",
        "AUTHORIZER_JWKS_FILE": "jwks.json" if jwks == "bundled" else "",
        "AUTHORIZER_JWKS_URI": "http://127.0.0.1:9/jwks.json",  # unreachable on purpose
        "AUTHORIZER_REVOCATION_URI": "off",
        "POLICY_FILE": "policy.toml",
    }
    # -I: no user site, no PYTHON* variables; -S: no site-packages at all.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN_FROM_ZIP, str(unpacked), ",".join(FORBIDDEN),
         str(signing_key), jwks],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["file"] == str(unpacked / "authorizer" / "handler.py")
    assert result["paths"] == [] and result["loaded"] == []
    if jwks == "bundled":
        statements = result["allowed"]["policyDocument"]["Statement"]
        assert any(s["Effect"] == "Allow" for s in statements)
    else:  # started; keys not reachable yet: refused, not crashed
        assert result["allowed"] == "raised Unauthorized"
        assert '"reason":"jwks_unavailable"' in done.stdout


# The issuer's init from its zip alone, as on AWS: both secrets read from Secrets Manager
# (moto over HTTP, checking the SigV4 signature and the role's policy) with the execution
# role's credentials, no AWS SDK in the zip. The database the secret names does not
# answer (no proxy here): the init completes, the KEK check waits for the first request.
ISSUER_FROM_ZIP = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import deploy.issuer_lambda as entry
forbidden = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps({"file": entry.__file__, "loaded": forbidden,
                  "kek": entry.settings.key_encryption_key.hex(),
                  "host": entry.services.engine.url.host}))
"""


def test_issuer_cold_starts_from_its_zip_with_its_secrets_from_aws(x86_build, tmp_path):
    from helpers.aws_server import MotoAws

    from issuer.keys.kek import decode_kek, new_kek_text

    unpacked = tmp_path / "task"
    with zipfile.ZipFile(x86_build / "issuer.zip") as z:
        z.extractall(unpacked)
    aws = MotoAws().start()
    try:
        aws.reset()
        key = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
        sm = aws.client("secretsmanager")
        kek = new_kek_text()
        db = {"username": "tollgate", "password": "pw", "host": "127.0.0.1", "port": 9,
              "dbname": "tollgate"}
        db_arn = sm.create_secret(Name="db", KmsKeyId=key, SecretString=json.dumps(db))["ARN"]
        kek_arn = sm.create_secret(Name="kek", KmsKeyId=key, SecretString=kek)["ARN"]
        role = aws.role_credentials("issuer", [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}])
        env = {"PATH": "/usr/bin:/bin", "ISSUER_ENV": "production",
               "ISSUER_URL": "https://issuer.test", "POLICY_FILE": "policy.toml",
               "TOLLGATE_DB_SECRET_ARN": db_arn, "TOLLGATE_KEK_SECRET_ARN": kek_arn,
               **{k: v for k, v in role.items() if not k.startswith("_")}}
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", ISSUER_FROM_ZIP, str(unpacked),
             "boto3,botocore"], cwd=unpacked, env=env, capture_output=True, text=True,
            timeout=120, check=False)
    finally:
        aws.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"file": str(unpacked / "deploy" / "issuer_lambda.py"), "loaded": [],
                      "kek": decode_kek(kek).hex(), "host": "127.0.0.1"}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the test build is x86_64")
def test_the_packaged_modules_load_from_their_bytecode(x86_build, tmp_path):
    """The test build's bytecode (this interpreter's, made the same way) is what an import
    runs: a source edited after packaging is not read, the .pyc is (hash-based,
    unchecked: PEP 552). For the project's modules and a vendored library alike."""
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(x86_build / "authorizer.zip") as z:
        z.extractall(unpacked)
    for source in ("shared/policy.py", "cryptography/__about__.py"):
        with (unpacked / source).open("a") as f:
            f.write("\nEDITED_AFTER_PACKAGING = True\n")
    probe = ("import sys; sys.path.insert(0, '.'); "
             "import shared.policy, cryptography.__about__ as about; "
             "print(hasattr(shared.policy, 'EDITED_AFTER_PACKAGING'), "
             "hasattr(about, 'EDITED_AFTER_PACKAGING'), shared.policy.__cached__)")
    done = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", probe], cwd=unpacked,
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    edited_policy, edited_about, cached = done.stdout.split()
    assert (edited_policy, edited_about) == ("False", "False")
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    assert cached == str(unpacked / "shared" / "__pycache__" / f"policy.{tag}.pyc")
