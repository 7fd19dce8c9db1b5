# Everything a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run serve migrate demo test test-sqlite test-postgres lint fmt bench schemas check-schemas clients fleet fleet-test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/mentorapi migrate

demo: migrate
	$(BIN)/mentorapi demo

## run: install, migrate the embedded SQLite database, create the demo app, serve on :8000
run: demo
	$(BIN)/mentorapi serve

# Two pytest-xdist workers: much of the suite waits on PostgreSQL, on subprocesses and on
# real sockets, so two share a 2-core machine well. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS)

## test: the whole suite, on SQLite and PostgreSQL
test: install
	$(PYTEST)

test-sqlite: install
	MENTORAPI_TEST_DATABASES=sqlite $(PYTEST)

test-postgres: install
	MENTORAPI_TEST_DATABASES=postgresql $(PYTEST)

lint: install
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

schemas: install
	$(BIN)/mentorapi export-schemas

check-schemas: install
	$(BIN)/mentorapi export-schemas --check

## clients: prove openapi/ with generated clients (TypeScript, Python, GraphQL) against a live server
clients: install
	MENTORAPI=$(CURDIR)/$(BIN)/mentorapi PYTHON=$(CURDIR)/$(BIN)/python clients/run-proofs.sh

## fleet: PgBouncer, HAProxy, two API processes and two workers on a fresh PostgreSQL database,
## from deploy/'s configs; prints the balancer's URL and an API key; Ctrl-C stops everything
fleet: install
	MENTORAPI=$(CURDIR)/$(BIN)/mentorapi PYTHON=$(CURDIR)/$(BIN)/python scripts/fleet.sh

## fleet-test: the same fleet, the black-box suite (tests/fleet/blackbox) against its balancer
fleet-test: install
	MENTORAPI=$(CURDIR)/$(BIN)/mentorapi PYTHON=$(CURDIR)/$(BIN)/python scripts/fleet.sh test

## bench: every benchmark, or the scenarios named after it (`make bench reminders`); options
## through ARGS: `make bench mentors ARGS="--repeat 3"`, `make bench ARGS=--fleet` (one server
## against the fleet)
BENCH_SCENARIOS := $(filter-out bench,$(MAKECMDGOALS))
bench: install
	$(BIN)/python -m bench $(BENCH_SCENARIOS) $(ARGS)
ifneq ($(filter bench,$(MAKECMDGOALS)),)
# The scenario names are goals too: nothing to make for them.
$(BENCH_SCENARIOS):
	@:
endif

clean:
	rm -rf $(VENV) clients/typescript/node_modules clients/typescript/dist clients/typescript/src/generated clients/python/.venv clients/python/generated mentorapi.db mentorapi.db-* .mentorapi-demo-key .pytest_cache .mypy_cache .ruff_cache
