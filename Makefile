# r2p-mailer: `make run` starts the service on SQLite; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# init creates the database on a fresh clone (no other command does) and upgrades it later.
run: install
	$(BIN)/r2p-mailer init
	R2P_ALLOW_PRIVATE_FEEDS=$${R2P_ALLOW_PRIVATE_FEEDS:-false} $(BIN)/r2p-mailer run

lint: install
	$(BIN)/ruff check mailer subscribers jobs tests bench alembic scripts
	$(BIN)/ruff format --check mailer subscribers jobs tests bench alembic scripts

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/poll.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: screenshots
screenshots: install
	$(BIN)/python scripts/screenshots.py --out screenshots
	$(BIN)/python scripts/digest_screenshots.py --out screenshots
	$(BIN)/python scripts/mail_screenshots.py --out screenshots
