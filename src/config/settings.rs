//! Every setting as the command line declares it: its environment variable, its
//! default and its meaning, written once here and shown by `webhook-inbox --help`.
//! Values are read as text; `Config` validates them, so that a bad value is one JSON
//! log line naming the variable rather than a usage message.

use std::ffi::{OsStr, OsString};

use clap::{Args, CommandFactory, FromArgMatches, Parser};

/// The settings, raw: each as given by its flag, else its environment variable, else
/// its default. A variable set to blanks counts as unset.
#[derive(Args, Clone, Debug, Default)]
#[command(
    next_help_heading = "Configuration (each flag may also be given as its environment variable)"
)]
pub struct Settings {
    /// The current HMAC secret: required, not blank. A secret written `whsec_<base64>`
    /// also verifies Standard Webhooks signatures.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub webhook_secret: Option<String>,
    /// Older secrets still accepted during a key rotation, separated by whitespace.
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_PREVIOUS_SECRETS",
        hide_env_values = true,
        value_name = "SECRETS"
    )]
    pub webhook_previous_secrets: Option<String>,
    /// How far `webhook-timestamp` may be from the server's clock, either way, in
    /// seconds (1 to 86400).
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_TOLERANCE_SECS",
        hide_env_values = true,
        default_value = "300"
    )]
    pub webhook_tolerance_secs: Option<String>,
    /// Bearer tokens for GET /messages and GET /stats, separated by whitespace; unset:
    /// reads are open to anyone who reaches the port.
    #[arg(
        long,
        global = true,
        env = "API_TOKENS",
        hide_env_values = true,
        value_name = "TOKENS"
    )]
    pub api_tokens: Option<String>,
    /// Where messages live: `sqlite://path`, `sqlite:////abs/path`, `sqlite::memory:`
    /// or `postgres://…`.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/app.db"
    )]
    pub database_url: Option<String>,
    /// ERROR, WARN, INFO, DEBUG or TRACE, any case.
    #[arg(
        long,
        global = true,
        env = "LOG_LEVEL",
        hide_env_values = true,
        default_value = "INFO"
    )]
    pub log_level: Option<String>,
    /// The address to listen on.
    #[arg(
        long,
        global = true,
        env = "HOST",
        hide_env_values = true,
        default_value = "0.0.0.0"
    )]
    pub host: Option<String>,
    /// The port to listen on (0 picks a free one).
    #[arg(
        long,
        global = true,
        env = "PORT",
        hide_env_values = true,
        default_value = "8000"
    )]
    pub port: Option<String>,
    /// A webhook body larger than this many bytes is answered 413 (1 to 67108864).
    #[arg(
        long,
        global = true,
        env = "MAX_BODY_BYTES",
        hide_env_values = true,
        default_value = "65536"
    )]
    pub max_body_bytes: Option<String>,
    /// The bytes of request bodies being read at once, over all connections; at least
    /// MAX_BODY_BYTES, at most 17179869184.
    #[arg(
        long,
        global = true,
        env = "BODY_BUDGET_BYTES",
        hide_env_values = true,
        default_value = "67108864"
    )]
    pub body_budget_bytes: Option<String>,
    /// A request that takes longer is answered 408, in seconds (1 to 86400).
    #[arg(
        long,
        global = true,
        env = "REQUEST_TIMEOUT_SECS",
        hide_env_values = true,
        default_value = "10"
    )]
    pub request_timeout_secs: Option<String>,
    /// Webhooks that may wait for the writer before new ones are answered 503 with
    /// Retry-After (1 to 1000000).
    #[arg(
        long,
        global = true,
        env = "WRITE_QUEUE_CAPACITY",
        hide_env_values = true,
        default_value = "8192"
    )]
    pub write_queue_capacity: Option<String>,
    /// The most messages committed in one transaction (1 to 4096).
    #[arg(
        long,
        global = true,
        env = "WRITE_BATCH_MAX",
        hide_env_values = true,
        default_value = "512"
    )]
    pub write_batch_max: Option<String>,
    /// SQLite: FULL (a 200 survives power loss) or NORMAL (survives a process crash).
    #[arg(
        long,
        global = true,
        env = "SQLITE_SYNCHRONOUS",
        hide_env_values = true,
        default_value = "FULL"
    )]
    pub sqlite_synchronous: Option<String>,
    /// How long a message is kept after it was stored (30d, 12h, 15m, 90s); unset or
    /// empty keeps messages forever. Deduplication lasts as long as a message is kept.
    #[arg(long, global = true, env = "RETENTION", hide_env_values = true)]
    pub retention: Option<String>,
    /// Database connections serving /messages and /stats (1 to 1000).
    #[arg(
        long,
        global = true,
        env = "DB_READ_CONNECTIONS",
        hide_env_values = true,
        default_value = "4"
    )]
    pub db_read_connections: Option<String>,
    /// Open client connections at most; more wait to be accepted (1 to 1000000).
    #[arg(
        long,
        global = true,
        env = "MAX_CONNECTIONS",
        hide_env_values = true,
        default_value = "10000"
    )]
    pub max_connections: Option<String>,
    /// A client that has not sent its request headers by then is disconnected, in
    /// seconds (1 to 86400).
    #[arg(
        long,
        global = true,
        env = "HEADER_READ_TIMEOUT_SECS",
        hide_env_values = true,
        default_value = "10"
    )]
    pub header_read_timeout_secs: Option<String>,
    /// On SIGTERM, how long in-flight requests may take to finish, in seconds (1 to
    /// 86400).
    #[arg(
        long,
        global = true,
        env = "SHUTDOWN_GRACE_SECS",
        hide_env_values = true,
        default_value = "10"
    )]
    pub shutdown_grace_secs: Option<String>,
}

/// Only the settings, for reading them through a lookup function.
#[derive(Parser)]
#[command(name = "webhook-inbox")]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    /// The settings as `lookup` gives each environment variable; the process
    /// environment is not read.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let command = SettingsOnly::command().mut_args(|arg| arg.env(None::<&str>));
        let mut args = vec!["webhook-inbox".to_owned()];
        for arg in SettingsOnly::command().get_arguments() {
            let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let value = variable.to_str().and_then(&lookup);
            if let Some(value) = value.filter(|value| !value.trim().is_empty()) {
                args.push(format!("--{long}={value}"));
            }
        }
        command
            .try_get_matches_from(args)
            .and_then(|matches| SettingsOnly::from_arg_matches(&matches))
            .map(|only| only.settings)
            .unwrap_or_default()
    }

    /// The first setting's environment variable whose value `lookup` finds not UTF-8:
    /// clap would refuse it with a usage message that names no variable.
    pub fn variable_not_utf8(lookup: impl Fn(&OsStr) -> Option<OsString>) -> Option<String> {
        SettingsOnly::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .find(|variable| lookup(variable).is_some_and(|value| value.to_str().is_none()))
            .map(|variable| variable.to_string_lossy().into_owned())
    }

    /// The default of the setting read from `variable`, as `--help` shows it.
    pub fn default_of(variable: &str) -> Option<String> {
        SettingsOnly::command()
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == variable))?
            .get_default_values()
            .first()
            .and_then(|value| value.to_str())
            .map(str::to_owned)
    }
}
