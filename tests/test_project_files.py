"""The files a user expects beside the code: LICENSE is the license pyproject.toml
declares (the Apache License 2.0's standard text, unchanged), and CHANGELOG.md has a
section for pyproject.toml's version, grouped by issue."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# SHA-256 of the Apache License 2.0 as the Apache Software Foundation publishes it
# (LICENSE-2.0.txt, 11358 bytes).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_license_file_is_the_declared_license():
    assert _project()["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"Apache License\n                           Version 2.0, January 2004" in text


def test_changelog_has_this_version_by_issue():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version = _project()["version"]
    sections = re.findall(r"^## (\S+)", changelog, re.MULTILINE)
    assert sections and sections[0] == version  # the newest first
    current = changelog.split(f"## {version}", 1)[1].split("\n## ", 1)[0]
    assert {"15", "13", "12", "7"} <= set(re.findall(r"^### Issues? (\d+)", current, re.M))
