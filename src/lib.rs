//! webhook-inbox: receives signed webhooks carrying WhatsApp-like messages, stores
//! each exactly once, and lets operators list, search and count them.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod message;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod timestamp;
