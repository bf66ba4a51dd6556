"""`python -m bench --quick` runs every section and prints each expected row with a
numeric ratio (a smoke run: the figures themselves are not checked here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = [
    r"first-seen decision \(RS256",
    r"repeat decision \(RS256",
    r"first-seen decision \(ES256",
    r"repeat decision \(ES256",
    r"first-seen decision as Lambda runs it \(RS256",
    r"DPoP-bound first-seen decision \(RS256 token, ES256 proof",
    r"DPoP-bound repeat decision \(cached token, fresh ES256 proof verified",
    r"certificate-bound repeat decision \(cached token",
    r"cold start: import authorizer\.handler",
    r"cold start net of",
    r"authorizer peak RSS after",
    r"POST /oauth2/token throughput \(RS256, SQLite",
    r"POST /oauth2/token p50 latency \(RS256, SQLite",
    r"POST /oauth2/token p99 latency \(RS256, SQLite",
    r"POST /oauth2/token throughput \(ES256, SQLite",
    r"POST /oauth2/token p99 latency \(ES256, SQLite",
    r"ceiling app p99 latency \(RS256",
    r"ceiling app p99 latency \(ES256",
    r"Mangum token invocation \(RS256, SQLite",
    r"Mangum token invocation \(ES256, SQLite",
    r"issuer serve from outside \(RS256, SQLite, (wrk -t1 -c16|bench\.loadgen 16 conns)",
    r"POST /oauth2/token throughput, federated client \(RS256 assertion, SQLite",
    r"POST /oauth2/token p99 latency, federated client \(RS256 assertion, SQLite",
    r"issuer --help",
    r"issuer Lambda init: import deploy\.issuer_lambda",
    r"issuer Lambda init \+ first token",
    r"the same, whole process: interpreter exit included",
    r"floor: import bench\.token_floor_app",
]
POSTGRES_ROWS = [
    r"POST /oauth2/token throughput \(RS256, PostgreSQL",
    r"POST /oauth2/token throughput \(ES256, PostgreSQL",
    r"Mangum token invocation \(RS256, PostgreSQL",
]


def _postgres() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def table() -> str:
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_every_row_is_printed_with_a_numeric_ratio(table: str) -> None:
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    expected = EXPECTED + (POSTGRES_ROWS if _postgres() else [])
    for pattern in expected:
        matching = [r for r in rows if re.search(pattern, r)]
        assert matching, f"no row {pattern!r} in:\n{table}"
        for row in matching:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert re.fullmatch(r"\d+\.\d{3}x", cells[5]), f"ratio not numeric: {row}"
            assert re.match(r"[\d,.]+ ", cells[2]), f"value not numeric: {row}"


@pytest.mark.slow
def test_machine_line_names_cpu_and_python(table: str) -> None:
    first = table.splitlines()[0]
    assert "CPU" in first and "Python 3." in first and "quick" in first


@pytest.mark.slow
def test_profile_compare_takes_steps_out() -> None:
    """`bench.profile_token --compare --without STEP` runs both apps and names the step it
    took out; an unknown step is refused by the parser, not silently ignored."""
    base = [sys.executable, "-m", "bench.profile_token", "--alg", "ES256", "-n", "30",
            "--compare"]
    proc = subprocess.run([*base, "--without", "grant", "--without", "hmac"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "issuer without grant, hmac:" in proc.stdout
    figures = re.search(r"issuer ([\d.]+) us, ceiling ([\d.]+) us per request", proc.stdout)
    assert figures and float(figures[1]) > 0 and float(figures[2]) > 0
    refused = subprocess.run([*base, "--without", "signing"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


@pytest.mark.slow
def test_profile_authorizer_prints_every_step_against_pyjwt() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.profile_authorizer", "-n", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = re.findall(r"([\d.]+) us\s+([\d.]+)x of PyJWT  (.+)", proc.stdout)
    assert [name for _, _, name in steps] == [
        "signature only (cryptography)", "parse_compact", "AccessTokenVerifier.verify",
        "handler, first seen", "PyJWT jwt.decode"]
    assert steps[-1][1] == "1.00" and all(float(us) > 0 for us, _, _ in steps)
