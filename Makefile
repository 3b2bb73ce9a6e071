# swsim: every target sets up what it needs itself (a virtual environment in .venv).
# `make demo` installs swsim alone (RUN_STAMP); test, lint, bench and fuzz add the dev tools
# (DEV_STAMP: pytest, hypothesis, ruff, mypy, hatchling).
PYTHON    ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
STAMP     := $(DEV_STAMP)

.PHONY: demo test lint bench fuzz clean real-images truth test-qemu

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

# Real hibernation images written by Debian's own kernels under QEMU, each proved by resuming
# from a copy (docs/real-images.md). Needs root or sudo for apt-get; minutes; not part of `make test`.
REAL_OUT ?= build/real-images
real-images:
	tools/real-images/make.sh --out $(REAL_OUT) $(REAL_CONFIGS)
	python3 tools/real-images/figures.py $(REAL_OUT)

# QEMU-driven test (not part of `make test`): make fresh real images (--force) and check them
# as the committed fixtures are checked (tests/test_real_data.py, its image tests).
QEMU_OUT ?= build/test-qemu
test-qemu: $(STAMP)
	tools/real-images/make.sh --force --out $(QEMU_OUT) $(REAL_CONFIGS)
	python3 tools/real-images/figures.py $(QEMU_OUT)
	SWSIM_REAL_DIR=$(QEMU_OUT) $(BIN)/python -m pytest tests/test_real_data.py -k "not truth"

# Ground truth of one real 6.12 resume (kpageflags dump, allocation trace, kernel counts) into
# tests/data/real/truth-6.12/ (docs/real-images.md). Same needs as real-images.
truth:
	tools/real-images/truth.sh

clean:
	rm -rf $(VENV) build *.egg-info
