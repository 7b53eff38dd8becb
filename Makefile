# r2p-mailer: `make run` starts the service on SQLite; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := mailer subscribers jobs staff service tests bench alembic scripts setup.py

.PHONY: help install run test test-fast format lint typecheck pytest bench clean translations

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install r2p-mailer (editable) with its test tools

# Re-runs whenever pyproject.toml changes. uv (from PyPI, into the venv) installs in seconds
# and shows what it does; plain pip is the fallback when uv cannot be installed. Both leave
# the packages compiled to bytecode (uv only when asked): otherwise every Python process
# the tests start compiles them again where PYTHONDONTWRITEBYTECODE is set (as in these
# shells and many CI images), seconds of CPU each.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "make: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@if test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv; then \
		echo "make: installing r2p-mailer and its test tools into $(VENV) with uv"; \
		$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -e '.[test]'; \
	else \
		echo "make: uv could not be installed; installing with pip (slower, a minute or two)"; \
		$(BIN)/python -m pip install --progress-bar on --upgrade pip && \
		$(BIN)/python -m pip install --progress-bar on -e '.[test]'; \
	fi
	@touch $(STAMP)
	@echo "make: $(VENV) is ready"

# init creates the database on a fresh clone (no other command does) and upgrades it later.
run: install ## start the service on SQLite (http://127.0.0.1:8000)
	$(BIN)/r2p-mailer init
	R2P_ALLOW_PRIVATE_FEEDS=$${R2P_ALLOW_PRIVATE_FEEDS:-false} $(BIN)/r2p-mailer run

format: install ## ruff format and ruff check --fix on the code
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

lint: install ## ruff check and ruff format --check
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: install ## mypy (strict)
	$(BIN)/mypy

# Tests run in PYTEST_WORKERS processes (pytest-xdist; 5 beat 3 on 2 cores, as many tests
# wait on servers and leases; `make pytest PYTEST_WORKERS=0` runs them in this one). The
# slowest ten are listed, and the time the run took is the last line. Our own modules are
# compiled once first (a no-op when up to date), not in every worker and subprocess, and
# one collection writes pytest's rewritten test modules (its assertion rewriting) for the
# workers to read: where PYTHONDONTWRITEBYTECODE is set, as in many CI images, every worker
# would rewrite all of them (~4 s of CPU each) on a fresh clone.
PYTEST_WORKERS ?= 5
PRECOMPILE = $(BIN)/python -m compileall -q -j 0 mailer subscribers jobs staff service tests >/dev/null; \
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest --collect-only -q -p no:cacheprovider >/dev/null
pytest: install ## the tests alone, in parallel (PostgreSQL and browser ones when configured)
	@start=$$(date +%s); \
	$(PRECOMPILE); \
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=10; status=$$?; \
	echo "make: pytest took $$(( $$(date +%s) - start )) s"; \
	exit $$status

# mypy runs beside the tests (one core for a few seconds, while they wait on servers and
# leases); either failing fails the target. The total time is the last line.
test: install lint ## every check: ruff, mypy and the tests
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j2 typecheck pytest; status=$$?; \
	echo "make: test took $$(( $$(date +%s) - start )) s (after lint)"; \
	exit $$status

# The quick loop while coding: the tests alone, on SQLite, no browser.
test-fast: install ## pytest only: SQLite, no browser tests (quick)
	@$(PRECOMPILE)
	env -u R2P_TEST_POSTGRES_URL -u R2P_TEST_REQUIRE_BROWSER $(BIN)/pytest -n $(PYTEST_WORKERS) \
		--dist worksteal -m "not browser and not postgres"

# The reader pages' and emails' messages (babel.cfg says where) into mailer/locale/messages.pot,
# then each language's catalogue updated (new messages untranslated, never guessed: the
# catalogue test names them) and compiled to the .mo files the program reads (committed, so a
# clean checkout runs). English is the source language and has no catalogue.
TRANSLATIONS := ar zh fr ru es
translations: install ## extract, update and compile the gettext catalogues (mailer/locale/)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --ignore-dirs='.* __pycache__' \
		--add-comments=Translators: --no-location --sort-output --width=100 \
		--project=r2p-mailer --copyright-holder='r2p-mailer contributors' \
		-o mailer/locale/messages.pot .
	@for lang in $(TRANSLATIONS); do \
		$(BIN)/pybabel update -i mailer/locale/messages.pot -d mailer/locale -D messages -l $$lang \
			--init-missing --no-fuzzy-matching --ignore-obsolete --width=100 || exit 1; \
	done
	$(BIN)/pybabel compile -d mailer/locale -D messages --statistics

bench: install ## the feed-poll benchmark
	$(BIN)/python bench/poll.py

clean: ## remove .venv and the tool caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: screenshots
screenshots: install ## pages and emails as Chromium renders them, into screenshots/
	$(BIN)/python scripts/screenshots.py --out screenshots
	$(BIN)/python scripts/digest_screenshots.py --out screenshots
	$(BIN)/python scripts/mail_screenshots.py --out screenshots
