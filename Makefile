# swsim: every target sets up what it needs itself (a virtual environment in .venv).
# `make demo` installs swsim alone (RUN_STAMP); test, lint, bench and fuzz add the dev tools
# (DEV_STAMP: pytest, hypothesis, ruff, mypy, hatchling).
PYTHON    ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
STAMP     := $(DEV_STAMP)

.PHONY: demo test lint bench fuzz clean

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/swsim snapshot -o demo.swsim
	$(BIN)/swsim compare demo.swsim
	@rm -f demo.swsim

test: $(STAMP)
	$(BIN)/python -m pytest

# Long fuzz run: `make fuzz FUZZ_EXAMPLES=20000` (CI runs the same suite with a small default).
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	SWSIM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider tests/image/test_fuzz.py tests/cli/test_fuzz.py

# Benchmarks against the peer commands (zstd, cat + numpy copy); see bench/bench.py.
BENCH_RUNS ?= 3
bench: $(STAMP)
	@command -v zstd >/dev/null || { echo "make bench needs the zstd CLI (apt-get install zstd)"; exit 2; }
	$(BIN)/python bench/bench.py --runs $(BENCH_RUNS)

# ruff, and mypy --strict (pyproject.toml) on the library.
lint: $(STAMP)
	$(BIN)/ruff check swsim tests bench
	$(BIN)/mypy swsim

clean:
	rm -rf $(VENV) build *.egg-info
