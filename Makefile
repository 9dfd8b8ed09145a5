# The verbs; the README and the workflows call these same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install test lint invoke bench

help: ## list the verbs
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python ## create .venv and install the dev requirements
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt

test: install ## install, then run the whole test suite
	$(BIN)/python -m pytest -q

lint: install ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cvat_function main.py model_handler.py

invoke: install ## run the default model on the sample image, print CVAT's JSON, draw out/astronaut.png
	$(BIN)/python -m cvat_function invoke assets/astronaut.jpg --draw out/astronaut.png

bench: install ## measure per-stage time, request overhead and cold start
	$(BIN)/python -m cvat_function bench
