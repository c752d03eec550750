# Every target creates or reuses .venv and installs the project into it, so a fresh clone
# needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Chinese letters need a CJK font to embed (Typst sets the PDF letters). Pango is for WeasyPrint,
# which only bench/packets.py uses now, as the baseline the Typst letter is measured against.
# The browser tests drive Debian's chromium through Playwright (no browser build is downloaded).
# The Temporal mTLS test puts Debian's nginx (grpc_pass, client certificates) in front of it.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei chromium \
	nginx-light
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-unit stack-up stack-down worker bench lint messages shell install-cli \
	path-hint

$(STAMP): pyproject.toml
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
		$(SYSTEM_PACKAGES) >/dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)
	@$(MAKE) --no-print-directory path-hint

# The `caseflow` command lives in .venv/bin: say how to reach it, once after setup and after run.
path-hint:
	@echo "caseflow is installed in $(CURDIR)/$(BIN). To type 'caseflow ...' as the README does:"
	@echo "  . $(CURDIR)/$(BIN)/activate    # this shell (or 'make shell': a shell with it on PATH)"
	@echo "  make install-cli    # or link it into ~/.local/bin, for every shell and directory"

# A shell with .venv/bin first on PATH; `exit` leaves it.
shell: $(STAMP)
	@echo "caseflow is on PATH in this shell; 'exit' to leave it."
	@PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $${SHELL:-/bin/sh} -i

# ~/.local/bin/caseflow -> .venv/bin/caseflow. It finds this clone's .data from any directory.
install-cli: $(STAMP)
	mkdir -p $(HOME)/.local/bin
	ln -sfn "$(CURDIR)/$(BIN)/caseflow" $(HOME)/.local/bin/caseflow
	@case ":$$PATH:" in *":$(HOME)/.local/bin:"*) echo "caseflow: $(HOME)/.local/bin/caseflow";; \
		*) echo "caseflow linked in $(HOME)/.local/bin, which is not on PATH: add" \
			"'export PATH=\"\$$HOME/.local/bin:\$$PATH\"' to your shell's profile";; esac

run: $(STAMP)
	$(BIN)/caseflow dev up --with-worker
	$(BIN)/caseflow demo
	@$(MAKE) --no-print-directory path-hint

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

# Everything but tests/integration: the rules, the activities' pure parts, the CLI's error lines
# and the workflows on the time-skipping server. About a minute.
test-unit: $(STAMP)
	$(BIN)/pytest tests --ignore=tests/integration

stack-up: $(STAMP)
	$(BIN)/caseflow dev up

stack-down: $(STAMP)
	$(BIN)/caseflow dev down

worker: $(STAMP)
	$(BIN)/caseflow worker

bench: $(STAMP)
	$(BIN)/python -m bench.documents
	$(BIN)/python -m bench.lifecycle
	$(BIN)/python -m bench.packets
	$(BIN)/python -m bench.web_api
	$(BIN)/python -m bench.console
	$(BIN)/python -m bench.portal_upload
	$(BIN)/python -m bench.trials

lint: $(STAMP)
	$(BIN)/ruff check .

# Refresh the console's message catalogues from the templates and code (English is complete by
# construction: its msgids are the text).
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F web/babel.cfg -k N_ -o web/locale/messages.pot .
	for lang in $$(ls web/locale | grep -v messages.pot); do \
		$(BIN)/pybabel -q update -N -i web/locale/messages.pot -d web/locale -l $$lang; done
	# The referral letter's catalogue (templates/locale/<lang>/LC_MESSAGES/letters.po).
	$(BIN)/pybabel -q extract -F templates/babel.cfg -k say -k say_block -k plain -k lines -k translate:2 -k N_ -k _flag:3 -k phrase \
		--no-location --omit-header -w 100 -o templates/locale/letters.pot .
	for lang in en zh_CN; do $(BIN)/pybabel -q update -N -i templates/locale/letters.pot \
		-d templates/locale -D letters -l $$lang -w 100; done
