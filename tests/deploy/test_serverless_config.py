"""serverless.yml read as written (no Node, no osls): the settings whose safety does not
depend on packaging.

- An HTTP API authorizer with simple responses and a result cache (TTL > 0) replays one
  route's yes onto every request with the same cache key: under a path variable, `ANY` or
  a greedy path that is another route (docs/caching.md). IAM responses (a policy built
  from the token alone, evaluated by API Gateway per request) or no cache are safe.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
  ("Caching authorizer responses").
- What the authorizer function returns must be what API Gateway expects of it
  (`AUTHORIZER_RESPONSE`), in every stage, offline included: an IAM policy where a simple
  response is expected (or the reverse) is a 500 on every request.
- `AUTHORIZER_REVOCATION_FAIL` is chosen per stage, never left to the default unseen
  (docs/revocation.md).
The REST authorizer (TOKEN, cached by the Authorization header) returns a route-independent
IAM policy, so its cache is safe on every route shape and is not restricted here.
- An HTTP API authorizer (a REQUEST authorizer, which accepts DPoP-bound and
  certificate-bound tokens) has no result cache: the proof is per request and not in the
  cache key, so a cached Allow would answer a replay without it (docs/caching.md, "Bound
  tokens"). A REST TOKEN authorizer refuses bound tokens, so its cache stays.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    """CloudFormation short forms (!Ref, !GetAtt, ...) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


_Loader.add_multi_constructor("!", _any_tag)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.load((REPO / "serverless.yml").read_text(), Loader=_Loader)  # noqa: S506


def _http_authorizers(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["provider"].get("httpApi", {}).get("authorizers", {})


def _authorizer_envs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every stage's environment map of the authorizer function (custom.env.<stage>)."""
    return {stage: maps["authorizer"] for stage, maps in config["custom"]["env"].items()
            if "authorizer" in maps}


def test_no_http_api_authorizer_caches_a_simple_response(config):
    authorizers = _http_authorizers(config)
    assert authorizers, "serverless.yml declares no HTTP API authorizer"
    for name, options in authorizers.items():
        if options.get("type") != "request":
            continue
        simple = options.get("enableSimpleResponses", False)
        # Absent, API Gateway's default TTL is 300 s: read it as cached.
        ttl = int(options.get("resultTtlInSeconds", 300))
        assert not (simple and ttl > 0), (
            f"HTTP API authorizer {name!r}: simple responses cached {ttl} s replay one "
            "route's answer onto others (docs/caching.md): use IAM responses or TTL 0")


def test_the_function_answers_what_api_gateway_expects_in_every_stage(config):
    (options,) = _http_authorizers(config).values()
    expected = "simple" if options.get("enableSimpleResponses", False) else "iam"
    envs = _authorizer_envs(config)
    assert {"deployed", "offline"} <= set(envs)
    for stage, env in envs.items():
        assert env.get("AUTHORIZER_RESPONSE") == expected, stage


def test_the_http_api_cache_key_is_the_authorization_header(config):
    (options,) = _http_authorizers(config).values()
    sources = options["identitySource"]
    assert sources[0] == "$request.header.Authorization"
    assert set(sources) <= {"$request.header.Authorization", "$context.routeKey"}


def _param(config: dict[str, Any], stage: str, value: str) -> str:
    """`${param:name}` as osls resolves it for a stage (the stage's params, then
    `default`); any other value as written."""
    match = re.fullmatch(r"\$\{param:(\w+)\}", value)
    if match is None:
        return value
    params = config["params"]
    name = match.group(1)
    for block in (params.get(stage, {}), params["default"]):
        if name in block:
            return str(block[name])
    raise AssertionError(f"{value} has no value in stage {stage!r}")


def test_revocation_fail_mode_is_set_explicitly_in_every_stage(config):
    # The default of the code (closed) is not relied on: each stage's choice is written
    # in serverless.yml, where its trade-off is stated.
    stages = {"deployed": "prod", "offline": "offline"}
    for key, env in _authorizer_envs(config).items():
        value = env.get("AUTHORIZER_REVOCATION_FAIL")
        assert value is not None, key
        assert _param(config, stages[key], value) == "closed", key
    assert "revocationFail" in config["params"]["offline"]


def test_both_halves_write_embedded_metrics_in_every_stage(config):
    # The same setting offline and deployed: what the e2e tests read is what CloudWatch
    # Logs extracts on AWS (docs: authorizer/metrics.py, issuer/metrics.py).
    for stage, maps in config["custom"]["env"].items():
        assert maps["authorizer"]["AUTHORIZER_METRICS"] == "emf", stage
        assert maps["issuer"]["ISSUER_METRICS"] == "emf", stage
        assert (maps["authorizer"]["AUTHORIZER_METRICS_NAMESPACE"]
                == maps["issuer"]["ISSUER_METRICS_NAMESPACE"]
                == "${self:custom.metricsNamespace}"), stage
    assert config["custom"]["metricsNamespace"] == "Tollgate/${sls:stage}"


def test_the_request_authorizer_taking_bound_tokens_caches_nothing(config):
    """A cached Allow keyed by `Authorization: DPoP <token>` (or by the token alone for a
    certificate-bound token) lets whoever copied the token through without the proof."""
    for name, options in _http_authorizers(config).items():
        assert options.get("type") == "request", name
        assert int(options.get("resultTtlInSeconds", 300)) == 0, (
            f"HTTP API authorizer {name!r} caches answers: bound tokens need TTL 0 "
            "(docs/caching.md, Bound tokens)")
        # no DPoP header identity source: it would shut bearer tokens out (401, uncalled)
        assert not any("dpop" in source.lower() for source in options["identitySource"])
    for function in config["functions"].values():
        for event in function.get("events", []):
            authorizer = (event.get("http") or {}).get("authorizer") if isinstance(
                event, dict) else None
            if isinstance(authorizer, dict) and int(authorizer.get("resultTtlInSeconds",
                                                                    300)) > 0:
                assert authorizer.get("type") == "token", authorizer
