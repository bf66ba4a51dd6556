"""docs/threat-model.md §2: "unknown client" and "wrong secret" answer alike, in body and
in time, so the token endpoint does not tell an attacker which client ids exist.

Timing is compared on 200 interleaved samples of each (alternating, so a noisy neighbour
on a shared machine slows both alike), by medians and by a rank statistic (the
Mann-Whitney U as a probability: 0.5 means neither kind tends to be slower). The
tolerances (medians within 15 %, rank probability within 0.3..0.7) hold on a loaded
2-core machine; the measured figures are printed (`pytest -s`).
"""

from __future__ import annotations

import statistics
import time

import pytest

FORM = {"grant_type": "client_credentials"}
SAMPLES = 200


def _time(http, auth) -> tuple[float, object]:
    start = time.perf_counter()
    response = http.post("/oauth2/token", data=FORM, auth=auth)
    return time.perf_counter() - start, response


def _rank_probability(a: list[float], b: list[float]) -> float:
    """P(a sample of `a` is slower than one of `b`), ties counting half (U / (n*m))."""
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def _samples(http, first, second, n=SAMPLES):
    a, b = [], []
    for _ in range(10):  # warm up both paths (caches, pools, lazy imports)
        _time(http, first), _time(http, second)
    for i in range(n):
        pair = ((a, first), (b, second)) if i % 2 else ((b, second), (a, first))
        for out, auth in pair:
            elapsed, response = _time(http, auth)
            assert response.status_code == 401
            out.append(elapsed)
    return a, b


@pytest.fixture(scope="module")
def same_answers(http, reader):
    known = reader.client.client_id
    return (known, "wrong-secret"), ("unknown-client-id-000000000000", "wrong-secret")


def test_unknown_client_and_wrong_secret_same_body(http, same_answers):
    wrong, unknown = (http.post("/oauth2/token", data=FORM, auth=a) for a in same_answers)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]


def test_unknown_client_and_wrong_secret_same_time(http, same_answers):
    wrong, unknown = _samples(http, *same_answers)
    m_wrong, m_unknown = statistics.median(wrong), statistics.median(unknown)
    ratio = max(m_wrong, m_unknown) / min(m_wrong, m_unknown)
    p = _rank_probability(wrong, unknown)
    print(
        f"median wrong secret {m_wrong * 1e6:.0f} us, unknown client {m_unknown * 1e6:.0f} us, "
        f"ratio {ratio:.3f}, P(wrong slower) {p:.3f}"
    )
    assert ratio < 1.15, (m_wrong, m_unknown)
    assert 0.3 < p < 0.7, p
