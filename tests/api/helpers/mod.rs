//! What the black-box tests share: `TestApp` (the real binary on port 0 with a fresh
//! database, one method per endpoint), the test database on either backend, and
//! helpers to build requests and read answers.

mod app;
mod database;
mod requests;

pub use app::*;
pub use database::*;
pub use requests::*;
