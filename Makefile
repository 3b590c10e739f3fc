# Two commands on a fresh clone: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-only setup venv gettext messages compilemessages migrate chromium bench bench-themes clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# msgfmt (Debian's gettext) compiles the catalogs; installed when missing.
gettext:
	@command -v msgfmt >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends gettext; }

compilemessages: venv gettext
	@$(PY) manage.py compilemessages --ignore=.venv --ignore=.venv-bench --verbosity 0

# Extract strings into the French catalog (then translate every new entry).
messages: venv gettext
	$(PY) manage.py makemessages -l fr --no-obsolete --ignore=.venv --ignore=.venv-bench --ignore=tests --ignore=bench --add-location=file
	$(PY) manage.py makemessages -d djangojs -l fr --no-obsolete --ignore=.venv --ignore=.venv-bench --ignore=tests --ignore=bench --ignore=var --add-location=file

migrate: venv
	@mkdir -p var
	$(PY) manage.py migrate --verbosity 1

setup: venv compilemessages migrate

# Serves on SQLite at http://127.0.0.1:$(PORT) with a task worker beside it (emails go to var/outbox/).
run: setup
	@echo "Serving on http://127.0.0.1:$(PORT)  (emails: http://127.0.0.1:$(PORT)/en/dev/outbox/)"
	@export SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)}; \
	$(PY) manage.py db_worker --no-reload --interval 1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# Debian's Chromium for the browser tests; installed when missing.
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation; }

test: venv compilemessages chromium
	$(MAKE) test-only

test-only:
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv compilemessages
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Our theme engine against BERTopic; BERTopic goes in .venv-bench/ only (the script makes it).
bench-themes: venv
	$(PY) bench/themes.py

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache
