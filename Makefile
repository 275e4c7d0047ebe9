# Two commands from a fresh clone: `make demo` (the main job) and `make test`.
# Each creates .venv on first use. GPU users: make TORCH_SPEC='torch' demo (or any torch build).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PRESET ?= quick
OUT ?= runs/$(PRESET)
BIN = $(VENV)/bin

.PHONY: demo test docs bench clean-venv

# the package alone (the main job); the test, docs and Ray extras on top for `make test`
$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '$(TORCH_SPEC)'
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.base
	$(BIN)/pip install -q -e '.[test,docs,ray]'
	touch $@

demo: $(VENV)/.base
	$(BIN)/corelocker-bounds reproduce --preset $(PRESET) --out $(OUT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

# the docs site (site/): results pages regenerated from the committed runs first
docs: $(VENV)/.installed
	$(BIN)/python scripts/docs.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_conv_norm.py
	$(BIN)/python benchmarks/bench_spectral_norm.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_extraction.py
	$(BIN)/python benchmarks/bench_paper_scale.py
	$(BIN)/python benchmarks/bench_utility.py
	$(BIN)/python benchmarks/bench_precision.py
	$(BIN)/python benchmarks/bench_cnn.py
	$(BIN)/python benchmarks/bench_paper_training.py
	$(BIN)/python benchmarks/bench_paper_eval.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_denormals.py

clean-venv:
	rm -rf $(VENV)
