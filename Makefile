# The README's commands. Everything installs into ./.venv; nothing else on the machine changes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-project

.PHONY: run test lint bench install install-dev bytecode clean

# Bytecode is compiled at install: uv does not compile by default, and where
# PYTHONDONTWRITEBYTECODE is set Python never caches it either, so every start would compile
# thousands of modules again: `loopml --help` took 4.8 s instead of 1.8 s (issue 8).
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

# uv resolves and installs in seconds; it is itself installed from PyPI into the venv.
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade uv

# boost: XGBoost and CatBoost candidates; optional for users, always installed here
$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/uv
	$(UV_INSTALL) -e ".[boost]"
	touch $@

# neural: RealMLP, TabM and TensorBoard, for the tests; `make run` leaves them out. torch is
# pinned to the CPU wheel with pip first: resolving it, uv would fetch PyPI's default Linux
# build, which carries CUDA (several GB) that loopml never uses.
$(VENV)/.installed-dev: pyproject.toml Makefile $(VENV)/.installed
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(UV_INSTALL) -e ".[boost,neural,dev]"
	touch $@

install: $(VENV)/.installed bytecode
install-dev: $(VENV)/.installed-dev bytecode

## bytecode: compile loopml's own sources (installed editable), skipping those up to date
bytecode: | $(BIN)/uv
	$(BIN)/python -m compileall -q src

## run: install, then write the churn demo project and run the whole loop on it
run: install
	$(BIN)/loopml demo $(DEMO) --overwrite

## test: install what tests need, lint, and run the whole suite
test: lint
	$(BIN)/pytest

## lint: ruff (rules and format), mypy (strict on the core and the registry), and the import
## contracts (stages import only earlier stages, never another package's private module)
lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .grimp_cache
