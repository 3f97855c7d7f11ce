//! Black-box tests: each starts the real binary on port 0 with a fresh database and
//! talks HTTP to it. `TEST_LOG=1` echoes the server's log lines. With
//! `TEST_POSTGRES_URL` (`make test-postgres`) every test gets a fresh PostgreSQL
//! database instead of a SQLite file (see `helpers::TestDatabase`).

mod alerts;
mod backup;
mod command_line;
mod connections;
mod console;
mod cursor;
mod health;
mod helpers;
mod hostile;
mod lifecycle;
mod logging;
mod messages;
mod metrics;
mod openapi;
mod postgres;
mod read_access;
mod replicas;
mod retention;
mod sigkill;
mod signed_bodies;
mod standard_webhooks;
mod startup;
mod stats;
mod upgrade;
mod webhook;
mod writer;
