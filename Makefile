# The two commands of the README: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-browser test-postgres test-serverless test-load lint bench lock clean \
	package check-template tools

install: $(STAMP)

# Pinned with hashes (requirements.lock, made by `make lock`); the project itself is
# installed editable on top without dependencies, so the lock is the whole environment.
$(STAMP): requirements.lock pyproject.toml client/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tollgate needs Python 3.11+")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e ./client
	touch $(STAMP)

run: install
	$(BIN)/python -m examples.demo

test: install
	$(BIN)/python -m pytest -q

# The admin console in headless Chromium (tests/browser/): Debian's chromium package,
# installed here when missing (needs root: apt-get), driven by Playwright for Python.
test-browser: install
	test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; }
	$(BIN)/python -m pytest -q -m browser tests/browser

test-postgres: install
	TOLLGATE_TEST_POSTGRES_URL=$${TOLLGATE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -q -m postgres

# Load and fault tests: real processes over a PostgreSQL cluster of their own (needs the
# server binaries, initdb/pg_ctl); LOAD_SECONDS sets the load phase (default 10).
test-load: install
	TOLLGATE_LOAD=1 $(BIN)/python -m pytest -q -s -m load tests/load

# Static checks: ruff's rules (pyproject.toml) and mypy (mypy.ini: strict on shared/ and
# authorizer/, the rest of the product with no error either).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache issuer.db

# serverless-offline leg: npm packages from package-lock.json, then the e2e tests.
# The patch makes serverless-offline's Python runner return a raised exception as
# Lambda does (deploy/patch_serverless_offline.py), so the offline stage runs the
# production authorizer handler unchanged.
node_modules/.installed: package.json package-lock.json deploy/patch_serverless_offline.py
	npm ci --legacy-peer-deps --no-audit --no-fund
	$(PYTHON) deploy/patch_serverless_offline.py
	touch $@

test-serverless: install node_modules/.installed
	$(BIN)/python -m pytest -q -m serverless tests/e2e tests/deploy

# Production artifacts under .serverless/ for any stage, with no AWS credentials and no
# AWS call: deploy/build_artifacts.py vendors arm64 wheels from PyPI into each function's
# zip (no layers: osls would look them up in CloudFormation), then osls packages.
#   make package STAGE=prod POLICY_FILE=policies/prod.toml [JWKS=build/jwks.json] [PARAMS="--param database=attach ..."]
STAGE ?= prod
POLICY_FILE ?=
JWKS ?=
ARCH ?= arm64
PARAMS ?=
# osls with every AWS credential source removed: any AWS call would fail the target.
NO_AWS := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	-u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_CONTAINER_CREDENTIALS_FULL_URI \
	-u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_WEB_IDENTITY_TOKEN_FILE \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	AWS_EC2_METADATA_DISABLED=true SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off

package: install node_modules/.installed
	$(BIN)/python -m deploy.build_artifacts --stage $(STAGE) --arch $(ARCH) \
		$(if $(POLICY_FILE),--policy "$(POLICY_FILE)") $(if $(JWKS),--jwks "$(JWKS)")
	rm -rf .serverless
	$(NO_AWS) node_modules/.bin/osls package --stage $(STAGE) $(PARAMS)
	@echo "packaged stage $(STAGE): .serverless/ ($$(ls .serverless | tr '\n' ' '))"

# Template checkers in their own venv (.venv-tools), pinned with hashes, apart from the
# project's: their dependencies never move the project's pins.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
tools: $(TOOLS_STAMP)
$(TOOLS_STAMP): requirements-tools.lock
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-tools.lock
	touch $@

# cfn-lint (0 errors) and checkov (no failed check beyond deploy/checkov.yaml's skips,
# each with its reason) on the packaged template.
check-template: tools
	test -f .serverless/cloudformation-template-update-stack.json || $(MAKE) package
	$(TOOLS)/bin/cfn-lint --non-zero-exit-code error --format parseable .serverless/cloudformation-template-update-stack.json
	$(TOOLS)/bin/checkov --quiet --compact --config-file deploy/checkov.yaml \
		--file .serverless/cloudformation-template-update-stack.json
