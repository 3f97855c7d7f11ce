#![forbid(unsafe_code)]

use std::process::ExitCode;

use tracing::level_filters::LevelFilter;
use webhook_inbox::app::{shutdown_signal, Application};
use webhook_inbox::config::Config;
use webhook_inbox::{healthcheck, telemetry};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck::run();
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            let _logs = telemetry::init(LevelFilter::INFO);
            tracing::error!(variable = error.variable(), error = %error, "invalid configuration; not starting");
            return ExitCode::FAILURE;
        }
    };
    let _logs = telemetry::init(config.log_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %error, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(&config).await?;
    tracing::info!(
        addr = %app.local_addr()?,
        database = %config.database,
        version = env!("CARGO_PKG_VERSION"),
        "listening"
    );
    app.run_until(shutdown_signal()).await;
    Ok(())
}
