# simkeep — `make run` serves the whole platform with demo data; `make test` runs every test.
# Each target installs what it needs first.

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
BIN := .venv/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test lint bench install install-dev browser-deps postgres fmt clean

install:
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --no-dev --inexact

install-dev:
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: install
	$(BIN)/simkeep db upgrade
	$(BIN)/simkeep demo seed
	$(BIN)/simkeep serve

test: install-dev browser-deps postgres
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

fmt: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install-dev postgres
	$(BIN)/python -m bench.run

# Debian's Chromium and CJK fonts for the browser tests (Playwright cannot download browsers here).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	fi

# The tests need PostgreSQL; start the local cluster if it is down.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

clean:
	rm -rf .venv var bench/out .pytest_cache .mypy_cache .ruff_cache .hypothesis
