"""Read CloudWatch embedded metric format (EMF) log lines as CloudWatch would."""

from __future__ import annotations


def extract(line: dict) -> list[tuple[str, str, tuple[tuple[str, str], ...], float]]:
    """The metrics CloudWatch extracts from one log event: (namespace, metric,
    dimensions, value), checking the document as the specification requires."""
    meta = line["_aws"]
    assert type(meta["Timestamp"]) is int
    out = []
    for directive in meta["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            value = line[metric["Name"]]
            assert type(value) in (int, float)
            for dimension_set in directive["Dimensions"]:
                assert 1 <= len(dimension_set) <= 30
                dims = tuple((d, line[d]) for d in dimension_set)
                for _, v in dims:
                    assert type(v) is str and v.isascii() and v.strip(), v
                out.append((directive["Namespace"], metric["Name"], dims, value))
    return out
