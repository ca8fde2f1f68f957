PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install train test test-slow test-all lint format clean

install:  ## create .venv, install the pinned requirements and this package (editable)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .

train:  ## train with the default config (override: make train ARGS="model.use_batchnorm=false")
	$(BIN)/python train.py $(ARGS)

test:  ## the default test suite (a few minutes)
	$(BIN)/python -m pytest

test-slow:  ## long end-to-end tests
	$(BIN)/python -m pytest -m slow

test-all:  ## everything
	$(BIN)/python -m pytest -m ""

lint:  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf logs .pytest_cache .ruff_cache
