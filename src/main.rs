#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use tracing::level_filters::LevelFilter;
use webhook_inbox::app::{Application, StopSignals};
use webhook_inbox::cli::{self, Cli, Command};
use webhook_inbox::config::{self, Config, Settings};
use webhook_inbox::{healthcheck, telemetry};

fn main() -> ExitCode {
    // `--help`, `--version` and a bad argument end here: plain text, exit 0 or 2.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if error.kind() == ErrorKind::InvalidUtf8 => {
            return refuse_not_utf8().unwrap_or_else(|| error.exit())
        }
        Err(error) => error.exit(),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.settings),
        Command::Healthcheck => match config::port(&cli.settings) {
            Ok(port) => healthcheck::run(port),
            Err(_) => ExitCode::FAILURE,
        },
        Command::Sign { standard, file } => cli::sign(&cli.settings, standard, file),
    }
}

/// A setting's variable that is not UTF-8 fails clap's parsing with a usage message
/// naming no variable: it gets the JSON line of any other unusable setting instead.
fn refuse_not_utf8() -> Option<ExitCode> {
    let variable = Settings::variable_not_utf8(|variable| std::env::var_os(variable))?;
    Some(refuse_setting(
        &variable,
        &format!("{variable} is invalid: not UTF-8"),
    ))
}

/// The one JSON line of a setting that cannot be used; startup ends there.
fn refuse_setting(variable: &str, error: &str) -> ExitCode {
    let _logs = telemetry::init(LevelFilter::INFO);
    tracing::error!(variable, error, "invalid configuration; not starting");
    ExitCode::FAILURE
}

fn serve(settings: &Settings) -> ExitCode {
    let config = match Config::from_settings(settings) {
        Ok(config) => config,
        Err(error) => return refuse_setting(error.variable(), &error.to_string()),
    };
    let _logs = telemetry::init(config.log_level);
    if config.api_tokens.is_empty() {
        tracing::warn!(
            variable = "API_TOKENS",
            "API_TOKENS is unset: GET /messages and GET /stats are open to anyone who reaches this port"
        );
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %error, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %error, "stopped on an error");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(&config).await?;
    // Caught before `listening` is said: a stop signal sent as soon as it is stops the
    // service gracefully, rather than ending the process at once.
    let signals = StopSignals::listen();
    tracing::info!(
        addr = %app.local_addr()?,
        database = %config.database,
        version = env!("CARGO_PKG_VERSION"),
        "listening"
    );
    tokio::select! {
        () = app.run_until(signals.clone().received(1)) => Ok(()),
        () = signals.received(2) => Err(anyhow::anyhow!(
            "stopped at once by a second signal: requests still in flight got no answer, and \
             their senders will retry"
        )),
    }
}
