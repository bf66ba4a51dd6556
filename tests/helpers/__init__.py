"""Test helpers importable from any test as `helpers.<module>` (pytest pythonpath = tests)."""
