//! Every setting of the service: its environment variable, its default, and its
//! validation. Read once at start; nothing else in the crate reads the environment
//! (the command line, `crate::cli`, reads it through `Settings`).

mod settings;

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use crate::signature::standard_key;

pub use settings::Settings;

/// The validated configuration of one webhook-inbox process. Each setting's variable,
/// default and meaning are declared once, in `Settings` (and shown by `--help`).
#[derive(Clone, Debug)]
pub struct Config {
    /// `WEBHOOK_SECRET`: the current HMAC secret. Required, not blank.
    pub webhook_secret: Secret,
    /// `WEBHOOK_PREVIOUS_SECRETS`: older secrets still accepted (key rotation).
    pub previous_secrets: Vec<Secret>,
    /// `WEBHOOK_TOLERANCE_SECS`: how far a Standard Webhooks timestamp may be from
    /// the server's clock, either way. Default 300 s.
    pub webhook_tolerance: Duration,
    /// `API_TOKENS`: bearer tokens for the read API; empty: reads are open.
    pub api_tokens: Vec<Secret>,
    /// `DATABASE_URL`: where messages live. Default `sqlite://data/app.db`.
    pub database: DatabaseLocation,
    /// `LOG_LEVEL`: `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`, any case. Default `INFO`.
    pub log_level: LevelFilter,
    /// `HOST`: the address to listen on. Default `0.0.0.0`.
    pub host: String,
    /// `PORT`: the port to listen on; `0` picks a free one. Default `8000`.
    pub port: u16,
    /// `MAX_BODY_BYTES`: request bodies larger than this are answered 413. Default
    /// 65536: a valid message is at most about 53 KB even with every character of its
    /// text escaped as a JSON surrogate pair.
    pub max_body_bytes: usize,
    /// `BODY_BUDGET_BYTES`: the bytes of request bodies in flight at once, over all
    /// connections; at least `max_body_bytes`. Default 64 MiB.
    pub body_budget_bytes: usize,
    /// `REQUEST_TIMEOUT_SECS`: a request that takes longer is answered 408. Default 10.
    pub request_timeout: Duration,
    /// `WRITE_QUEUE_CAPACITY`: webhooks that may wait for the writer before new ones are
    /// answered 503 with `Retry-After`. Default 8192.
    pub write_queue_capacity: usize,
    /// `WRITE_BATCH_MAX`: the most messages committed in one transaction. Default 512.
    pub write_batch_max: usize,
    /// `SQLITE_SYNCHRONOUS`: `FULL` (a 200 survives power loss) or `NORMAL` (survives a
    /// process crash; the last commits may be lost on power loss). Default `FULL`.
    pub sqlite_synchronous: Synchronous,
    /// `RETENTION`: how long a message is kept after it was stored, e.g. `30d`, `12h`,
    /// `15m`, `90s`. Default (unset or empty): forever.
    pub retention: Option<Duration>,
    /// `DB_READ_CONNECTIONS`: connections serving `/messages` and `/stats`. Default 4.
    pub read_connections: u32,
    /// `MAX_CONNECTIONS`: open client connections at most; more wait to be accepted.
    /// Default 10,000.
    pub max_connections: usize,
    /// `HEADER_READ_TIMEOUT_SECS`: a client that has not sent its request headers by
    /// then is disconnected. Default 10.
    pub header_read_timeout: Duration,
    /// `SHUTDOWN_GRACE_SECS`: on SIGTERM, how long in-flight requests may take to
    /// finish. Default 10.
    pub shutdown_grace: Duration,
}

/// A secret that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the SQLite database lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file.
    File(PathBuf),
    /// A SQLite database in memory, gone when the process ends.
    Memory,
    /// A PostgreSQL server: the `postgres://` or `postgresql://` URL as given.
    Postgres(String),
}

/// Shown in logs as a URL (`sqlite:///abs/path.db`), a PostgreSQL one without its password.
impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "sqlite://{}", path.display()),
            Self::Memory => f.write_str("sqlite::memory:"),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `url` with its passwords replaced by `***`: the one of its user info, and the value
/// of every parameter whose name holds `pass` in any case, once percent-decoded
/// (`password`, which PostgreSQL's URLs accept too, however it is written).
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((path, query)) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|parameter| match parameter.split_once('=') {
                    Some((name, _)) if names_a_password(name) => format!("{name}=***"),
                    _ => parameter.to_owned(),
                })
                .collect();
            format!("{path}?{}", parameters.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

/// The first parameter of a PostgreSQL URL that sqlx does not read: it would ignore it,
/// and log its value (a mistyped `password`, say) in a warning.
fn unknown_postgres_parameter(url: &str) -> Option<String> {
    const KNOWN: [&str; 18] = [
        "sslmode",
        "ssl-mode",
        "sslrootcert",
        "ssl-root-cert",
        "ssl-ca",
        "sslcert",
        "ssl-cert",
        "sslkey",
        "ssl-key",
        "statement-cache-capacity",
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "application_name",
        "options",
    ];
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter(|parameter| !parameter.is_empty())
        .map(|parameter| {
            parameter_name(
                parameter
                    .split_once('=')
                    .map_or(parameter, |(name, _)| name),
            )
        })
        .find(|name| !KNOWN.contains(&name.as_str()) && !name.starts_with("options["))
}

fn names_a_password(name: &str) -> bool {
    parameter_name(name).to_lowercase().contains("pass")
}

/// A URL parameter's name as sqlx reads it: form-encoded, `+` for a space.
fn parameter_name(raw: &str) -> String {
    let name = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&name)
        .decode_utf8_lossy()
        .into_owned()
}

/// SQLite's `synchronous` setting for the write connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    Full,
    Normal,
}

/// A setting that is missing or malformed; names the variable, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required and must not be empty")]
    Missing(&'static str),
    #[error("{variable} is invalid: {reason}")]
    Invalid {
        variable: &'static str,
        reason: String,
    },
}

impl ConfigError {
    /// The environment variable at fault.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing(variable) | Self::Invalid { variable, .. } => variable,
        }
    }
}

/// The longest any time setting may be: one day.
const DAY_SECS: u64 = 86_400;

impl Config {
    /// Reads the process environment (without the command line).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_lookup(lookup))
    }

    /// Validates every setting; the first bad one is named in the error.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let webhook_secret = webhook_secret(settings)?;
        let previous_secrets: Vec<Secret> = optional(&settings.webhook_previous_secrets)
            .map(|list| list.split_whitespace().map(Secret::new).collect())
            .unwrap_or_default();
        check_standard_keys("WEBHOOK_SECRET", std::slice::from_ref(&webhook_secret))?;
        check_standard_keys("WEBHOOK_PREVIOUS_SECRETS", &previous_secrets)?;
        let max_body_bytes = number("MAX_BODY_BYTES", &settings.max_body_bytes, 1..=64 << 20)?;
        let body_budget_bytes = number(
            "BODY_BUDGET_BYTES",
            &settings.body_budget_bytes,
            1..=16 << 30,
        )?;
        if body_budget_bytes < max_body_bytes {
            return Err(ConfigError::Invalid {
                variable: "BODY_BUDGET_BYTES",
                reason: "must be at least MAX_BODY_BYTES".to_owned(),
            });
        }
        Ok(Self {
            webhook_secret,
            previous_secrets,
            webhook_tolerance: seconds("WEBHOOK_TOLERANCE_SECS", &settings.webhook_tolerance_secs)?,
            api_tokens: optional(&settings.api_tokens)
                .map(|list| list.split_whitespace().map(Secret::new).collect())
                .unwrap_or_default(),
            database: parse_database_url(&text("DATABASE_URL", &settings.database_url)).map_err(
                |reason| ConfigError::Invalid {
                    variable: "DATABASE_URL",
                    reason,
                },
            )?,
            log_level: parse_level(&text("LOG_LEVEL", &settings.log_level)).ok_or_else(|| {
                ConfigError::Invalid {
                    variable: "LOG_LEVEL",
                    reason: "must be ERROR, WARN, INFO, DEBUG or TRACE".to_owned(),
                }
            })?,
            host: text("HOST", &settings.host),
            port: port(settings)?,
            max_body_bytes: max_body_bytes as usize,
            body_budget_bytes: body_budget_bytes as usize,
            request_timeout: seconds("REQUEST_TIMEOUT_SECS", &settings.request_timeout_secs)?,
            write_queue_capacity: number(
                "WRITE_QUEUE_CAPACITY",
                &settings.write_queue_capacity,
                1..=1_000_000,
            )? as usize,
            write_batch_max: number("WRITE_BATCH_MAX", &settings.write_batch_max, 1..=4096)?
                as usize,
            sqlite_synchronous: match text("SQLITE_SYNCHRONOUS", &settings.sqlite_synchronous)
                .to_ascii_uppercase()
                .as_str()
            {
                "FULL" => Synchronous::Full,
                "NORMAL" => Synchronous::Normal,
                _ => {
                    return Err(ConfigError::Invalid {
                        variable: "SQLITE_SYNCHRONOUS",
                        reason: "must be FULL or NORMAL".to_owned(),
                    })
                }
            },
            retention: retention(settings)?,
            read_connections: number(
                "DB_READ_CONNECTIONS",
                &settings.db_read_connections,
                1..=1000,
            )? as u32,
            max_connections: number("MAX_CONNECTIONS", &settings.max_connections, 1..=1_000_000)?
                as usize,
            header_read_timeout: seconds(
                "HEADER_READ_TIMEOUT_SECS",
                &settings.header_read_timeout_secs,
            )?,
            shutdown_grace: seconds("SHUTDOWN_GRACE_SECS", &settings.shutdown_grace_secs)?,
        })
    }
}

/// `WEBHOOK_SECRET`, as written; missing or blank is refused.
pub fn webhook_secret(settings: &Settings) -> Result<Secret, ConfigError> {
    settings
        .webhook_secret
        .as_deref()
        .filter(|secret| !secret.trim().is_empty())
        .map(Secret::new)
        .ok_or(ConfigError::Missing("WEBHOOK_SECRET"))
}

/// `PORT`, validated as `serve` does (for `healthcheck`).
pub fn port(settings: &Settings) -> Result<u16, ConfigError> {
    number("PORT", &settings.port, 0..=u16::MAX.into()).map(|port| port as u16)
}

/// Refuses a `whsec_` secret whose key does not decode, naming `variable` alone.
fn check_standard_keys(variable: &'static str, secrets: &[Secret]) -> Result<(), ConfigError> {
    for secret in secrets {
        if let Some(Err(error)) = standard_key(secret) {
            return Err(ConfigError::Invalid {
                variable,
                reason: error.to_string(),
            });
        }
    }
    Ok(())
}

// Raw values: a blank one is read as unset, so its default applies.

fn optional(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The value, else the default `--help` shows for `variable`.
fn text(variable: &str, value: &Option<String>) -> String {
    optional(value)
        .map(str::to_owned)
        .or_else(|| Settings::default_of(variable))
        .unwrap_or_default()
}

/// A whole number within `range`.
fn number(
    variable: &'static str,
    value: &Option<String>,
    range: RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    text(variable, value)
        .parse::<u64>()
        .ok()
        .filter(|number| range.contains(number))
        .ok_or_else(|| ConfigError::Invalid {
            variable,
            reason: format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

/// A whole number of seconds from 1 to a day.
fn seconds(variable: &'static str, value: &Option<String>) -> Result<Duration, ConfigError> {
    number(variable, value, 1..=DAY_SECS).map(Duration::from_secs)
}

/// `RETENTION`: a positive duration in humantime's notation, or nothing.
fn retention(settings: &Settings) -> Result<Option<Duration>, ConfigError> {
    let Some(raw) = optional(&settings.retention) else {
        return Ok(None);
    };
    match humantime::parse_duration(raw.trim()) {
        Ok(duration) if !duration.is_zero() => Ok(Some(duration)),
        _ => Err(ConfigError::Invalid {
            variable: "RETENTION",
            reason: "must be a positive duration such as 30d, 12h, 15m or 90s".to_owned(),
        }),
    }
}

fn parse_level(raw: &str) -> Option<LevelFilter> {
    match raw.to_ascii_uppercase().as_str() {
        "ERROR" => Some(LevelFilter::ERROR),
        "WARN" | "WARNING" => Some(LevelFilter::WARN),
        "INFO" => Some(LevelFilter::INFO),
        "DEBUG" => Some(LevelFilter::DEBUG),
        "TRACE" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// Accepts `postgres://…` and `postgresql://…` (checked when connecting), and for
/// SQLite `sqlite::memory:`, `sqlite:relative.db`, `sqlite://relative/path.db`,
/// `sqlite:///abs/path.db` and the deployment form `sqlite:////data/app.db`.
fn parse_database_url(url: &str) -> Result<DatabaseLocation, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if let Some(name) = unknown_postgres_parameter(url) {
            return Err(format!(
                "the parameter {name:?} is not one PostgreSQL connections read"
            ));
        }
        return Ok(DatabaseLocation::Postgres(url.to_owned()));
    }
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| "only sqlite: and postgres: URLs are supported".to_owned())?;
    if rest.contains('?') {
        return Err("query parameters are not supported".to_owned());
    }
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(DatabaseLocation::Memory);
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    // `sqlite:////data/app.db` leaves `//data/app.db`: one absolute path.
    let path = match path.trim_start_matches('/') {
        trimmed if trimmed.len() < path.len() => format!("/{trimmed}"),
        _ => path.to_owned(),
    };
    if path.is_empty() || path.ends_with('/') {
        return Err("the URL names no database file".to_owned());
    }
    // `sqlite:file:app.db` asks for one of SQLite's URI filenames, which are not taken:
    // say so rather than create a file named `file:app.db`.
    if path.starts_with("file:") {
        return Err("SQLite URI filenames (file:) are not supported: use sqlite:path".to_owned());
    }
    Ok(DatabaseLocation::File(PathBuf::from(path)))
}

#[cfg(test)]
mod tests;
