# bidhall: `make run` sets everything up and serves the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
export FLASK_APP := wsgi

.PHONY: setup db run test test-sqlite test-postgres bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

db: setup
	$(BIN)/flask db upgrade

run: db
	$(BIN)/flask demo seed
	MALLOC_ARENA_MAX=2 $(BIN)/python -m core.serve

test: setup
	$(BIN)/python tools/run_tests.py

bench: setup
	$(BIN)/python tools/run_benchmarks.py

clean:
	rm -rf $(VENV) instance .pytest_cache
