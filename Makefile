# data-service: `make run` serves on 127.0.0.1:8000 (SQLite), `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export APP_DATABASE_URL ?= sqlite:///data-service.db

.DEFAULT_GOAL := help
.PHONY: help run migrate test test-oracle lint bench bench-scale-out bench-cluster bench-floor bench-cost bench-export bench-outage bench-abuse bench-servers image clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[servers]'
	touch $@

$(VENV)/.dev-deps: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps ## install, apply migrations and serve on 127.0.0.1:8000 (APP_SERVER picks the server)
	$(BIN)/python -m app migrate
	$(BIN)/python -m app serve

migrate: $(VENV)/.run-deps ## apply pending migrations to APP_DATABASE_URL
	$(BIN)/python -m app migrate

# checkov scans the chart's manifests (tests/deploy/test_checkov.py). It pins dozens of
# packages of its own (boto3, networkx, ...), so it lives in a virtual environment apart
# from the service's instead of among the dev dependencies.
TOOLS := .venv-tools
$(TOOLS)/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'checkov>=3.2,<4'

test: $(VENV)/.dev-deps $(TOOLS)/bin/checkov ## install the dev dependencies and tools, run the whole suite
	$(BIN)/python -m pytest

test-oracle: $(VENV)/.dev-deps ## the contract suite on Oracle (ORACLE_DSN=oracle://user:pw@host:1521/service, or Docker)
	REQUIRE_ORACLE=1 $(BIN)/python -m pytest -m oracle tests/contract

lint: $(VENV)/.dev-deps ## ruff and mypy
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy

bench: $(VENV)/.dev-deps ## load-test on PostgreSQL and Redis beside the database alone (pgbench), another implementation (BENCH_PEER_DIR), a git commit (BENCH_BASELINE); draws docs/performance.png; needs wrk
	$(BIN)/python -m bench.production

bench-scale-out: $(VENV)/.dev-deps ## primary only, reads on a streaming replica, and through PgBouncer, side by side (needs wrk, pgbouncer)
	$(BIN)/python -m bench.production --scale-out --reference service \
		--variant "replica:APP_DATABASE_READ_URLS={replica}" \
		--variant "pgbouncer:APP_DATABASE_URL={pgbouncer},APP_DATABASE_POOLER=pgbouncer" \
		--scenarios get_cold get_by_id write_read post --rounds 5 --duration 5s

bench-cluster: $(VENV)/.dev-deps ## one Redis beside a Redis Cluster of three masters and three replicas, side by side (needs wrk, redis-server, redis-cli)
	$(BIN)/python -m bench.production --redis-cluster --reference service \
		--variant "cluster:APP_REDIS_URL={redis_cluster},APP_REDIS_CLUSTER=true" \
		--scenarios get_hot get_cold get_by_id post --rounds 3 --duration 5s --chart ""

bench-sharded: $(VENV)/.dev-deps ## one PostgreSQL beside PostgreSQL sharded by user over two shards (postgres_fdw), side by side (needs wrk)
	$(BIN)/python -m bench.production --sharded --reference service \
		--variant "sharded:APP_DATABASE_URL={sharded}" \
		--scenarios get_cold get_by_id write_read post --rounds 3 --duration 5s --chart ""

bench-floor: $(VENV)/.dev-deps ## the reads that reach the database, by the service and by the bare stack it is built on (Starlette, asyncpg, the same statements), beside the database alone (needs wrk)
	$(BIN)/python -m bench.floor

bench-cost: $(VENV)/.dev-deps ## CPU a cached read costs a served worker, and what metrics and the access line add to it (needs wrk, taskset)
	$(BIN)/python -m bench.request_cost

bench-export: $(VENV)/.dev-deps ## GET /data/export of 100,000 and 1,000,000 rows on PostgreSQL: rows/s and the worker's peak RSS
	$(BIN)/python -m bench.export

bench-outage: $(VENV)/.dev-deps ## what clients see with the database frozen: stale pages and fast 503s (needs wrk)
	$(BIN)/python -m bench.outage

bench-abuse: $(VENV)/.dev-deps ## a connection flood, slow clients, 200 large bodies at once and a 30-minute soak against one worker (needs wrk)
	$(BIN)/python -m bench.abuse

bench-servers: $(VENV)/.dev-deps ## the same app on granian, uvicorn and hypercorn, on SQLite (needs wrk)
	$(BIN)/python -m bench.servers

IMAGE ?= data-service:$(shell sed -n 's/^version = //p' setup.cfg)
image: ## build the image from the Containerfile with podman or docker
	@engine=$$(command -v podman || command -v docker); \
	if [ -z "$$engine" ]; then \
		echo "make image: neither podman nor docker is installed here; the Containerfile is checked by hadolint in the test suite (tests/deploy/)"; \
		exit 1; \
	fi; \
	if ! $$engine info > /dev/null 2>&1; then \
		echo "make image: $$engine is installed but cannot reach a container engine (is its daemon or socket running?)"; \
		exit 1; \
	fi; \
	$$engine build -f Containerfile -t $(IMAGE) \
		--build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) .

clean: ## remove the virtual environment and local databases
	rm -rf $(VENV) $(TOOLS) *.egg-info data-service.db data-service.db-wal data-service.db-shm
