//! The command line: `--help`, `--version`, bad arguments, `serve`, `healthcheck`,
//! `sign`, and configuration errors as one JSON line.

use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::helpers::{binary, json_ok, message, parse_log_line, TestApp};

const WHSEC: &str = "whsec_Y29tbWFuZC1saW5lLWtleQ==";

/// Runs the binary with `args`, exactly `env` and `stdin`, to its end.
async fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start webhook-inbox");
    let mut input = child.stdin.take().unwrap();
    // A command that fails before reading its input closes the pipe: not our concern.
    let _ = input.write_all(stdin).await;
    drop(input);
    child.wait_with_output().await.expect("run webhook-inbox")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The `Name: value` lines of `sign`.
fn header_lines(output: &Output) -> Vec<(String, String)> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("Name: value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn help_lists_the_commands_and_every_variable_with_its_default() {
    for flag in ["--help", "-h"] {
        let output = run(&[flag], &[], b"").await;
        assert_eq!(output.status.code(), Some(0));
        assert!(output.stderr.is_empty());
        let help = text(&output.stdout);
        for expected in [
            "serve",
            "healthcheck",
            "sign",
            "[env: WEBHOOK_SECRET]",
            "[env: WEBHOOK_PREVIOUS_SECRETS]",
            "[env: WEBHOOK_TOLERANCE_SECS] [default: 300]",
            "[env: API_TOKENS]",
            "[env: DATABASE_URL] [default: sqlite://data/app.db]",
            "[env: PORT] [default: 8000]",
            "[env: MAX_BODY_BYTES] [default: 65536]",
            "[env: BODY_BUDGET_BYTES] [default: 67108864]",
            "[env: MAX_CONNECTIONS] [default: 10000]",
        ] {
            assert!(help.contains(expected), "{expected} missing from:\n{help}");
        }
    }
    // Values from the environment, secrets above all, are never shown.
    let output = run(&["--help"], &[("WEBHOOK_SECRET", "hunter2-secret")], b"").await;
    assert!(!text(&output.stdout).contains("hunter2"));
}

#[tokio::test]
async fn version_prints_the_name_and_version() {
    let output = run(&["--version"], &[], b"").await;
    assert_eq!(output.status.code(), Some(0));
    let expected = format!("webhook-inbox {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(text(&output.stdout), expected);
}

#[tokio::test]
async fn an_unknown_argument_prints_usage_on_stderr_and_exits_2() {
    for args in [
        &["--bogus"][..],
        &["frobnicate"],
        &["sign", "--nope"],
        &["serve", "extra"],
    ] {
        let output = run(args, &[("WEBHOOK_SECRET", "s")], b"").await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(text(&output.stderr).contains("Usage"), "{args:?}");
    }
}

#[tokio::test]
async fn serve_reads_its_configuration_like_no_command_at_all() {
    for args in [&[][..], &["serve"]] {
        let output = run(args, &[("WEBHOOK_SECRET", "   ")], b"").await;
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let lines: Vec<_> = text(&output.stdout).lines().map(parse_log_line).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["variable"], "WEBHOOK_SECRET");
        assert!(output.stderr.is_empty());
    }
}

#[tokio::test]
async fn every_numeric_setting_out_of_range_stops_startup_with_one_json_line_naming_it() {
    let numeric = [
        "WEBHOOK_TOLERANCE_SECS",
        "PORT",
        "MAX_BODY_BYTES",
        "BODY_BUDGET_BYTES",
        "REQUEST_TIMEOUT_SECS",
        "WRITE_QUEUE_CAPACITY",
        "WRITE_BATCH_MAX",
        "DB_READ_CONNECTIONS",
        "MAX_CONNECTIONS",
        "HEADER_READ_TIMEOUT_SECS",
        "SHUTDOWN_GRACE_SECS",
    ];
    let mut cases: Vec<(&str, &str)> = numeric
        .iter()
        .map(|variable| (*variable, "18446744073709551615"))
        .collect();
    cases.extend([
        ("MAX_CONNECTIONS", "0"),
        ("WRITE_QUEUE_CAPACITY", "-1"),
        ("HEADER_READ_TIMEOUT_SECS", "soon"),
    ]);
    for (variable, value) in cases {
        let env = [
            ("WEBHOOK_SECRET", "s"),
            ("DATABASE_URL", "sqlite::memory:"),
            (variable, value),
        ];
        let output = run(&[], &env, b"").await;
        assert_eq!(output.status.code(), Some(1), "{variable}={value}");
        let lines: Vec<_> = text(&output.stdout).lines().map(parse_log_line).collect();
        assert_eq!(lines.len(), 1, "{variable}={value}: {lines:?}");
        assert_eq!(lines[0]["variable"], variable);
        assert!(output.stderr.is_empty(), "{variable}={value}");
    }
}

#[tokio::test]
async fn healthcheck_exits_0_while_the_service_on_port_answers_and_1_once_it_stopped() {
    let app = TestApp::spawn().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let ready = run(&["healthcheck"], &[("PORT", &port)], b"").await;
    assert_eq!(ready.status.code(), Some(0));
    assert!(app.stop().await.success());
    let gone = run(&["healthcheck"], &[("PORT", &port)], b"").await;
    assert_eq!(gone.status.code(), Some(1));
}

#[tokio::test]
async fn sign_prints_headers_the_service_accepts_for_both_schemes() {
    let app = TestApp::spawn_with(&[("WEBHOOK_SECRET", WHSEC)]).await;
    let dir = tempfile::tempdir().unwrap();
    for (id, standard) in [("m1", false), ("m2", true)] {
        let body = serde_json::to_vec(&message(id)).unwrap();
        let path = dir.path().join(format!("{id}.json"));
        std::fs::write(&path, &body).unwrap();
        let mut args = vec!["sign"];
        if standard {
            args.push("--standard");
        }
        let from_file = {
            let mut args = args.clone();
            args.push(path.to_str().unwrap());
            run(&args, &[("WEBHOOK_SECRET", WHSEC)], b"").await
        };
        let from_stdin = run(&args, &[("WEBHOOK_SECRET", WHSEC)], &body).await;
        let headers = header_lines(&from_file);
        let names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
        if standard {
            assert_eq!(
                names,
                ["webhook-id", "webhook-timestamp", "webhook-signature"]
            );
            assert_eq!(header_lines(&from_stdin).len(), 3);
        } else {
            assert_eq!(names, ["X-Signature"]);
            assert_eq!(header_lines(&from_stdin), headers);
        }
        let mut request = app
            .client
            .post(format!("{}/webhook", app.address))
            .body(body);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        json_ok(request.send().await.unwrap()).await;
    }
    assert_eq!(app.messages("").await["total"], 2);
}

#[tokio::test]
async fn sign_standard_needs_a_whsec_secret_and_says_so() {
    let plain = run(
        &["sign", "--standard"],
        &[("WEBHOOK_SECRET", "plain")],
        b"{}",
    )
    .await;
    assert_eq!(plain.status.code(), Some(1));
    assert!(plain.stdout.is_empty());
    assert!(
        text(&plain.stderr).contains("whsec_"),
        "{}",
        text(&plain.stderr)
    );

    let missing = run(&["sign"], &[], b"{}").await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("WEBHOOK_SECRET"));
    let signed = run(
        &["sign"],
        &[("WEBHOOK_SECRET", "testsecret")],
        br#"{"a":1}"#,
    )
    .await;
    // printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac testsecret
    let expected = [(
        "X-Signature".to_owned(),
        "0f4a604a9e9ad182034b3224fb61724a9ef127c2d5de3554995cc31f9cc3c499".to_owned(),
    )];
    assert_eq!(header_lines(&signed), expected);
    // A setting's flag goes before the command or after it.
    for args in [
        ["--webhook-secret", "testsecret", "sign"],
        ["sign", "--webhook-secret", "testsecret"],
    ] {
        let signed = run(&args, &[], br#"{"a":1}"#).await;
        assert_eq!(header_lines(&signed), expected, "{args:?}");
    }
}
