# longcepo developer commands. `make install` once, then `make test` / `make lint`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test lint bench clean studio

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e '.[dev]'

test: $(PY)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

studio: $(PY)
	LANGGRAPH_NO_VERSION_CHECK=true $(VENV)/bin/langgraph dev --no-browser --no-reload \
	    --host 127.0.0.1 --port 8123

bench: $(PY)
	$(PY) -m bench.run

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .langgraph_api
