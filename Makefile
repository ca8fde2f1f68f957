PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install train eval reproduce report bench test test-slow test-slurm test-all lint format clean
.DEFAULT_GOAL := help

help:  ## list the targets with what they do
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-12s %s\n", $$1, $$2}'

install:  ## create .venv, install the pinned requirements and this package (editable)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .

train:  ## train with the default config (override: make train ARGS="model.use_batchnorm=false")
	$(BIN)/python train.py $(ARGS)

eval:  ## test checkpoints with their runs' settings: make eval CKPT=<checkpoint, run or sweep folder>
	$(if $(CKPT),,$(error give what to evaluate: make eval CKPT=<run>/checkpoints/last.ckpt, a run or a sweep folder))
	$(BIN)/python -m bn2d_study.evaluate $(CKPT) $(EVAL_ARGS)

# One folder per reproduction; `make reproduce REPRODUCE_DIR=...` picks another.
REPRODUCE_DIR := logs/reproduce/$(shell date +%Y-%m-%d_%H-%M-%S)

reproduce:  ## the study's protocol for BN off and on (one multirun), then the report, in REPRODUCE_DIR
	@start=$$(date +%s) && \
	$(BIN)/python train.py -m experiment=paper model.use_batchnorm=false,true \
		hydra.sweep.dir=$(REPRODUCE_DIR) && \
	$(BIN)/python -m bn2d_study.report $(REPRODUCE_DIR) --published && \
	echo "wall time of the reproduction: $$(( $$(date +%s) - start )) s" | tee $(REPRODUCE_DIR)/wall_time.txt

report:  ## figures and summary of a run or multirun folder: make report DIR=logs/multiruns/...
	$(if $(DIR),,$(error give the folder to report on: make report DIR=logs/multiruns/<sweep>))
	$(BIN)/python -m bn2d_study.report $(DIR) $(REPORT_ARGS)

bench:  ## whole runs of this project against plain loops, start-up, per-step overhead (BENCH_ARGS=...)
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

test:  ## the default test suite (a few minutes)
	$(BIN)/python -m pytest --durations=15

test-slow:  ## long end-to-end tests
	$(BIN)/python -m pytest -m slow --durations=15

test-slurm:  ## sweeps through a real SLURM cluster: one node with and without accounting, two nodes (as root)
	bash scripts/slurm-local.sh up
	$(BIN)/python -m pytest -m slurm -s --durations=10; status=$$?; bash scripts/slurm-local.sh down; exit $$status
	SLURM_LOCAL_ACCOUNTING=0 bash scripts/slurm-local.sh up
	$(BIN)/python -m pytest -m slurm_no_accounting -s --durations=10; status=$$?; bash scripts/slurm-local.sh down; exit $$status
	SLURM_LOCAL_NODES=2 bash scripts/slurm-local.sh up
	$(BIN)/python -m pytest -m slurm_two_nodes -s --durations=10; status=$$?; bash scripts/slurm-local.sh down; exit $$status

test-all:  ## everything
	$(BIN)/python -m pytest -m ""

lint:  ## ruff lint and format check, and the import contracts of the wings (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format:  ## ruff: fix what it can, then format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove logs/ and tool caches
	rm -rf logs .pytest_cache .ruff_cache
