# Entry points. Every target sets itself up: a fresh clone needs only
# Python 3.11+ and make.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-all test-pgbouncer test-system-pg test-citus lint fmt bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bookingdb demo

# pytest-xdist workers: two per core, as most of a test's time is spent
# waiting on the server (make test WORKERS=0 runs in one process).
WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
XDIST   := -n $(WORKERS) --dist loadgroup

# Every layer in parallel, without the end-to-end checks that take tens of
# seconds each (marker e2e) and the PgBouncer storm (make test-pgbouncer runs
# it); the hypothesis profile is "dev" unless BOOKINGDB_HYPOTHESIS_PROFILE
# says otherwise.
test: $(STAMP)
	$(BIN)/pytest $(XDIST) -m "not e2e and not pgbouncer" $(PYTEST_ARGS)

# Everything: every test (e2e included) on the embedded PostgreSQL 18, the
# concurrency tests through PgBouncer, and the layers whose behaviour depends
# on the server version again on the system PostgreSQL ($(SYSTEM_PG_DSN)).
SYSTEM_PG_DSN ?= postgresql://postgres@127.0.0.1:5432/postgres
test-all: $(STAMP)
	$(BIN)/pytest $(XDIST) -m "not pgbouncer" $(PYTEST_ARGS)
	$(MAKE) test-pgbouncer
	$(MAKE) test-system-pg

# The concurrency tests again, every connection through a real PgBouncer in
# transaction pooling mode (installed from Debian's packages if missing;
# skipped, with the reason, where it cannot be).
test-pgbouncer: $(STAMP)
	BOOKINGDB_TEST_PGBOUNCER=1 $(BIN)/pytest $(XDIST) tests/concurrency tests/test_pgbouncer_storm.py $(PYTEST_ARGS)

# The SQL contract, migrations, races and hostile input on the system
# PostgreSQL (15 here): the layers whose behaviour depends on the server's
# version; the Python, CLI and bench layers run the same SQL.
test-system-pg: $(STAMP)
	BOOKINGDB_TEST_DSN=$(SYSTEM_PG_DSN) $(BIN)/pytest $(XDIST) -m "not e2e" \
		tests/sql tests/migrations tests/concurrency tests/property $(PYTEST_ARGS)

# bookingdb distributed on a real Citus 13.2 cluster (PostgreSQL 15; a
# coordinator and two workers on this machine): cluster.sh (as root; builds
# Citus from the shared source tarball the first time, about 95 s) starts
# it, then the cluster tests, the SQL contract and the races run against the
# coordinator, each template database distributed over both workers. Two
# test processes: three servers already share the two cores. What does not
# work on Citus yet is marked in tests/citus_kit.py (docs/scaling.md).
CITUS_CLUSTER ?= $(firstword $(wildcard ../shared/citus/cluster.sh /work/shared/citus/cluster.sh))
CITUS_DSN     ?= postgresql://postgres@127.0.0.1:5441/bookingdb
test-citus: $(STAMP)
	@test -n "$(CITUS_CLUSTER)" || { echo "test-citus: no cluster.sh (set CITUS_CLUSTER=/path/to/cluster.sh)"; exit 1; }
	$(CITUS_CLUSTER) start
	BOOKINGDB_TEST_CITUS=$(CITUS_DSN) $(BIN)/pytest -n 2 --dist loadgroup -m "not e2e" \
		tests/citus tests/sql tests/concurrency $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/bookingdb bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict bookingdb

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
