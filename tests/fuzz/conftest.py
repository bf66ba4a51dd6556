"""Fuzzing budget: FUZZ_EXAMPLES examples per operation or property (small for `make
test`; .ci/run raises it). Hypothesis' database is off so a run is bounded and
reproducible from its seed alone (failures print it)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
