//! Load generator for `POST /webhook`: pre-signs N messages, sends them over C
//! keep-alive connections, prints throughput and latency, then checks through
//! `/stats` that every accepted message is stored exactly once.
//!
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8000 \
//!     --messages 200000 --concurrency 64 [--duplicates 0.1] [--prefix run1] [--standard]
//!     [--rate 5000]
//! The secret comes from WEBHOOK_SECRET. `--standard` signs with Standard Webhooks
//! headers (webhook-id, webhook-timestamp, webhook-signature; needs a `whsec_` secret)
//! instead of X-Signature. `--rate n`: message `i` is sent no earlier than `i / n`
//! seconds after the start (a steady flow instead of as fast as the server answers).
//!
//! Several servers sharing one database (replicas): give `--url` once per server (or
//! comma-separated); connection `i` goes to server `i mod n`, and the exactly-once
//! check reads `/stats` of the first.

use std::collections::HashSet;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use webhook_inbox::config::Secret;
use webhook_inbox::signature::{sign, sign_standard};

mod support;
#[path = "support/traffic.rs"]
mod traffic;
use support::{connect, get, percentile_ms};

struct Options {
    urls: Vec<String>,
    messages: usize,
    concurrency: usize,
    duplicates: f64,
    prefix: String,
    senders: usize,
    /// Standard Webhooks headers instead of X-Signature.
    standard: bool,
    rate: Option<f64>,
}

struct Signed {
    message_id: String,
    /// The whole request, head and body, as it goes on the wire.
    request: Vec<u8>,
}

#[derive(Default)]
struct WorkerReport {
    latencies_us: Vec<u32>,
    non_200: usize,
    accepted_ids: Vec<usize>,
    errors: usize,
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("loadgen: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(run(options))
}

async fn run(options: Options) -> ExitCode {
    let secret = match std::env::var("WEBHOOK_SECRET") {
        Ok(secret) if !secret.is_empty() => Secret::new(secret),
        _ => {
            eprintln!("loadgen: WEBHOOK_SECRET is required");
            return ExitCode::from(2);
        }
    };
    if options.standard && sign_standard(&secret, "id", 0, b"").is_none() {
        eprintln!("loadgen: --standard needs a whsec_ WEBHOOK_SECRET");
        return ExitCode::from(2);
    }
    let authorities: Vec<String> = options
        .urls
        .iter()
        .map(|url| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        })
        .collect();
    // The exactly-once check asks one server: they all read the same database.
    let authority = authorities[0].clone();
    let requests = Arc::new(build_requests(&options, &secret, &authority));
    let unique = requests
        .iter()
        .map(|request| request.message_id.as_str())
        .collect::<HashSet<_>>()
        .len();
    let before = stored_total(&authority).await.unwrap_or(0);

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency)
        .map(|index| {
            let target = authorities[index % authorities.len()].clone();
            let pace = options.rate.map(|rate| (started, rate));
            tokio::spawn(worker(target, requests.clone(), next.clone(), pace))
        })
        .collect();
    let mut report = WorkerReport::default();
    for worker in workers {
        let part = worker.await.expect("worker");
        report.latencies_us.extend(part.latencies_us);
        report.non_200 += part.non_200;
        report.errors += part.errors;
        report.accepted_ids.extend(part.accepted_ids);
    }
    let elapsed = started.elapsed();

    let accepted_unique = report
        .accepted_ids
        .iter()
        .map(|&index| requests[index].message_id.as_str())
        .collect::<HashSet<_>>()
        .len();
    let after = stored_total(&authority).await.unwrap_or(0);
    report.latencies_us.sort_unstable();
    let percentile = |p: f64| percentile_ms(&report.latencies_us, p);
    let sent = report.latencies_us.len();
    let servers = match authorities.len() {
        1 => String::new(),
        n => format!(" over {n} servers"),
    };
    println!(
        "messages: {} ({} unique, {:.0}% duplicates), concurrency: {}{servers}, signed: {}",
        options.messages,
        unique,
        options.duplicates * 100.0,
        options.concurrency,
        if options.standard {
            "Standard Webhooks"
        } else {
            "X-Signature"
        }
    );
    println!(
        "throughput: {:.0} requests/s ({sent} answered in {:.2} s)",
        sent as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(1.0)
    );
    println!(
        "non-200 answers: {}  transport errors: {}",
        report.non_200, report.errors
    );
    let stored = after.saturating_sub(before);
    let exact = stored == accepted_unique as u64;
    println!(
        "stored: {stored} new rows for {accepted_unique} accepted unique ids: {}",
        if exact { "exactly once" } else { "MISMATCH" }
    );
    if exact && report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every request, signed and encoded in advance so that neither costs anything during
/// the run. Every request names the first server as its host.
/// With `--duplicates d`, a fraction `d` of the requests repeat an earlier id.
fn build_requests(options: &Options, secret: &Secret, host: &str) -> Vec<Signed> {
    let mut unique_so_far = 0usize;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    (0..options.messages)
        .map(|index| {
            let duplicate_every = if options.duplicates > 0.0 {
                (1.0 / options.duplicates).round() as usize
            } else {
                0
            };
            let is_duplicate = duplicate_every > 0
                && index % duplicate_every == duplicate_every - 1
                && unique_so_far > 0;
            let id_number = if is_duplicate {
                // Spread duplicates over recent ids, as a retrying sender would.
                unique_so_far - 1 - (index / duplicate_every) % unique_so_far.min(1000)
            } else {
                unique_so_far += 1;
                unique_so_far - 1
            };
            let message = traffic::fields(&options.prefix, id_number, options.senders);
            let body = format!(
                r#"{{"message_id":"{}","from":"{}","to":"{}","ts":"{}","text":"{}"}}"#,
                message.message_id,
                message.from,
                traffic::TO,
                message.ts,
                message.text,
            );
            let signature = if options.standard {
                // A sender's own delivery id: one per delivery, retries included.
                let id = format!("msg_{}_{index}", options.prefix);
                let signature =
                    sign_standard(secret, &id, now, body.as_bytes()).expect("a whsec_ secret");
                format!(
                    "webhook-id: {id}\r\nwebhook-timestamp: {now}\r\n\
                     webhook-signature: {signature}"
                )
            } else {
                format!("x-signature: {}", sign(secret, body.as_bytes()))
            };
            let mut request = format!(
                "POST /webhook HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
                 {signature}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(body.as_bytes());
            Signed {
                message_id: message.message_id,
                request,
            }
        })
        .collect()
}

/// One keep-alive connection, sending requests until none are left.
async fn worker(
    authority: String,
    requests: Arc<Vec<Signed>>,
    next: Arc<AtomicUsize>,
    pace: Option<(Instant, f64)>,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut connection = None;
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(signed) = requests.get(index) else {
            break;
        };
        if let Some((start, rate)) = pace {
            let at = start + Duration::from_secs_f64(index as f64 / rate);
            tokio::time::sleep_until(at.into()).await;
        }
        if connection.is_none() {
            connection = RawConnection::open(&authority).await.ok();
        }
        let Some(open) = connection.as_mut() else {
            report.errors += 1;
            continue;
        };
        let started = Instant::now();
        match open.exchange(&signed.request).await {
            Ok(answer) => {
                if answer.status == 200 {
                    report.accepted_ids.push(index);
                } else {
                    report.non_200 += 1;
                }
                if answer.closes {
                    connection = None;
                }
            }
            Err(_) => {
                report.errors += 1;
                connection = None;
                continue;
            }
        }
        let took = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        report.latencies_us.push(took);
    }
    report
}

/// A keep-alive HTTP/1.1 connection that writes pre-encoded requests and reads each
/// answer whole (head parsed by `httparse`, body by its `Content-Length`), one request
/// at a time. It shares the machine with the server, so it does as little as it can:
/// no per-request building of headers, no task per connection.
struct RawConnection {
    stream: TcpStream,
    received: Vec<u8>,
}

/// What the load generator needs of an answer.
struct Answer {
    status: u16,
    /// The server closes the connection after this answer.
    closes: bool,
}

impl RawConnection {
    async fn open(authority: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            received: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its whole answer.
    async fn exchange(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.stream.write_all(request).await?;
        self.received.clear();
        let (head_length, body_length, answer) = loop {
            if let Some(head) = parse_head(&self.received)? {
                break head;
            }
            self.read_more().await?;
        };
        while self.received.len() < head_length + body_length {
            self.read_more().await?;
        }
        if self.received.len() > head_length + body_length {
            return Err(malformed("bytes after the answer to the only request sent"));
        }
        Ok(answer)
    }

    async fn read_more(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.received).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// The answer's head, once all of it is in `received`: its length, the body's length
/// and what the load generator needs of it.
fn parse_head(received: &[u8]) -> io::Result<Option<(usize, usize, Answer)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_length = match response.parse(received) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(malformed(&error.to_string())),
    };
    let mut body_length = None;
    let mut closes = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|value| value.trim().parse().ok());
            body_length = Some(length.ok_or_else(|| malformed("bad Content-Length"))?);
        } else if header.name.eq_ignore_ascii_case("connection") {
            closes = header.value.eq_ignore_ascii_case(b"close");
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(malformed(
                "a chunked answer (every answer here has a length)",
            ));
        }
    }
    let answer = Answer {
        status: response.code.unwrap_or_default(),
        closes,
    };
    Ok(Some((
        head_length,
        body_length.ok_or_else(|| malformed("no Content-Length"))?,
        answer,
    )))
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// `total_messages` from `/stats`.
async fn stored_total(authority: &str) -> Option<u64> {
    let mut connection = connect(authority).await?;
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        get(&mut connection, authority, "/stats"),
    );
    let (_, body) = answer.await.ok()?.ok()?;
    let stats: serde_json::Value = serde_json::from_slice(&body).ok()?;
    stats["total_messages"].as_u64()
}

fn parse_options() -> Result<Options, String> {
    let mut urls = Vec::new();
    let mut options = Options {
        urls: Vec::new(),
        messages: 200_000,
        concurrency: 64,
        duplicates: 0.0,
        prefix: format!("load{}", std::process::id()),
        senders: 1000,
        standard: false,
        rate: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => urls.extend(
                value()?
                    .split(',')
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned),
            ),
            "--messages" => {
                options.messages = value()?.parse().map_err(|e| format!("--messages: {e}"))?
            }
            "--concurrency" => {
                options.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--duplicates" => {
                options.duplicates = value()?.parse().map_err(|e| format!("--duplicates: {e}"))?
            }
            "--prefix" => options.prefix = value()?,
            "--standard" => options.standard = true,
            "--rate" => {
                let rate: f64 = value()?.parse().map_err(|e| format!("--rate: {e}"))?;
                options.rate = Some(rate).filter(|rate| *rate > 0.0);
            }
            "--senders" => {
                options.senders = value()?.parse().map_err(|e| format!("--senders: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !(0.0..1.0).contains(&options.duplicates) || options.concurrency == 0 {
        return Err("--duplicates must be in [0, 1) and --concurrency positive".to_owned());
    }
    if urls.is_empty() {
        urls.push("http://127.0.0.1:8000".to_owned());
    }
    if urls.len() > options.concurrency {
        return Err("--concurrency must be at least the number of --url servers".to_owned());
    }
    options.urls = urls;
    Ok(options)
}
