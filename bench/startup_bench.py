"""Start-up costs, each a fresh interpreter against a bare one doing the least the same
job needs, in the same run:

- `issuer --help` (the console script) against `python -c 'import argparse, json,
  logging'`: the CLI imports a command's libraries only when that command runs (target
  <= 5x, issue 13);
- the issuer's Lambda init, `import deploy.issuer_lambda` (settings, engine, the app and
  its KEK check on a migrated SQLite database; ISSUER_ENV=production as deployed),
  against `python -c "import fastapi, sqlalchemy.orm, jwt, mangum"`, the libraries a
  token needs (target <= 1.05x, issue 14). Both end with `os._exit(0)` right after the
  import: a Lambda init ends when the handler's module is imported, and Lambda never runs
  the interpreter's exit (its final garbage collections, 90-150 ms here, more the more
  objects the process holds). The same pair as whole processes, exit included, is
  printed too (no target);
- the same init against that baseline with the cyclic collector paused during the
  import and what it made frozen, as the init itself does (deploy/issuer_lambda.py):
  like for like, what the issuer's own code adds (no target);
- the same init plus the first token through the Lambda handler (an API Gateway HTTP API
  event, client_secret_basic), against the same baseline (no target: what a cold
  start costs the first caller without SnapStart);
- the floor: bench/token_floor_app.py, the least a token service on this stack does at
  init (one table, one query, one route), against the same baseline (no target: it says
  how much of the target's 5% any such service spends before it does anything of its
  own).

Then the init and the floor once more as instructions executed (valgrind's callgrind,
one run of each side: the same count for the same program whatever else the machine is
doing), on the same SQLite database and, where a PostgreSQL answers
(TOLLGATE_BENCH_POSTGRES), on a migrated PostgreSQL database through psycopg, the
database the stack deploys (no target: the driver's import is most of what it adds).
Wall time on a shared virtual machine moves by +-30 % from one run to the next (the
rows' notes print every round), more than the 5 % the target allows; the instruction
ratio is the figure that does not move, though not the time itself (cache misses and
system calls weigh differently). Full mode only (~1 min per run), and only where
valgrind is installed (otherwise the rows are left out, said on stderr).

On AWS the init also reads its two secrets from Secrets Manager (deploy/aws_secrets.py).
Two more instruction rows count that read on its own: the baseline with the collector
paused, plus two GetSecretValue calls to a local stand-in answering as Secrets Manager,
made by deploy/aws_api.py (the init's client) and by boto3, against the same baseline
alone (no target: what an SDK would add to every cold start).

Wall time of the process. Runs alternate (ours, baseline, then the reverse), so a
slow moment of a shared machine moves one pair, not one side; the figure is the median
over the rounds and the ratio the median of the per-round ratios (their range below the
table). Both sides run from bytecode: `PYTHONPYCACHEPREFIX` points at a temporary
directory filled by a first, untimed run of each, so the project's own modules are not
compiled on every start while the libraries' are not (PYTHONDONTWRITEBYTECODE unset).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.table import Row, spread

ROOT = Path(__file__).resolve().parents[1]

CLI_BASELINE = "import argparse, json, logging"
LAMBDA_BASELINE = "import fastapi, sqlalchemy.orm, jwt, mangum"


def paused(code: str) -> str:
    """`code` with the cyclic collector paused and what it made frozen, as the init runs
    (deploy/issuer_lambda.py)."""
    return f"import gc; gc.disable(); {code}; gc.freeze(); gc.enable()"


# The baseline run that way: like for like, what the issuer's own code costs.
PAUSED_BASELINE = paused(LAMBDA_BASELINE)
# A Lambda init ends at the end of the import: no interpreter exit (see above).
NO_EXIT = "; import os; os._exit(0)"
FIRST_TOKEN = r"""
import json, sys
from deploy.issuer_lambda import handler
body = "grant_type=client_credentials"
event = {
    "version": "2.0", "routeKey": "POST /oauth2/token", "rawPath": "/oauth2/token",
    "rawQueryString": "",
    "headers": {"authorization": sys.argv[1], "content-length": str(len(body)),
                "content-type": "application/x-www-form-urlencoded",
                "host": "abcdef1234.execute-api.eu-west-1.amazonaws.com"},
    "requestContext": {"accountId": "123456789012", "apiId": "abcdef1234",
                       "stage": "$default",
                       "http": {"method": "POST", "path": "/oauth2/token",
                                "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1",
                                "userAgent": "bench"},
                       "requestId": "bench", "routeKey": "POST /oauth2/token",
                       "timeEpoch": 0},
    "body": body, "isBase64Encoded": False,
}
response = handler(event, None)
assert response["statusCode"] == 200, response
assert json.loads(response["body"])["access_token"]
import os
os._exit(0)
"""


def _issuer_script() -> list[str]:
    script = Path(sys.executable).with_name("issuer")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "issuer.cli"]  # no console script: same code path


def _run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=str(ROOT), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return (time.perf_counter() - start) * 1000


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions `argv` executes, counted by valgrind's callgrind. One hash seed, so
    that the same program counts the same (a random one moves the count by ~0.1 %)."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *argv],
                          env={**env, "PYTHONHASHSEED": "0"}, cwd=str(ROOT), check=True,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    counts = re.findall(r"^==\d+== Collected : (\d+)$", proc.stderr, re.MULTILINE)
    if not counts:
        raise RuntimeError(f"no instruction count from valgrind: {proc.stderr[-500:]}")
    return sum(int(n) for n in counts)


# Reading both secrets as the init does on AWS, after the paused baseline (see above).
SECRETS_OURS = ("from deploy.aws_api import SecretsManager; c = SecretsManager(os.environ); "
                "c.get_secret_value('db'); c.get_secret_value('kek')")
SECRETS_BOTO3 = ("import boto3; c = boto3.client('secretsmanager'); "
                 "c.get_secret_value(SecretId='db'); c.get_secret_value(SecretId='kek')")


@contextlib.contextmanager
def _secrets_stand_in(env: dict[str, str]) -> Iterator[tuple[dict[str, str], list[str]]]:
    """A local HTTP server answering GetSecretValue as Secrets Manager does (JSON 1.1),
    the environment a function with a role would have, pointed at it, and the list of
    secret ids it was asked for."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(request["SecretId"])
            body = json.dumps({"ARN": f"arn:aws:secretsmanager:eu-west-1:123456789012:"
                                      f"secret:{request['SecretId']}-AbCdEf",
                               "Name": request["SecretId"], "SecretString": "x" * 64,
                               "VersionId": "v1", "VersionStages": ["AWSCURRENT"],
                               "CreatedDate": 1.7e9}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield ({**env, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_SESSION_TOKEN": "bench", "AWS_REGION": "eu-west-1",
               "AWS_DEFAULT_REGION": "eu-west-1",  # Lambda sets both; boto3 reads this one
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
               # boto3 reads no file and asks no instance metadata service
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_EC2_METADATA_DISABLED": "true"}, asked)
    finally:
        server.shutdown()
        server.server_close()


def _secrets_rows(env: dict[str, str], paused_base: float) -> list[Row]:
    rows = []
    with _secrets_stand_in(env) as (aws_env, asked):
        for name, code in (("deploy/aws_api.py", SECRETS_OURS), ("boto3", SECRETS_BOTO3)):
            # Read during the init, so with the collector paused as the rest of it.
            argv = [sys.executable, "-c",
                    paused(f"{LAMBDA_BASELINE}; import os; {code}") + NO_EXIT]
            _run(argv, aws_env)  # its bytecode
            ours = instructions(argv, aws_env) / 1e6
            if asked != ["db", "kek"] * 2:  # each run read both secrets from the stand-in
                raise RuntimeError(f"bench: {name} asked the stand-in for {asked}")
            asked.clear()
            rows.append(Row("startup", f"the baseline, collector paused, + reading both "
                            f"secrets with {name} (two GetSecretValue from a local stand-in; "
                            f"callgrind)", ours, "M", "the baseline, collector paused",
                            paused_base))
    return rows


def _instruction_rows(env: dict[str, str], baseline: list[str], paused: list[str],
                      postgres_env: dict[str, str] | None) -> list[Row]:
    base_name = f"python -c '{LAMBDA_BASELINE}'"
    if shutil.which("valgrind") is None:
        print("bench: valgrind is not installed; the instruction rows are skipped",
              file=sys.stderr)
        return []
    # Bytecode compiled by a first run, as for the timed rows (PYTHONPYCACHEPREFIX).
    _run(baseline, env)
    base = instructions(baseline, env) / 1e6
    _run(paused, env)
    paused_base = instructions(paused, env) / 1e6
    rows = []
    databases = [("SQLite", env)]
    if postgres_env is not None:
        databases.append(("PostgreSQL", postgres_env))
    for database, database_env in databases:
        for name, module in (("issuer Lambda init", "deploy.issuer_lambda"),
                             ("floor", "bench.token_floor_app")):
            argv = [sys.executable, "-c", f"import {module}" + NO_EXIT]
            _run(argv, database_env)  # its bytecode, as for the timed rows
            ours = instructions(argv, database_env) / 1e6
            rows.append(Row("startup", f"{name}, instructions executed: import {module} "
                            f"({database}, callgrind, one run)", ours, "M", base_name, base))
            if database == "SQLite" and module == "deploy.issuer_lambda":
                rows.append(Row("startup", "the same against the baseline with the collector "
                                "paused as the init pauses it (like for like)", ours, "M",
                                "the baseline, collector paused", paused_base))
    return rows + _secrets_rows(env, paused_base)


def _postgres_env(env: dict[str, str], stack: contextlib.ExitStack) -> dict[str, str] | None:
    """The init's environment on a migrated PostgreSQL database (psycopg, as the stack
    deploys it: deploy/README.md), or None when no PostgreSQL answers."""
    from bench.issuer_setup import postgres_available, postgres_database, prepare

    if not postgres_available():
        return None
    issuer = prepare(stack.enter_context(postgres_database()), "RS256")
    return {**env, **issuer.env}


def pairs(ours: list[str], baseline: list[str], env: dict[str, str], rounds: int) -> dict:
    """`rounds` alternating runs of each (after one untimed run of each)."""
    _run(ours, env)
    _run(baseline, env)
    a: list[float] = []
    b: list[float] = []
    for n in range(rounds):
        if n % 2 == 0:
            a.append(_run(ours, env))
            b.append(_run(baseline, env))
        else:
            b.append(_run(baseline, env))
            a.append(_run(ours, env))
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return {"ours": statistics.median(a), "baseline": statistics.median(b),
            "ratio": statistics.median(ratios), "ratios": ratios}


def _row(name: str, figures: dict, baseline_name: str, target: str) -> Row:
    ratios = figures["ratios"]
    note = f"{name}, per round: {spread(ratios)} (table: median of the per-round ratios)"
    return Row("startup", name, figures["ours"], "ms", baseline_name, figures["baseline"],
               target, note, paired_ratio=figures["ratio"])


def measure(rounds: int, count_instructions: bool = False) -> list[Row]:
    from bench.issuer_setup import prepare, sqlite_url

    with tempfile.TemporaryDirectory(prefix="tollgate-bench-startup-") as tmp:
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("ISSUER_", "AWS_", "POLICY_FILE"))
                    and k != "PYTHONDONTWRITEBYTECODE"}
        base_env.update({"PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(Path(tmp, "pyc"))})
        rows = []
        cli = pairs([*_issuer_script(), "--help"], [sys.executable, "-c", CLI_BASELINE],
                    base_env, rounds)
        rows.append(_row(f"issuer --help (median of {rounds})", cli,
                         f"python -c '{CLI_BASELINE}'", "<= 5x"))
        issuer = prepare(sqlite_url(tmp, "RS256"), "RS256")
        # As the function is deployed (serverless.yml: ISSUER_ENV=production, a policy
        # file named, tokens counted as embedded metrics): /docs, /openapi.json and the
        # console off.
        env = {**base_env, **issuer.env, "ISSUER_ENV": "production",
               "POLICY_FILE": str(ROOT / "shared" / "example_policy.toml"),
               "ISSUER_METRICS": "emf", "ISSUER_METRICS_NAMESPACE": "Tollgate/bench"}
        baseline = [sys.executable, "-c", LAMBDA_BASELINE + NO_EXIT]
        init = pairs([sys.executable, "-c", "import deploy.issuer_lambda" + NO_EXIT], baseline,
                     env, rounds)
        rows.append(_row(f"issuer Lambda init: import deploy.issuer_lambda (SQLite, median of "
                         f"{rounds})", init, f"python -c '{LAMBDA_BASELINE}'", "<= 1.05x"))
        paused = [sys.executable, "-c", PAUSED_BASELINE + NO_EXIT]
        like = pairs([sys.executable, "-c", "import deploy.issuer_lambda" + NO_EXIT], paused,
                     env, rounds)
        rows.append(_row(f"the same against the baseline with the collector paused as the "
                         f"init pauses it (like for like; median of {rounds})", like,
                         "the baseline, collector paused", ""))
        whole = pairs([sys.executable, "-c", "import deploy.issuer_lambda"],
                      [sys.executable, "-c", LAMBDA_BASELINE], env, rounds)
        rows.append(_row(f"the same, whole process: interpreter exit included (median of "
                         f"{rounds})", whole, f"python -c '{LAMBDA_BASELINE}' (whole)", ""))
        first = pairs([sys.executable, "-c", FIRST_TOKEN, issuer.basic], baseline, env, rounds)
        rows.append(_row(f"issuer Lambda init + first token (SQLite, migrated, median of "
                         f"{rounds})", first, f"python -c '{LAMBDA_BASELINE}'", ""))
        floor = pairs([sys.executable, "-c", "import bench.token_floor_app" + NO_EXIT],
                      baseline, env, rounds)
        rows.append(_row(f"floor: import bench.token_floor_app (one table, one query, one "
                         f"route; median of {rounds})", floor,
                         f"python -c '{LAMBDA_BASELINE}'", ""))
        if count_instructions:
            with contextlib.ExitStack() as stack:
                rows += _instruction_rows(env, baseline, paused, _postgres_env(env, stack))
    return rows


def run(options: list[str]) -> list[Row]:
    quick = "--quick" in options
    return measure(5 if quick else 15, count_instructions=not quick)


if __name__ == "__main__":
    from bench.table import render

    print(render(run(sys.argv[1:])))
