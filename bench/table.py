"""One row per figure, printed as one table by `python -m bench`.

`ratio` is ours / baseline (or, for rows measured in alternating rounds, the median of
the per-round ratios: `paired_ratio`), whatever the unit: for times lower is better, for throughput
higher is better; `target` says which way (e.g. "<= 1.1", ">= 0.9") and `verdict()`
checks it. A row without a baseline has no ratio (an absolute target, e.g. "< 10 us").
A row's `note`, if any, is printed on its own line below the table (e.g. the spread
behind a median).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_TARGET = re.compile(r"(<=|>=|<|>)\s*([0-9.]+)\s*(x|us|ms)?")


@dataclass(frozen=True)
class Row:
    section: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""  # "<= 1.1x" on the ratio, "< 10 us" on the value
    note: str = ""  # one line printed below the table
    # The ratio when it is not value / baseline: the median of per-round ratios, where
    # value and baseline are each side's median over the rounds.
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def verdict(self) -> str:
        match = _TARGET.fullmatch(self.target.strip())
        if not match:
            return ""
        op, bound, unit = _OPS[match.group(1)], float(match.group(2)), match.group(3)
        subject = self.ratio if unit in (None, "x") else self.value
        if subject is None:
            return ""
        return "ok" if op(subject, bound) else "MISS"


def spread(ratios: list[float]) -> str:
    """Per-round ratios for a row's note: each, then their range."""
    each = " ".join(f"{x:.3f}x" for x in ratios)
    return f"{each}; min-max {min(ratios):.3f}-{max(ratios):.3f}x"


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "req/s" or abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def render(rows: list[Row]) -> str:
    header = ("section", "figure", "value", "baseline", "baseline value", "ratio", "target", "")
    lines = [header]
    for row in rows:
        lines.append((
            row.section,
            row.name,
            _num(row.value, row.unit),
            row.baseline_name or "-",
            _num(row.baseline, row.unit) if row.baseline is not None else "-",
            f"{row.ratio:.3f}x" if row.ratio is not None else "-",
            row.target or "-",
            row.verdict(),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 4, 5}
    out = []
    for n, line in enumerate(lines):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.append("| " + " | ".join(cells) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [f"{row.section}: {row.note}" for row in rows if row.note]
    if notes:
        out += ["", *notes]
    return "\n".join(out)
