"""One IAM policy evaluator (`shared.iam.policy_allows`), as API Gateway applies an
authorizer's policy to a method ARN: what `authorizer check`, `authorizer gateway` and the
tests use. Semantics from AWS's IAM reference:
- Action: "The prefix and the action name are case insensitive"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html);
- Resource: `*` any run of characters (across `/` too), `?` one character; the ARN is
  matched case-sensitively
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html);
- Effect: "Valid values for Effect are Allow and Deny. The Effect value is case sensitive."
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_effect.html);
- an applicable Deny beats every Allow, and nothing applicable is an implicit deny
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html).

The table holds the cases where the three evaluators this replaces disagreed. Their
answers, for the record (R: authorizer/responses.py, a regex compiled per call, Action
matched case-sensitively, Effect compared to "Deny" only; G: authorizer/gateway.py,
Action and Effect lower-cased; T: the tests' helper, which ignored Action):
"""

from __future__ import annotations

import pytest

from authorizer import gateway
from authorizer.responses import policy_allows as responses_policy_allows
from shared.iam import INVOKE, PolicyError, policy_allows

PREFIX = "arn:aws:execute-api:eu-west-1:123456789012:api1/prod/"
INVALID = "invalid"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(resource, action=INVOKE, **extra) -> dict:
    return {"Action": action, "Effect": "Allow", "Resource": resource, **extra}


def deny(resource, action=INVOKE, **extra) -> dict:
    return {"Action": action, "Effect": "Deny", "Resource": resource, **extra}


ORDERS = PREFIX + "GET/orders/*"
# (id, document, method ARN suffix, the one answer, old answers R/G/T)
TABLE = [
    ("action-case-insensitive", doc(allow([ORDERS], "Execute-API:invoke")), "GET/orders/1",
     True, "R False, G True, T True"),
    ("action-wildcard-service", doc(allow([ORDERS], "execute-api:*")), "GET/orders/1",
     True, "all True"),
    ("action-question-mark", doc(allow([ORDERS], "execute-api:Inv?ke")), "GET/orders/1",
     True, "all True"),
    ("action-list", doc(allow([ORDERS], ["s3:GetObject", "EXECUTE-API:INVOKE"])),
     "GET/orders/1", True, "R False, G True, T True"),
    ("deny-for-another-action", doc(allow([ORDERS]), deny([PREFIX + "*"], "s3:GetObject")),
     "GET/orders/1", True, "R True, G True, T False"),
    ("allow-for-another-action", doc(allow([PREFIX + "*"], "lambda:InvokeFunction")),
     "GET/orders/1", False, "R False, G False, T True"),
    ("resource-case-sensitive", doc(allow([PREFIX + "get/orders/*"])), "GET/orders/1",
     False, "all False"),
    ("resource-question-one-char", doc(allow([PREFIX + "GET/orders/?"])), "GET/orders/12",
     False, "all False"),
    ("resource-star-spans-slash", doc(allow([ORDERS])), "GET/orders/1/lines", True,
     "all True"),
    ("deny-wins", doc(allow([PREFIX + "*"]), deny([ORDERS + "/*"])), "GET/orders/1/lines",
     False, "all False"),
    ("deny-wins-whatever-the-order", doc(deny([ORDERS + "/*"]), allow([PREFIX + "*"])),
     "GET/orders/1/lines", False, "all False"),
    ("implicit-deny", doc(allow([ORDERS])), "POST/orders/1", False, "all False"),
    ("statement-an-object", {"Version": "2012-10-17", "Statement": allow(ORDERS)},
     "GET/orders/1", True, "R TypeError, G True, T TypeError"),
    ("resource-a-string", doc(allow(ORDERS)), "GET/orders/1", True,
     "all True (T by accident: it iterated the string's characters, one of them `*`)"),
    ("effect-lower-case", doc(allow([ORDERS]) | {"Effect": "allow"}), "GET/orders/1",
     INVALID, "R True, G True, T True"),
    ("effect-upper-case-deny", doc(allow([PREFIX + "*"]), deny([ORDERS]) | {"Effect": "DENY"}),
     "GET/orders/1", INVALID, "R True (read as an Allow), G False, T True"),
    ("action-missing", doc({"Effect": "Allow", "Resource": [ORDERS]}), "GET/orders/1",
     INVALID, "R KeyError, G False, T True"),
    ("action-empty-list", doc(allow([ORDERS], [])), "GET/orders/1", INVALID,
     "R False, G False, T True"),
    ("not-resource", doc({"Action": INVOKE, "Effect": "Deny", "NotResource": [ORDERS]},
                         allow([PREFIX + "*"])), "POST/orders/1", INVALID,
     "R KeyError, G True (the Deny ignored), T KeyError"),
    ("condition", doc(allow([ORDERS], Condition={"Bool": {"aws:SecureTransport": "true"}})),
     "GET/orders/1", INVALID, "R True, G True, T True (the condition ignored)"),
    ("resource-not-a-string", doc(allow([42])), "GET/orders/1", INVALID,
     "R TypeError, G TypeError, T TypeError"),
]
IDS = [row[0] for row in TABLE]


@pytest.mark.parametrize(("document", "suffix", "expected"), [r[1:4] for r in TABLE], ids=IDS)
def test_the_one_evaluator(document, suffix, expected):
    if expected == INVALID:
        with pytest.raises(PolicyError):
            policy_allows(document, PREFIX + suffix)
    else:
        assert policy_allows(document, PREFIX + suffix) is expected


@pytest.mark.parametrize(("document", "suffix", "expected"), [r[1:4] for r in TABLE], ids=IDS)
def test_authorizer_check_and_the_tests_use_it(document, suffix, expected):
    """`authorizer.responses.policy_allows(response, arn)`: `authorizer check` and the
    authorizer tests apply a whole authorizer response with it."""
    response = {"principalId": "p", "policyDocument": document}
    if expected == INVALID:
        with pytest.raises(PolicyError):
            responses_policy_allows(response, PREFIX + suffix)
    else:
        assert responses_policy_allows(response, PREFIX + suffix) is expected


@pytest.mark.parametrize(("document", "suffix", "expected"), [r[1:4] for r in TABLE], ids=IDS)
def test_the_gateway_uses_it_and_fails_closed(document, suffix, expected):
    """The local API Gateway denies on a policy the evaluator refuses (403, never an
    accidental allow)."""
    response = {"principalId": "p", "policyDocument": document}
    assert gateway.policy_allows(response, PREFIX + suffix) is (expected is True)


def test_policy_error_is_a_value_error_with_a_reason():
    with pytest.raises(ValueError, match="Effect"):
        policy_allows(doc(allow([ORDERS]) | {"Effect": "allow"}), PREFIX + "GET/orders/1")
    with pytest.raises(PolicyError, match="Statement"):
        policy_allows({"Version": "2012-10-17"}, PREFIX + "GET/orders/1")
    with pytest.raises(PolicyError, match="not an object"):
        policy_allows(["not", "a", "document"], PREFIX + "GET/orders/1")
