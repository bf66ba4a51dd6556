"""The repository stands alone: no file cites working notes it does not contain.

Code, comments, tests and docs cite RFC sections, CVEs, AWS documentation and the
project's own docs/ (docs/threat-model.md, docs/design.md, ...). A citation of a note
kept outside the repository (a product brief, an attack list, a style guide, a sibling
folder) is a reference no reader of this repository can follow, so any of them fails here.

Files checked: every file git tracks or would add (untracked, not ignored), text only;
the third-party copies under tests/vectors/ and issuer/http/static/ (their READMEs aside)
are not ours to edit.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Spelled in pieces so that this file does not match itself.
NOTES = re.compile(
    r"\b(?:ATT" r"ACKS|SP" r"EC|ST" r"YLE)(?:\.md)?\b"  # the notes, by name or with .md
    r"|\.\./sha" r"red\b"  # the folder beside the repository that holds them
    r"|/work/sha" r"red\b"
)
SKIP_DIRS = {".git", ".venv", ".venv-tools", "node_modules", "build", "dist", ".serverless",
             "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"}


def _files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, check=True).stdout
        names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        names = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            names += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
    return [ROOT / n for n in sorted(names) if not _third_party(n)]


def _third_party(name: str) -> bool:
    """Unmodified copies of published files: test vectors, the vendored Swagger UI and
    axe-core (tests/browser/vendor/)."""
    return (name.startswith(("tests/vectors/", "issuer/http/static/", "tests/browser/vendor/"))
            and not name.endswith("README.md"))


def _text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):  # deleted in the work tree, or a submodule
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", "replace")


def test_enough_files_are_checked():
    files = _files()
    assert len(files) > 150
    assert ROOT / "docs" / "design.md" in files and Path(__file__).resolve() in files


def test_no_file_cites_notes_outside_the_repository():
    found = []
    for path in _files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if NOTES.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, ("cite an RFC, a CVE, AWS documentation or docs/ instead:\n"
                       + "\n".join(found))


# A file of this repository named by its path (`deploy/rotate_keys.py`, docs/caching.md).
CITED = re.compile(
    r"(?<![\w./-])((?:issuer|shared|authorizer|deploy|bench|migrations|tests|docs|examples"
    r"|client|\.ci)/[\w./-]*\.(?:py|md|yml|yaml|toml|json|sh|ini|lock|txt))(?![\w/-])")


def test_every_file_cited_exists():
    # A path cited anywhere (a comment, a docstring, a doc, an error message) is a promise
    # to the reader: the file must be in the repository.
    missing = []
    for path in _files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            missing += [f"{path.relative_to(ROOT)}:{number}: {cited}"
                        for cited in CITED.findall(line) if not (ROOT / cited).exists()]
    assert not missing, "cited but not in the repository:\n" + "\n".join(missing)


def test_the_pattern_catches_each_form():
    for cited in ("(ATT" "ACKS.md 14)", "(SP" "EC \"Keys\")", "SP" "EC: PATCH",
                  "(ST" "YLE.md)", "see ../sha" "red/SP" "EC.md", "/work/sha" "red/vectors"):
        assert NOTES.search(cited), cited
    assert CITED.findall("(deploy/snap" "start.py), docs/gone" ".md.") == [
        "deploy/snap" "start.py", "docs/gone" ".md"]
    assert CITED.findall("https://x.example/docs/a.md tmp/tests/a.py issuer/store/") == []
    for fine in ("FORGED_TOKENS", "test_spec_carve_out", "attacks.md", "shared/jwk.py",
                 "spectrum", "SPECIAL"):
        assert not NOTES.search(fine), fine
