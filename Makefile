# Quick start: `make run` serves the service with a demo; `make test` runs the whole suite.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
FLASK   := $(BIN)/flask --app wsgi
STAMP   := $(VENV)/.installed
# Compiled message catalogs of the moderator UI: build output, made from the .po files in git.
MO      := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

.PHONY: run serve bench test lint install clean translations axe

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

%.mo: %.po | $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

install: $(STAMP) $(MO)

# The demo newspaper runs on its own origin (:5001) next to the service (:5000), and the outbox
# worker beside them prints the mails (MODERATION_MAIL_BACKEND=console); Ctrl-C stops all three.
run: $(STAMP) $(MO)
	$(FLASK) db upgrade
	$(FLASK) demo
	$(BIN)/python demo/serve.py --port 5001 & demo=$$!; \
	$(FLASK) outbox work & worker=$$!; \
	trap 'kill $$demo $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

# As in production: migrate, then gunicorn with gunicorn.conf.py and an outbox worker beside it
# (see docs/deployment.md); Ctrl-C stops both, the worker after the message in hand.
serve: $(STAMP) $(MO)
	$(FLASK) db upgrade
	$(FLASK) outbox work & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Load benchmark against a minimal Flask app in the same run (see docs/performance.md): on SQLite,
# then on a throwaway PostgreSQL started for the run (benchmarks/with_postgres.sh).
# DB=sqlite or DB=postgres: only that one (DB=sqlite with BENCH_ARGS="--database-url …": yours).
bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } || \
		echo "wrk is not available: using the Python load generator"
ifneq ($(DB),postgres)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
endif
ifneq ($(DB),sqlite)
	benchmarks/with_postgres.sh $(BIN)/python benchmarks/run.py $(BENCH_ARGS)
endif

# axe-core, the accessibility checker the browser tests run (tests/test_accessibility.py): from the
# npm registry into node_modules/ (git-ignored, no package.json needed); the tests read it from disk.
AXE     := node_modules/axe-core/axe.min.js
$(AXE):
	npm install --no-audit --no-fund --no-save --prefix . axe-core@4

axe: $(AXE)

test: $(STAMP) $(MO) $(AXE)
	$(BIN)/pytest $(PYTEST_ARGS)

# Style, then the layer contracts in pyproject.toml ([tool.importlinter]), then the types.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy moderation

# After changing UI texts: collect them and merge them into the catalogs, then translate.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location -w 100 \
		-o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations -w 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
