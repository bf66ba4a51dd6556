"""The authorizer's first-seen decision as Lambda runs it: decision lines to a stdout
that is a pipe, flushed per write, timed as a mean.

`make bench`'s other authorizer rows time the handler in the bench process with its
decision lines discarded and report medians; on Lambda each line goes down the runtime's
stdout pipe, and the runtime wraps `sys.stdout` so that every `write` is flushed
(`Unbuffered` in awslambdaric's bootstrap.py, the Python runtime interface client:
https://github.com/aws/aws-lambda-python-runtime-interface-client). So here, per round,
a fresh interpreter (`python -m bench.authorizer_pipe --child ...`) installs the same
wrapper, builds the authorizer as `bench.authorizer_bench` does (decision lines to the
current `sys.stdout`), and times the Lambda handler on N distinct tokens interleaved
token by token with PyJWT's bare `jwt.decode` of the same tokens; this process reads
the pipe (and checks one `allow` line per token). Figures: the mean per decision (a
Lambda is billed for its mean, outliers included), the ratio of the means per round,
and the median of those ratios over the rounds (their range printed below the table).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Unbuffered:
    """What the Lambda Python runtime puts in `sys.stdout`: every write flushed."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.stream, attr)

    def write(self, msg: str) -> None:
        self.stream.write(msg)
        self.stream.flush()

    def writelines(self, msgs: Any) -> None:
        self.stream.writelines(msgs)
        self.stream.flush()


def child(alg: str, n: int) -> dict[str, float]:
    from bench.authorizer_bench import first_seen_figures

    sys.stdout = Unbuffered(sys.stdout)
    _, _, ours, theirs = first_seen_figures(n, alg, None)  # lines to sys.stdout
    return {"mean": statistics.fmean(ours), "pyjwt_mean": statistics.fmean(theirs),
            "median": statistics.median(ours), "pyjwt_median": statistics.median(theirs)}


def one_round(alg: str, n: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(ROOT)
    # Its stdout is a pipe this process drains while it runs (as the runtime's log
    # reader does); its last stderr line is the figures.
    proc = subprocess.run(
        [sys.executable, "-m", "bench.authorizer_pipe", "--child", "--alg", alg, "-n", str(n)],
        cwd=str(ROOT), env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pipe round failed:\n{proc.stderr.decode()[-3000:]}")
    lines = proc.stdout.decode().splitlines()
    allowed = sum(1 for line in lines if json.loads(line).get("decision") == "allow")
    if allowed != n + 1:
        raise RuntimeError(f"{allowed} allow lines on stdout, expected {n + 1}")
    return json.loads(proc.stderr.decode().splitlines()[-1])


def pipe_figures(alg: str, n: int, rounds: int) -> dict[str, Any]:
    results = [one_round(alg, n) for _ in range(rounds)]
    ratios = [r["mean"] / r["pyjwt_mean"] for r in results]
    middle = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    return {"ratios": ratios, "ratio": statistics.median(ratios),
            "mean": results[middle]["mean"], "pyjwt_mean": results[middle]["pyjwt_mean"],
            "median_ratios": [r["median"] / r["pyjwt_median"] for r in results]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.authorizer_pipe")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--alg", default="RS256")
    parser.add_argument("-n", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args.alg, args.n)
        print(json.dumps(result), file=sys.stderr)
        return 0
    figures = pipe_figures(args.alg, args.n, args.rounds)
    print(f"{args.alg}: mean of {args.n} first-seen decisions, stdout a pipe flushed per "
          f"write, {args.rounds} rounds")
    print("  ratio of the means per round: "
          + " ".join(f"{x:.3f}x" for x in figures["ratios"]))
    print("  (medians per round: " + " ".join(f"{x:.3f}x" for x in figures["median_ratios"])
          + ")")
    print(f"  median {figures['ratio']:.3f}x ({figures['mean']:.1f} us vs PyJWT "
          f"{figures['pyjwt_mean']:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
