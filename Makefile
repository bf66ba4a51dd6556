# The two commands of the README: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-postgres test-serverless test-load lint bench lock clean

install: $(STAMP)

# Pinned with hashes (requirements.lock, made by `make lock`); the project itself is
# installed editable on top without dependencies, so the lock is the whole environment.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tollgate needs Python 3.11+")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/python -m examples.demo

test: install
	$(BIN)/python -m pytest -q

test-postgres: install
	TOLLGATE_TEST_POSTGRES_URL=$${TOLLGATE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -q -m postgres

# Load and fault tests: real processes over a PostgreSQL cluster of their own (needs the
# server binaries, initdb/pg_ctl); LOAD_SECONDS sets the load phase (default 10).
test-load: install
	TOLLGATE_LOAD=1 $(BIN)/python -m pytest -q -s -m load tests/load

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache issuer.db

# serverless-offline leg: npm packages from package-lock.json, then the e2e tests.
node_modules/.installed: package.json package-lock.json
	npm ci --legacy-peer-deps --no-audit --no-fund
	touch $@

test-serverless: install node_modules/.installed
	$(BIN)/python -m pytest -q -m serverless tests/e2e
