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
        let shown = expected.to_string();
        assert_eq!(parse_database_url(&shown).unwrap(), expected, "{shown}");
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
    assert_eq!(location.to_string(), "postgres://inbox:***@db:5432/inbox");
    assert_eq!(file("/data/app.db").to_string(), "sqlite:///data/app.db");
    for (url, shown) in [
        (
            "postgres://inbox@db/inbox?sslmode=require&password=s3cr&application_name=x",
            "postgres://inbox@db/inbox?sslmode=require&password=***&application_name=x",
        ),
        (
            "postgres:///inbox?host=db&user=inbox&password=s3cr",
            "postgres:///inbox?host=db&user=inbox&password=***",
        ),
        (
            "postgres://inbox:s3cr@db?password=s3cr",
            "postgres://inbox:***@db?password=***",
        ),
        (
            "postgres://inbox@db/inbox?pass%77ord=s3cr&Password=s3cr&sslpassword=s3cr",
            "postgres://inbox@db/inbox?pass%77ord=***&Password=***&sslpassword=***",
        ),
    ] {
        assert_eq!(DatabaseLocation::Postgres(url.into()).to_string(), shown);
    }
}

#[test]
fn unsupported_database_urls_are_rejected() {
    for url in [
        "mysql://db/inbox",
        "sqlite://",
        "sqlite:///data/",
        "sqlite://a.db?mode=ro",
        "sqlite:file:app.db",
        "sqlite://file:app.db",
        "postgres://inbox@db/inbox?sslpassword=s3cr",
        "postgres://inbox@db/inbox?sslmode=require&pasword=s3cr",
    ] {
        assert!(parse_database_url(url).is_err(), "{url}");
    }
}

#[test]
fn a_missing_empty_or_blank_secret_is_refused() {
    for vars in [
        &[][..],
        &[("WEBHOOK_SECRET", "")][..],
        &[("WEBHOOK_SECRET", "   ")][..],
        &[("WEBHOOK_SECRET", " \t\n")][..],
    ] {
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
    assert_eq!(config.max_body_bytes, 65536);
    assert_eq!(config.body_budget_bytes, 64 << 20);
    assert_eq!(config.webhook_tolerance, Duration::from_secs(300));
    assert!(config.previous_secrets.is_empty() && config.api_tokens.is_empty());
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
    for bad in ["0s", "-1d", "soon", "30", "1x", "18446744073709551615d"] {
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

/// Every numeric setting, a value it accepts, and whether 0 is one of its values.
const NUMERIC: [(&str, &str, bool); 11] = [
    ("WEBHOOK_TOLERANCE_SECS", "300", false),
    ("PORT", "8000", true),
    ("MAX_BODY_BYTES", "65536", false),
    ("BODY_BUDGET_BYTES", "67108864", false),
    ("REQUEST_TIMEOUT_SECS", "10", false),
    ("WRITE_QUEUE_CAPACITY", "8192", false),
    ("WRITE_BATCH_MAX", "512", false),
    ("DB_READ_CONNECTIONS", "4", false),
    ("MAX_CONNECTIONS", "1024", false),
    ("HEADER_READ_TIMEOUT_SECS", "10", false),
    ("SHUTDOWN_GRACE_SECS", "10", false),
];

#[test]
fn every_numeric_setting_refuses_huge_negative_and_non_numeric_values_naming_itself() {
    for (variable, good, zero_allowed) in NUMERIC {
        assert!(
            config(&[("WEBHOOK_SECRET", "s"), (variable, good)]).is_ok(),
            "{variable}={good}"
        );
        let mut bad = vec![
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "-18446744073709551615",
            "ten",
            "1.5",
            "1e3",
            "0x10",
        ];
        if !zero_allowed {
            bad.push("0");
        }
        for value in bad {
            let error = config(&[("WEBHOOK_SECRET", "s"), (variable, value)])
                .expect_err(&format!("{variable}={value} is refused"));
            assert_eq!(error.variable(), variable, "{variable}={value}");
            if value.len() > 6 {
                assert!(!error.to_string().contains(value), "{error}");
            }
        }
    }
}

#[test]
fn each_bound_is_inclusive_and_one_past_it_is_refused() {
    let cases = [
        ("WEBHOOK_TOLERANCE_SECS", "86400", "86401"),
        ("REQUEST_TIMEOUT_SECS", "86400", "86401"),
        ("HEADER_READ_TIMEOUT_SECS", "86400", "86401"),
        ("SHUTDOWN_GRACE_SECS", "86400", "86401"),
        ("WRITE_QUEUE_CAPACITY", "1000000", "1000001"),
        ("MAX_CONNECTIONS", "1000000", "1000001"),
        ("WRITE_BATCH_MAX", "4096", "4097"),
        ("DB_READ_CONNECTIONS", "1000", "1001"),
        ("PORT", "65535", "65536"),
        ("BODY_BUDGET_BYTES", "17179869184", "17179869185"),
    ];
    for (variable, largest, past) in cases {
        assert!(config(&[("WEBHOOK_SECRET", "s"), (variable, largest)]).is_ok());
        let error = config(&[("WEBHOOK_SECRET", "s"), (variable, past)]).unwrap_err();
        assert_eq!(error.variable(), variable);
    }
    let largest_body = [
        ("WEBHOOK_SECRET", "s"),
        ("MAX_BODY_BYTES", "67108864"),
        ("BODY_BUDGET_BYTES", "67108864"),
    ];
    assert!(config(&largest_body).is_ok());
    let error = config(&[("WEBHOOK_SECRET", "s"), ("MAX_BODY_BYTES", "67108865")]).unwrap_err();
    assert_eq!(error.variable(), "MAX_BODY_BYTES");
}

#[test]
fn the_body_budget_must_hold_at_least_one_largest_body() {
    let budget = |max, budget| {
        config(&[
            ("WEBHOOK_SECRET", "s"),
            ("MAX_BODY_BYTES", max),
            ("BODY_BUDGET_BYTES", budget),
        ])
    };
    assert_eq!(budget("1000", "1000").unwrap().body_budget_bytes, 1000);
    assert_eq!(
        budget("1000", "999").unwrap_err().variable(),
        "BODY_BUDGET_BYTES"
    );
    let error = config(&[("WEBHOOK_SECRET", "s"), ("BODY_BUDGET_BYTES", "65535")]).unwrap_err();
    assert_eq!(error.variable(), "BODY_BUDGET_BYTES");
}

#[test]
fn blank_values_take_the_default() {
    let config = config(&[
        ("WEBHOOK_SECRET", "s"),
        ("PORT", " "),
        ("MAX_BODY_BYTES", ""),
        ("API_TOKENS", "  "),
    ])
    .unwrap();
    assert_eq!(config.port, 8000);
    assert_eq!(config.max_body_bytes, 65536);
    assert!(config.api_tokens.is_empty());
}

#[test]
fn previous_secrets_and_tokens_are_whitespace_separated_and_never_shown() {
    let config = config(&[
        ("WEBHOOK_SECRET", "current"),
        ("WEBHOOK_PREVIOUS_SECRETS", " old-one\n old-two "),
        ("API_TOKENS", "token-a token-b"),
    ])
    .unwrap();
    let previous: Vec<&[u8]> = config.previous_secrets.iter().map(Secret::expose).collect();
    assert_eq!(previous, [&b"old-one"[..], b"old-two"]);
    assert_eq!(config.api_tokens.len(), 2);
    let shown = format!("{config:?}");
    for secret in ["current", "old-one", "old-two", "token-a", "token-b"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn a_whsec_secret_that_does_not_decode_is_named_without_its_value() {
    for (variable, value) in [
        ("WEBHOOK_SECRET", "whsec_not*base64"),
        ("WEBHOOK_SECRET", "whsec_"),
        ("WEBHOOK_PREVIOUS_SECRETS", "plain whsec_%%%%"),
    ] {
        let mut vars = vec![("WEBHOOK_SECRET", "plain")];
        vars.retain(|(name, _)| *name != variable);
        vars.push((variable, value));
        let error = config(&vars).unwrap_err();
        assert_eq!(error.variable(), variable, "{value}");
        let key = value.rsplit("whsec_").next().unwrap_or_default();
        assert!(
            key.is_empty() || !error.to_string().contains(key),
            "{error}"
        );
    }
    for good in ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2VjcmV0"] {
        assert!(config(&[("WEBHOOK_SECRET", good)]).is_ok(), "{good}");
    }
}

/// Every setting's variable is in the README's configuration table and in `.env.example`,
/// and the Compose services pass it on (but those the image fixes), so none falls behind
/// when a setting is added.
#[test]
fn the_readme_and_the_env_example_name_every_setting() {
    let command = <Settings as clap::Args>::augment_args(clap::Command::new("webhook-inbox"));
    let variables: Vec<String> = command
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|variable| variable.to_string_lossy().into_owned())
        .collect();
    assert!(variables.len() > 10, "{variables:?}");
    let readme = include_str!("../../README.md");
    let example = include_str!("../../.env.example");
    let compose = include_str!("../../docker-compose.yml");
    let compose_postgres = include_str!("../../docker-compose.postgres.yml");
    for variable in &variables {
        assert!(
            readme
                .lines()
                .any(|row| row.starts_with("| `") && row.contains(&format!("`{variable}`"))),
            "{variable} is not in the README's configuration table"
        );
        assert!(
            example.contains(&format!("\n{variable}=")),
            "{variable} is not in .env.example"
        );
        if ["HOST", "PORT", "DATABASE_URL"].contains(&variable.as_str()) {
            continue;
        }
        let passed = format!("{variable}: ${{{variable}");
        assert!(
            compose.contains(&passed),
            "docker-compose.yml drops {variable}"
        );
        assert!(
            variable == "SQLITE_SYNCHRONOUS" || compose_postgres.contains(&passed),
            "docker-compose.postgres.yml drops {variable}"
        );
    }
}
