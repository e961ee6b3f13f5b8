# simkeep — `make run` serves the whole platform with demo data; `make test` runs every test.
# Each target installs what it needs first.

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
BIN := .venv/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test lint bench chaos chaos-cluster cluster install install-dev run-deps browser-deps cluster-deps postgres rabbitmq fmt clean

install:
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --no-dev --inexact

install-dev:
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

# The embedded platform keeps numbers alive on its own: the daily retention run at 00:10 in
# Hong Kong (docs/retention.md). The simulated providers keep their records in var/simulators
# (docs/payments.md), so the server's simulators know the demo's trades.
run: export SIMKEEP_SIMULATOR_RECORDS ?= var/simulators
run: install run-deps
	$(BIN)/simkeep db upgrade
	$(BIN)/simkeep demo seed
	SIMKEEP_RETENTION_RUN_AT=$${SIMKEEP_RETENTION_RUN_AT:-00:10} $(BIN)/simkeep serve

test: install-dev browser-deps postgres rabbitmq
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check src tests bench chaos cluster
	$(BIN)/ruff format --check src tests bench chaos cluster
	$(BIN)/mypy src chaos cluster

fmt: install-dev
	$(BIN)/ruff check --fix src tests bench chaos cluster
	$(BIN)/ruff format src tests bench chaos cluster

bench: install-dev postgres rabbitmq cluster-deps
	$(BIN)/python -m bench.run

# The production shape on this machine until Ctrl-C (docs/scaling.md): three PostgreSQL
# servers under Patroni and etcd, HAProxy, pgbouncer, RabbitMQ, two app processes behind
# http://127.0.0.1:8080 (CLUSTER_PORT), three workers; stopped and removed on the way out.
cluster: install-dev postgres rabbitmq cluster-deps
	$(BIN)/python -m cluster.run

# The bank test under faults (docs/reliability.md): CHAOS_SECONDS (300), CHAOS_CLIENTS (16),
# CHAOS_DATABASE (postgresql | sqlite), CHAOS_SEED, CHAOS_QUEUE_URL (the workers on RabbitMQ);
# REPORT=1 writes the run into the docs.
chaos: install-dev
	REPORT=$(REPORT) $(BIN)/python -m chaos.run

# The same on make cluster's databases (Patroni, HAProxy, pgbouncer, reads off the replicas)
# with the workers on RabbitMQ; the nemesis kills the primary (docs/reliability.md).
chaos-cluster: install-dev rabbitmq cluster-deps
	CHAOS_DATABASE=cluster CHAOS_QUEUE_URL=$${CHAOS_QUEUE_URL:-amqp://guest:guest@127.0.0.1:5672/%2F} \
		REPORT=$(REPORT) $(BIN)/python -m chaos.run

# Debian packages, installed when missing (as root): the TrueType CJK font that receipt PDFs
# embed (to run), and for the tests Chromium with CJK fonts (Playwright cannot download
# browsers here) and pdftoppm (the receipt tests rasterise PDFs).
RUN_PACKAGES := fonts-wqy-zenhei
TEST_PACKAGES := $(RUN_PACKAGES) chromium fonts-noto-cjk poppler-utils
apt_install = if ! dpkg -s $(1) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
	fi
CLUSTER_PACKAGES := patroni etcd-server pgbouncer haproxy
run-deps:
	@$(call apt_install,$(RUN_PACKAGES))
cluster-deps:
	@$(call apt_install,$(CLUSTER_PACKAGES))
browser-deps:
	@$(call apt_install,$(TEST_PACKAGES))

# The tests need PostgreSQL; start the local cluster if it is down.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

# The queue's tests need RabbitMQ (docs/scaling.md); install and start it if it is missing or down.
rabbitmq:
	@$(call apt_install,rabbitmq-server)
	@timeout 1 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null || service rabbitmq-server start
	@for i in $$(seq 1 30); do timeout 1 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null && break; sleep 1; done

clean:
	rm -rf .venv var bench/out .pytest_cache .mypy_cache .ruff_cache .hypothesis
