#!/usr/bin/env bash
# Installs the deploy tooling (osls CLI, serverless-offline, Pyodide for the packages' bytecode)
# pinned by package-lock.json.
# --legacy-peer-deps: serverless-offline declares a peer dependency on the `serverless`
# package, which osls replaces under another name; without the flag npm refuses the tree.
# Safe to run repeatedly; a no-op when node_modules already matches the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js 20+ to run the serverless-offline tests" >&2
  exit 1
fi
if [ -x node_modules/.bin/osls ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
    && grep -q "tollgate:" node_modules/serverless-offline/src/lambda/handler-runner/python-runner/invoke.py; then
  exit 0
fi
npm ci --legacy-peer-deps --no-audit --no-fund --loglevel=error
# serverless-offline's Python runner, taught to return a raised exception as Lambda does.
python3 deploy/patch_serverless_offline.py
