//! The command line: `serve` (the default), `healthcheck` and `sign`, and every
//! setting with its environment variable and default, as `--help` shows them.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::signature::{self, ID_HEADER, STANDARD_SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Receives signed webhooks carrying WhatsApp-like messages, stores each exactly once,
/// and serves them back. With no command, serves.
#[derive(Debug, Parser)]
#[command(name = "webhook-inbox", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API on HOST:PORT (the default).
    Serve,
    /// Exit 0 when GET /health/ready on 127.0.0.1:$PORT answers 200, 1 otherwise.
    Healthcheck,
    /// Print the headers that sign a body with WEBHOOK_SECRET, one `Name: value` a line,
    /// for `curl -H @headers.txt -H 'Content-Type: application/json' --data-binary
    /// @body.json`.
    Sign {
        /// Standard Webhooks headers (a fresh webhook-id, the current time) instead of
        /// X-Signature; needs a `whsec_` WEBHOOK_SECRET.
        #[arg(long)]
        standard: bool,
        /// The body to sign, byte for byte; stdin when absent.
        file: Option<PathBuf>,
    },
}

/// `webhook-inbox sign`: prints the header lines, or explains on stderr and exits 1.
pub fn sign(settings: &Settings, standard: bool, file: Option<PathBuf>) -> ExitCode {
    match signed_headers(settings, standard, file) {
        Ok(lines) => {
            print!("{lines}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("webhook-inbox sign: {error}");
            ExitCode::FAILURE
        }
    }
}

fn signed_headers(
    settings: &Settings,
    standard: bool,
    file: Option<PathBuf>,
) -> Result<String, String> {
    let secret = config::webhook_secret(settings).map_err(|error| error.to_string())?;
    let body = match &file {
        Some(path) => std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?,
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|error| format!("cannot read stdin: {error}"))?;
            body
        }
    };
    if !standard {
        return Ok(format!(
            "X-Signature: {}\n",
            signature::sign(&secret, &body)
        ));
    }
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let value = match signature::standard_key(&secret) {
        None => Err(
            "--standard needs WEBHOOK_SECRET written whsec_<base64 of the key>; \
                     this one is a plain secret, which signs X-Signature only",
        ),
        Some(Err(_)) => Err("WEBHOOK_SECRET starts with whsec_ but the rest is not base64"),
        Some(Ok(_)) => signature::sign_standard(&secret, &id, timestamp, &body)
            .ok_or("WEBHOOK_SECRET is not a Standard Webhooks secret"),
    }?;
    Ok(format!(
        "{ID_HEADER}: {id}\n{TIMESTAMP_HEADER}: {timestamp}\n{STANDARD_SIGNATURE_HEADER}: {value}\n"
    ))
}
