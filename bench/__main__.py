"""`python -m bench [section ...]`: runs every section, or the ones named.

A section is a module `bench.<name>_bench` with `run(argv) -> None`; add one to SECTIONS.
"""

from __future__ import annotations

import importlib
import sys

SECTIONS = ("authorizer",)


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or list(SECTIONS)
    options = [a for a in argv if a.startswith("-")]
    for name in names:
        if name not in SECTIONS:
            print(f"unknown section {name!r}; known: {', '.join(SECTIONS)}", file=sys.stderr)
            return 2
        importlib.import_module(f"bench.{name}_bench").run(options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
