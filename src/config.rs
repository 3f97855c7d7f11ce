//! Every setting of the service: its environment variable, its default, and its
//! validation. Read once at start; nothing else in the crate reads the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tracing::level_filters::LevelFilter;

/// The validated configuration of one webhook-inbox process.
#[derive(Clone, Debug)]
pub struct Config {
    /// `WEBHOOK_SECRET`: the shared HMAC key. Required and non-empty.
    pub webhook_secret: Secret,
    /// `DATABASE_URL`: where messages live. Default `sqlite://data/app.db`.
    pub database: DatabaseLocation,
    /// `LOG_LEVEL`: `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`, any case. Default `INFO`.
    pub log_level: LevelFilter,
    /// `HOST`: the address to listen on. Default `0.0.0.0`.
    pub host: String,
    /// `PORT`: the port to listen on; `0` picks a free one. Default `8000`.
    pub port: u16,
    /// `MAX_BODY_BYTES`: request bodies larger than this are answered 413. Default 1 MiB.
    pub max_body_bytes: usize,
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
    /// `DB_READ_CONNECTIONS`: connections serving `/messages`, `/stats` and readiness. Default 4.
    pub read_connections: u32,
    /// `MAX_CONNECTIONS`: open client connections at most; more wait to be accepted.
    /// Default 1024.
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

/// Shown in logs: a PostgreSQL URL without its password.
impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Memory => f.write_str("Memory"),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&redact_password(url))
                .finish(),
        }
    }
}

/// `url` with the password of its user info, if any, replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
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

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let webhook_secret = lookup("WEBHOOK_SECRET")
            .filter(|value| !value.is_empty())
            .map(Secret)
            .ok_or(ConfigError::Missing("WEBHOOK_SECRET"))?;
        let database = match get("DATABASE_URL") {
            Some(url) => parse_database_url(&url).map_err(|reason| ConfigError::Invalid {
                variable: "DATABASE_URL",
                reason,
            })?,
            None => DatabaseLocation::File(PathBuf::from("data/app.db")),
        };
        Ok(Self {
            webhook_secret,
            database,
            log_level: parse_or(
                "LOG_LEVEL",
                get("LOG_LEVEL"),
                LevelFilter::INFO,
                parse_level,
            )?,
            host: get("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: parse_or("PORT", get("PORT"), 8000, |v| v.parse().ok())?,
            max_body_bytes: parse_or("MAX_BODY_BYTES", get("MAX_BODY_BYTES"), 1 << 20, positive)?,
            request_timeout: Duration::from_secs(parse_or(
                "REQUEST_TIMEOUT_SECS",
                get("REQUEST_TIMEOUT_SECS"),
                10,
                positive,
            )?),
            write_queue_capacity: parse_or(
                "WRITE_QUEUE_CAPACITY",
                get("WRITE_QUEUE_CAPACITY"),
                8192,
                positive,
            )?,
            write_batch_max: parse_or("WRITE_BATCH_MAX", get("WRITE_BATCH_MAX"), 512, positive)?,
            sqlite_synchronous: parse_or(
                "SQLITE_SYNCHRONOUS",
                get("SQLITE_SYNCHRONOUS"),
                Synchronous::Full,
                |v| match v.to_ascii_uppercase().as_str() {
                    "FULL" => Some(Synchronous::Full),
                    "NORMAL" => Some(Synchronous::Normal),
                    _ => None,
                },
            )?,
            retention: parse_or("RETENTION", get("RETENTION"), None, parse_retention)?,
            read_connections: parse_or(
                "DB_READ_CONNECTIONS",
                get("DB_READ_CONNECTIONS"),
                4,
                positive,
            )?,
            max_connections: parse_or("MAX_CONNECTIONS", get("MAX_CONNECTIONS"), 1024, positive)?,
            header_read_timeout: Duration::from_secs(parse_or(
                "HEADER_READ_TIMEOUT_SECS",
                get("HEADER_READ_TIMEOUT_SECS"),
                10,
                positive,
            )?),
            shutdown_grace: Duration::from_secs(parse_or(
                "SHUTDOWN_GRACE_SECS",
                get("SHUTDOWN_GRACE_SECS"),
                10,
                positive,
            )?),
        })
    }
}

fn parse_or<T>(
    variable: &'static str,
    raw: Option<String>,
    default: T,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ConfigError> {
    match raw {
        None => Ok(default),
        Some(raw) => parse(raw.trim()).ok_or_else(|| ConfigError::Invalid {
            variable,
            reason: format!("cannot use {raw:?}"),
        }),
    }
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(raw: &str) -> Option<T> {
    raw.parse().ok().filter(|value| *value > T::default())
}

/// A positive duration in humantime's notation (`30d`, `12h`, `15m`, `90s`, `1h 30m`).
fn parse_retention(raw: &str) -> Option<Option<Duration>> {
    let duration = humantime::parse_duration(raw).ok()?;
    (!duration.is_zero()).then_some(Some(duration))
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
    Ok(DatabaseLocation::File(PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    fn file(path: &str) -> DatabaseLocation {
        DatabaseLocation::File(PathBuf::from(path))
    }

    #[test]
    fn database_urls_map_to_the_paths_they_name() {
        let cases = [
            ("sqlite:////data/app.db", file("/data/app.db")),
            ("sqlite:///abs/path.db", file("/abs/path.db")),
            ("sqlite://relative/path.db", file("relative/path.db")),
            ("sqlite:relative.db", file("relative.db")),
            ("sqlite::memory:", DatabaseLocation::Memory),
            (
                "postgres://user@db:5432/inbox?sslmode=disable",
                DatabaseLocation::Postgres("postgres://user@db:5432/inbox?sslmode=disable".into()),
            ),
            (
                "postgresql://db/inbox",
                DatabaseLocation::Postgres("postgresql://db/inbox".into()),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_database_url(url).unwrap(), expected, "{url}");
        }
    }

    #[test]
    fn a_postgres_password_never_reaches_the_logs() {
        let location = DatabaseLocation::Postgres("postgres://inbox:s3cr@t@db:5432/inbox".into());
        let shown = format!("{location:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(
            shown.contains("postgres://inbox:***@db:5432/inbox"),
            "{shown}"
        );
        let no_password = DatabaseLocation::Postgres("postgres://inbox@db/inbox".into());
        assert!(format!("{no_password:?}").contains("postgres://inbox@db/inbox"));
    }

    #[test]
    fn unsupported_database_urls_are_rejected() {
        for url in [
            "mysql://db/inbox",
            "sqlite://",
            "sqlite:///data/",
            "sqlite://a.db?mode=ro",
        ] {
            assert!(parse_database_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn a_missing_or_empty_secret_is_refused() {
        for vars in [&[][..], &[("WEBHOOK_SECRET", "")][..]] {
            let error = config(vars).unwrap_err();
            assert_eq!(error.variable(), "WEBHOOK_SECRET");
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = config(&[("WEBHOOK_SECRET", "s")]).unwrap();
        assert_eq!(config.database, file("data/app.db"));
        assert_eq!(config.log_level, LevelFilter::INFO);
        assert_eq!((config.host.as_str(), config.port), ("0.0.0.0", 8000));
        assert_eq!(config.max_body_bytes, 1 << 20);
        assert_eq!(config.sqlite_synchronous, Synchronous::Full);
        assert_eq!(config.retention, None);
    }

    #[test]
    fn retention_is_a_positive_duration_and_empty_keeps_messages_forever() {
        let retention =
            |value| config(&[("WEBHOOK_SECRET", "s"), ("RETENTION", value)]).map(|c| c.retention);
        let hours = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(retention("30d").unwrap(), hours(30 * 24));
        assert_eq!(retention("12h").unwrap(), hours(12));
        assert_eq!(retention("15m").unwrap(), Some(Duration::from_secs(900)));
        assert_eq!(retention(" 90s ").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(retention("").unwrap(), None);
        for bad in ["0s", "0", "-1d", "30", "soon", "1x", "d"] {
            let error = retention(bad).unwrap_err();
            assert_eq!(error.variable(), "RETENTION", "{bad:?}");
        }
    }

    #[test]
    fn log_level_is_read_in_any_case_and_bad_values_are_named() {
        let config_debug = config(&[("WEBHOOK_SECRET", "s"), ("LOG_LEVEL", "debug")]).unwrap();
        assert_eq!(config_debug.log_level, LevelFilter::DEBUG);
        let error = config(&[("WEBHOOK_SECRET", "s"), ("LOG_LEVEL", "loud")]).unwrap_err();
        assert_eq!(error.variable(), "LOG_LEVEL");
    }

    #[test]
    fn the_secret_never_appears_in_debug_output() {
        let config = config(&[("WEBHOOK_SECRET", "hunter2")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
