# Entry points. Every target sets itself up: a fresh clone needs only
# Python 3.11+ and make.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-pgbouncer lint fmt bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bookingdb demo

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The concurrency tests again, every connection through a real PgBouncer in
# transaction pooling mode (installed from Debian's packages if missing;
# skipped, with the reason, where it cannot be).
test-pgbouncer: $(STAMP)
	BOOKINGDB_TEST_PGBOUNCER=1 $(BIN)/pytest tests/concurrency tests/test_pgbouncer_storm.py $(PYTEST_ARGS)

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
