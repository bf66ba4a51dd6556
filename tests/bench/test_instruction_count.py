"""The startup bench's instruction count (bench/startup_bench.py `instructions`): the
figure that does not move with the machine's load, so it must be the same for the same
program and grow with the work done."""

from __future__ import annotations

import os
import sys

import pytest

from bench.startup_bench import instructions


@pytest.mark.slow
def test_the_same_program_counts_the_same_and_more_work_counts_more() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    bare = [sys.executable, "-S", "-c", "pass"]
    first, second = instructions(bare, env), instructions(bare, env)
    assert first == second
    looping = instructions([sys.executable, "-S", "-c", "for _ in range(200_000): pass"], env)
    # 200,000 iterations of a loop body are at least ten instructions each.
    assert looping - first > 2_000_000
