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

lint: $(STAMP)
	$(BIN)/ruff check swsim tests
	$(BIN)/mypy swsim

clean:
	rm -rf $(VENV) build *.egg-info
