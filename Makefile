# The README's commands. Everything installs into ./.venv; nothing else on the machine changes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-project

.PHONY: run test lint bench install install-dev clean

# uv resolves and installs in seconds; it is itself installed from PyPI into the venv.
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade uv

# boost: XGBoost and CatBoost candidates; optional for users, always installed here
$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[boost]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[boost,dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: install, then write the churn demo project and run the whole loop on it
run: install
	$(BIN)/loopml demo $(DEMO) --overwrite

## test: install what tests need, lint, and run the whole suite
test: lint
	$(BIN)/pytest

## lint: ruff, and the import contract that keeps stages from importing later ones
lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache
