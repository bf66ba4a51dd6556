"""Benchmarks: `python -m bench [section ...]` (see bench/__main__.py)."""
