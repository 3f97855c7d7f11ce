//! What hostile clients cost the server: many connections each sending a large
//! unsigned body, or many connections that send nothing at all. While the attack runs,
//! a probe asks `/health/live` and posts signed webhooks, each on a new connection as a
//! Kubernetes probe or a sender would; the server's resident memory is sampled from
//! `/proc/<pid>/status`.
//!
//! cargo run --release --example attack -- --url http://127.0.0.1:8000 --pid PID \
//!     [--connections 1000] [--body-bytes 1048575] [--rounds 3] [--idle 0]
//! With `--idle N`, N connections are opened and left silent instead of sending bodies.
//! The secret for the signed webhooks comes from WEBHOOK_SECRET.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use webhook_inbox::config::Secret;
use webhook_inbox::signature::sign;

#[allow(dead_code)] // The shared pieces; this program needs only `percentile_ms`.
mod support;
use support::percentile_ms;

/// How long one attacking or probing exchange may take before it counts as failed.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

struct Options {
    authority: String,
    pid: u32,
    connections: usize,
    body_bytes: usize,
    rounds: usize,
    idle: usize,
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("attack: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(run(options))
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        authority: String::new(),
        pid: 0,
        connections: 1000,
        body_bytes: (1 << 20) - 1,
        rounds: 3,
        idle: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("bad {flag}"));
        match flag.as_str() {
            "--url" => options.authority = value.trim_start_matches("http://").to_owned(),
            "--pid" => options.pid = value.parse().map_err(|_| "bad --pid")?,
            "--connections" => options.connections = number()?,
            "--body-bytes" => options.body_bytes = number()?,
            "--rounds" => options.rounds = number()?,
            "--idle" => options.idle = number()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.authority.is_empty() || options.pid == 0 {
        return Err("--url and --pid are required".into());
    }
    Ok(options)
}

async fn run(options: Options) -> ExitCode {
    let options = Arc::new(options);
    let baseline = rss_kib(options.pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_rss(options.pid, peak.clone(), stop.clone()));
    let health = tokio::spawn(probe(options.clone(), stop.clone(), false));
    let webhooks = tokio::spawn(probe(options.clone(), stop.clone(), true));

    let started = Instant::now();
    let (label, statuses) = if options.idle > 0 {
        ("idle connections", hold_idle(&options).await)
    } else {
        ("unsigned bodies", send_bodies(&options).await)
    };
    let attack_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (health, webhooks) = (health.await.unwrap(), webhooks.await.unwrap());
    sampler.await.unwrap();
    let after = settle_rss(options.pid).await;

    if options.idle > 0 {
        println!("{label}: {}, {attack_secs:.1} s", options.idle);
    } else {
        println!(
            "{label}: {} connections x {} rounds, {} bytes each, {attack_secs:.1} s",
            options.connections, options.rounds, options.body_bytes
        );
    }
    println!("  answers to the attack: {}", summarize(statuses));
    println!(
        "  RSS: baseline {:.1} MiB, peak {:.1} MiB, 5 s after {:.1} MiB",
        mib(baseline),
        mib(peak.load(Ordering::Relaxed)),
        mib(after)
    );
    let healthy = report("/health/live", health);
    let delivered = report("signed webhooks", webhooks);
    if healthy && delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `rounds` waves of `connections` connections, each posting an unsigned body.
async fn send_bodies(options: &Arc<Options>) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..options.rounds {
        let wave: Vec<_> = (0..options.connections)
            .map(|_| {
                let options = options.clone();
                tokio::spawn(async move {
                    let head = format!(
                        "POST /webhook HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        options.authority, options.body_bytes
                    );
                    let body = vec![b' '; options.body_bytes];
                    exchange(&options.authority, head.as_bytes(), &body).await
                })
            })
            .collect();
        for task in wave {
            statuses.push(task.await.unwrap_or(0));
        }
    }
    statuses
}

/// Opens `idle` connections that send nothing, holds them while the probes run for
/// five seconds, then closes them.
async fn hold_idle(options: &Arc<Options>) -> Vec<u16> {
    let mut sockets = Vec::with_capacity(options.idle);
    for _ in 0..options.idle {
        match TcpStream::connect(&options.authority).await {
            Ok(socket) => sockets.push(socket),
            Err(error) => {
                eprintln!("attack: could not open an idle connection: {error}");
                break;
            }
        }
    }
    println!("  {} idle connections open", sockets.len());
    tokio::time::sleep(Duration::from_secs(5)).await;
    Vec::new()
}

/// Sends `head` and `body` on a new connection and reads the status of the answer;
/// 0 when the exchange failed. A server may answer before the body is all sent.
async fn exchange(authority: &str, head: &[u8], body: &[u8]) -> u16 {
    let attempt = async {
        let mut stream = TcpStream::connect(authority).await.ok()?;
        stream.write_all(head).await.ok()?;
        for chunk in body.chunks(64 * 1024) {
            if stream.write_all(chunk).await.is_err() {
                break;
            }
        }
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await.ok()?;
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
        }
        std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Until `stop`, every 20 ms: `GET /health/live`, or a signed webhook, each on a new
/// connection. Returns (status, latency in µs) of each.
async fn probe(options: Arc<Options>, stop: Arc<AtomicBool>, signed: bool) -> Vec<(u16, u32)> {
    let secret = Secret::new(std::env::var("WEBHOOK_SECRET").unwrap_or_default());
    let mut results = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let (head, body) = if signed {
            let body = format!(
                r#"{{"message_id":"attack-probe-{}-{}","from":"+15550001","to":"+15550002","ts":"2025-01-15T10:00:00Z","text":"probe"}}"#,
                std::process::id(),
                results.len()
            );
            let head = format!(
                "POST /webhook HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nX-Signature: {}\r\nConnection: close\r\n\r\n",
                options.authority,
                body.len(),
                sign(&secret, body.as_bytes())
            );
            (head, body)
        } else {
            let head = format!(
                "GET /health/live HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                options.authority
            );
            (head, String::new())
        };
        let started = Instant::now();
        let status = exchange(&options.authority, head.as_bytes(), body.as_bytes()).await;
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        results.push((status, micros));
    }
    results
}

fn report(what: &str, results: Vec<(u16, u32)>) -> bool {
    let mut latencies: Vec<u32> = results.iter().map(|(_, micros)| *micros).collect();
    latencies.sort_unstable();
    let failed = results.iter().filter(|(status, _)| *status != 200).count();
    println!(
        "  {what} during the attack: {} sent, {failed} not 200, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        results.len(),
        percentile_ms(&latencies, 0.5),
        percentile_ms(&latencies, 0.99),
        percentile_ms(&latencies, 1.0),
    );
    failed == 0
}

fn summarize(mut statuses: Vec<u16>) -> String {
    if statuses.is_empty() {
        return "none".into();
    }
    statuses.sort_unstable();
    let mut parts = Vec::new();
    for chunk in statuses.chunk_by(|a, b| a == b) {
        let name = match chunk[0] {
            0 => "no answer".to_owned(),
            status => status.to_string(),
        };
        parts.push(format!("{name}: {}", chunk.len()));
    }
    parts.join(", ")
}

async fn sample_rss(pid: u32, peak: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The kernel's own high-water mark catches a peak between two samples.
    peak.fetch_max(status_kib(pid, "VmHWM:"), Ordering::Relaxed);
}

/// The resident memory five seconds after the attack, once freed memory went back.
async fn settle_rss(pid: u32) -> u64 {
    tokio::time::sleep(Duration::from_secs(5)).await;
    rss_kib(pid)
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
