"""`python -m bench [--quick] [section ...]`: runs every section, or the ones named, and
prints one table (figure, baseline measured in the same run, ratio, target).

A section is a module `bench.<name>_bench` with `run(options) -> list[Row]`; add one to
SECTIONS. Progress goes to stderr, the table to stdout. `--quick` is a short smoke run
(small samples: the ratios are indicative only).
"""

from __future__ import annotations

import importlib
import sys
import time

from bench.machine import describe
from bench.table import Row, render

SECTIONS = ("authorizer", "memory", "issuer", "federation", "lambda", "startup")


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or list(SECTIONS)
    options = [a for a in argv if a.startswith("-")]
    for name in names:
        if name not in SECTIONS:
            print(f"unknown section {name!r}; known: {', '.join(SECTIONS)}", file=sys.stderr)
            return 2
    rows: list[Row] = []
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        rows += importlib.import_module(f"bench.{name}_bench").run(options)
        print(f"bench: {name} done in {time.monotonic() - t0:.1f} s", file=sys.stderr,
              flush=True)
    mode = "quick (smoke run, indicative only)" if "--quick" in options else "full"
    print(f"{describe()}; mode: {mode}; total {time.monotonic() - started:.0f} s")
    print()
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
