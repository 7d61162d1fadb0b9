# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint venv bench clean golden mathjax fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(BIN)/python -m pip install --quiet -e '.[numba]' \
	  || echo "numba could not be installed: the numba backend's tests will skip"

demo: venv
	$(BIN)/symderive list
	$(BIN)/symderive show dense
	$(BIN)/symderive verify rnn
	$(BIN)/symderive export rnn -o /tmp/symderive_rnn_grad.py --force
	@echo "exported module written to /tmp/symderive_rnn_grad.py"
	-$(BIN)/symderive check rnn --claim '\frac{\partial L}{\partial W_{hh}} = \sum_{t=2}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top'
	$(BIN)/symderive notes -o /tmp/symderive-notes-en --force
	$(BIN)/symderive notes -o /tmp/symderive-notes-ko --lang ko --force
	@echo "notes sites written to /tmp/symderive-notes-en and /tmp/symderive-notes-ko"

# MathJax 3 (mathjax-full from npm) for the tests that typeset every formula of the notes, in a
# local folder; without npm those tests skip with the reason.
NODE_DIR := .node
MATHJAX := $(NODE_DIR)/node_modules/mathjax-full/package.json

$(MATHJAX):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) mathjax-full@3.2.2 \
	  || echo "npm install mathjax-full failed: the MathJax tests will skip"; \
	else echo "npm not found: the MathJax tests will skip"; fi

mathjax: $(MATHJAX)

test: venv mathjax lint
	$(BIN)/python -m pytest -q

# Lint with ruff (rules and line length in pyproject.toml's [tool.ruff]); part of `make test`.
lint: venv
	$(BIN)/ruff check symderive derivations tests benchmarks

# Fuzz `symderive check` with random models and claims (Hypothesis, in a child process with a time and a
# memory limit) for FUZZ_SECONDS; prints how many inputs ran and every problem found (exit 1 if any).
FUZZ_SECONDS ?= 600

fuzz: venv
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python tests/fuzz_check.py

# The JAX columns appear where JAX is installed: `$(BIN)/python -m pip install -e '.[bench]'` (~600 MB, not part
# of `make venv`); without it the tables have no JAX row.
bench: venv
	$(BIN)/python benchmarks/bench_derive.py
	$(BIN)/python benchmarks/bench_rnn.py
	$(BIN)/python benchmarks/bench_lstm.py
	$(BIN)/python benchmarks/bench_gru.py
	$(BIN)/python benchmarks/bench_batch.py
	$(BIN)/python benchmarks/bench_conv.py
	$(BIN)/python benchmarks/bench_transformer.py
	$(BIN)/python benchmarks/bench_parse.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(NODE_DIR)

# Refresh the golden files under tests/golden after an intended change of the rendered output
# (review `git diff tests/golden` before committing).
golden: venv
	$(BIN)/python tests/refresh_golden.py
