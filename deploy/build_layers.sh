#!/usr/bin/env bash
# Builds the Lambda layers serverless.yml deploys: Linux x86_64 wheels for Python 3.12,
# at the versions pinned in requirements.lock (used as constraints, so pip resolves the
# runtime closure only; the dev tools in the lock never reach a Lambda).
#   build/layers/authorizer/python: cryptography alone (the authorizer's import-light promise)
#   build/layers/issuer/python:     the issuer's runtime dependencies (pyproject.toml)
# Needs PyPI; run before `osls deploy` (not needed for the offline stage).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# The lock without its hash lines: pins only, usable as a constraints file.
sed -e 's/ \\$//' -e '/^ *--hash/d' -e '/^ *#/d' -e '/^$/d' requirements.lock > "$constraints"

layer() {  # layer NAME REQUIREMENT...
  local dir="build/layers/$1/python"; shift
  rm -rf "$dir" && mkdir -p "$dir"
  "$PY" -m pip install --quiet --disable-pip-version-check --target "$dir" \
    --platform manylinux2014_x86_64 --implementation cp --python-version 3.12 \
    --only-binary=:all: -c "$constraints" "$@"
  find "$dir" -name '__pycache__' -prune -exec rm -rf {} +
  echo "layer $dir: $(du -sh "$dir" | cut -f1)"
}

layer authorizer cryptography
layer issuer PyJWT cryptography fastapi python-multipart SQLAlchemy alembic "psycopg[binary]" mangum
