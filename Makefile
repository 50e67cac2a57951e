# Two entry points for a fresh clone: `make chat` and `make test`.
# Both create .venv and install the pinned versions from constraints.txt first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: chat test setup bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

chat: $(STAMP)
	$(BIN)/lira models --prepare
	$(BIN)/lira chat

test: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/generation.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
