# swsim: every target sets up what it needs itself (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/swsim snapshot -o demo.swsim
	$(BIN)/swsim compare demo.swsim
	@rm -f demo.swsim

test: $(STAMP)
	$(BIN)/python -m pytest

# The hostile campaign at full size (about 30,000 cases at the default; `make test` runs the
# same suites with SWSIM_FUZZ_EXAMPLES=400): mutated and resealed images, zstd streams against
# `zstd -t`, signals, closed streams, devices and FIFOs as outputs, memory limits, huge
# numbers. Ends with the table of case kinds x outcomes (tests/campaign/tally.py).
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	SWSIM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider tests/image/test_fuzz.py tests/cli/test_fuzz.py tests/campaign

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
