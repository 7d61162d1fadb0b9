# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test venv bench clean golden

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

demo: venv
	$(BIN)/symderive list
	$(BIN)/symderive show dense
	$(BIN)/symderive verify rnn
	$(BIN)/symderive export rnn -o /tmp/symderive_rnn_grad.py --force
	@echo "exported module written to /tmp/symderive_rnn_grad.py"
	-$(BIN)/symderive check rnn --claim '\frac{\partial L}{\partial W_{hh}} = \sum_{t=2}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top'

test: venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/bench_rnn.py
	$(BIN)/python benchmarks/bench_lstm.py
	$(BIN)/python benchmarks/bench_conv.py
	$(BIN)/python benchmarks/bench_parse.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Refresh the golden files under tests/golden after an intended change of the rendered output.
golden: venv
	$(BIN)/python -c "from symderive import available, derivation; from pathlib import Path; \
	[Path(f'tests/golden/{n}.{e}').write_text(derivation(n).to_latex(f), encoding='utf-8') \
	 for n in available() for f, e in (('markdown', 'md'), ('tex', 'tex'))]"
