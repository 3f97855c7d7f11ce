//! Black-box tests: each starts the real binary on port 0 with a fresh database and
//! talks HTTP to it. `TEST_LOG=1` echoes the server's log lines.

mod connections;
mod cursor;
mod health;
mod helpers;
mod hostile;
mod lifecycle;
mod logging;
mod messages;
mod metrics;
mod openapi;
mod sigkill;
mod signed_bodies;
mod startup;
mod stats;
mod webhook;
mod writer;
