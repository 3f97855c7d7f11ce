//! Crash test (`make test-crash`): the release server, under concurrent write load, is
//! killed with SIGKILL at random moments, again and again on the same database. After
//! every restart each acknowledged message is there exactly once, a SQLite database
//! passes `PRAGMA integrity_check`, and `/stats` and `/messages` agree with a full count.
//!
//! With `TEST_POSTGRES_URL` (`make test-crash-postgres`) the database is a fresh one on
//! that PostgreSQL server: the server process dies mid-transaction, PostgreSQL does not,
//! and every 200 must still be a committed row, counted in the aggregates.
//!
//! A second run does the same with `RETENTION=1s`, so that the kills land while the
//! sweep deletes expired messages: after each one the database passes its integrity
//! checks (the trigram index's too, on SQLite) and the aggregates equal a full scan.
//!
//! `CRASH_SEED=n` replays the kill moments of an earlier run.

#[allow(dead_code)]
#[path = "api/helpers/mod.rs"]
mod helpers;

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use helpers::{json_ok, sign, TestApp, TestConnection, TestDatabase};

const KILLS: usize = 20;
const WRITERS: usize = 32;
/// Requests one writer sends in a round at most; the kill comes long before.
const MAX_PER_WRITER: usize = 3000;
const SENDERS: usize = 23;

/// One message of the load: unique id, one of `SENDERS` senders, a unique instant.
fn load_message(round: usize, writer: usize, seq: usize) -> Value {
    let tenths = round * 100_000 + seq * WRITERS + writer;
    let (seconds, tenth) = (tenths / 10, tenths % 10);
    let (day, rest) = (1 + seconds / 86_400, seconds % 86_400);
    let fraction = match tenth {
        0 => String::new(),
        odd if odd % 2 == 1 => format!(".{odd}"),
        even => format!(".{even}00"),
    };
    json!({
        "message_id": format!("r{round}-w{writer}-{seq}"),
        "from": format!("+1555{:04}", (writer * 7 + seq) % SENDERS),
        "to": "+14155550100",
        "ts": format!(
            "2025-01-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        ),
        "text": format!("load w{writer} s{seq} crash-round-{round}"),
    })
}

/// Posts unique messages over one keep-alive connection until told to stop or the
/// server is gone; returns the ids that were answered 200.
async fn write_load(
    address: String,
    round: usize,
    writer: usize,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let mut acknowledged = Vec::new();
    for seq in 0..MAX_PER_WRITER {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let message = load_message(round, writer, seq);
        let body = serde_json::to_vec(&message).expect("serialize");
        let sent = client
            .post(format!("{address}/webhook"))
            .header("content-type", "application/json")
            .header("x-signature", sign(&body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 200 => {
                acknowledged.push(message["message_id"].as_str().expect("id").to_owned());
            }
            // A 503 promises nothing; the sender would retry later.
            Ok(_) => {}
            // The server is gone.
            Err(_) => break,
        }
    }
    acknowledged
}

/// The order of instants: the contract's timestamps with the fraction padded to nine digits.
fn instant_key(ts: &str) -> String {
    let body = ts.strip_suffix('Z').expect("a Z timestamp");
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    format!("{whole}.{fraction:0<9}")
}

struct Checked {
    rows: usize,
    found: usize,
}

/// Everything that must hold after a restart, given every id acknowledged so far.
/// With `expiring`, acknowledged messages may have expired, so none is looked for.
async fn check_after_restart(
    app: &TestApp,
    acknowledged: &[String],
    round: usize,
    expiring: bool,
) -> Checked {
    let mut database = app.open_database().await;
    if let TestConnection::Sqlite(connection) = &mut database {
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut *connection)
            .await
            .expect("integrity_check");
        assert_eq!(integrity, ["ok"], "after kill {round}");
        // The trigram index holds exactly the folded text of every row.
        sqlx::query(
            "INSERT INTO messages_text (messages_text, rank) VALUES ('integrity-check', 1)",
        )
        .execute(&mut *connection)
        .await
        .unwrap_or_else(|error| panic!("trigram index after kill {round}: {error}"));
        // The rows per block of seqs, which remembered search totals rely on.
        let kept: Vec<(i64, i64)> = sqlx::query_as("SELECT block, rows FROM seq_blocks ORDER BY 1")
            .fetch_all(&mut *connection)
            .await
            .expect("blocks");
        let scanned: Vec<(i64, i64)> =
            sqlx::query_as("SELECT seq >> 12, COUNT(*) FROM messages GROUP BY 1 ORDER BY 1")
                .fetch_all(connection)
                .await
                .expect("rows per block");
        assert_eq!(kept, scanned, "blocks after kill {round}");
    }
    // The messages per day, which `since` totals and the first `ts` of `/stats` rely
    // on: exactly the days with messages, each with its count.
    let kept: Vec<(String, i64)> = database
        .fetch_all(
            "SELECT day, CAST(SUM(count) AS BIGINT) FROM messages_per_day \
             GROUP BY day ORDER BY day",
        )
        .await;
    let scanned: Vec<(String, i64)> = database
        .fetch_all("SELECT substr(ts_key, 1, 10), COUNT(*) FROM messages GROUP BY 1 ORDER BY 1")
        .await;
    assert_eq!(kept, scanned, "days after kill {round}");

    let ids = database.message_ids().await;
    let stored: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        stored.len(),
        ids.len(),
        "an id is stored twice after kill {round}"
    );
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !expiring && !stored.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "after kill {round}, {} acknowledged messages are missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    let per_sender: Vec<(String, i64)> = database
        .fetch_all(
            "SELECT from_msisdn, COUNT(*) AS n FROM messages GROUP BY from_msisdn \
             ORDER BY n DESC, from_msisdn ASC",
        )
        .await;
    let all_ts: Vec<String> = database
        .fetch_all::<(String,)>("SELECT ts FROM messages")
        .await
        .into_iter()
        .map(|(ts,)| ts)
        .collect();
    let needle = format!("crash-round-{}", round - 1);
    let searched: i64 = match &mut database {
        TestConnection::Sqlite(connection) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE instr(text, ?) > 0")
                .bind(&needle)
                .fetch_one(connection)
                .await
        }
        // text is UTF-8 bytes (bytea) on PostgreSQL.
        TestConnection::Postgres(connection) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE position($1 IN text) > 0")
                .bind(needle.as_bytes())
                .fetch_one(connection)
                .await
        }
    }
    .expect("count a round");
    database.close().await;

    let stats = app.stats().await;
    let top: Vec<Value> = per_sender
        .iter()
        .take(10)
        .map(|(from, count)| json!({"from": from, "count": count}))
        .collect();
    let first = all_ts.iter().min_by_key(|ts| instant_key(ts));
    let last = all_ts.iter().max_by_key(|ts| instant_key(ts));
    assert_eq!(
        stats,
        json!({
            "total_messages": ids.len(),
            "senders_count": per_sender.len(),
            "messages_per_sender": top,
            "first_message_ts": first,
            "last_message_ts": last,
        }),
        "/stats disagrees with a full count after kill {round}"
    );
    assert_eq!(app.messages("limit=1").await["total"], ids.len());
    let query = format!("q=crash-round-{}&limit=1", round - 1);
    assert_eq!(
        app.messages(&query).await["total"],
        searched,
        "q disagrees with a full scan after kill {round}"
    );
    assert_eq!(
        json_ok(app.get("/health/ready").await).await["status"],
        "ok"
    );
    Checked {
        rows: ids.len(),
        found: acknowledged.len() - missing.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: run with `make test-crash` (release build)"]
async fn acknowledged_messages_survive_repeated_sigkill_under_load() {
    let started = Instant::now();
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let database = TestDatabase::fresh().await;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut checked = Checked { rows: 0, found: 0 };

    for round in 0..=KILLS {
        let app = TestApp::spawn_on(database.clone(), &[]).await;
        if round > 0 {
            checked = check_after_restart(&app, &acknowledged, round, false).await;
        }
        if round == KILLS {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                tokio::spawn(write_load(app.address.clone(), round, writer, stop.clone()))
            })
            .collect();
        // The random moment of the crash; the load runs meanwhile.
        tokio::time::sleep(Duration::from_millis(rng.u64(50..=500))).await;
        let status = app.kill().await;
        assert_eq!(status.signal(), Some(9), "killed, not stopped: {status}");
        stop.store(true, Ordering::Relaxed);
        let acked_before = acknowledged.len();
        for writer in writers {
            acknowledged.extend(writer.await.expect("writer task"));
        }
        println!(
            "kill {}: {} acknowledged this round",
            round + 1,
            acknowledged.len() - acked_before
        );
    }

    println!(
        "crash test on {} (seed {seed}): kills survived: {KILLS}, requests acknowledged: {}, \
         acknowledged found: {}, rows stored: {} ({} answered by no 200), {:.1} s",
        match database.is_postgres() {
            true => "PostgreSQL",
            false => "SQLite",
        },
        acknowledged.len(),
        checked.found,
        checked.rows,
        checked.rows - checked.found,
        started.elapsed().as_secs_f64()
    );
    assert!(
        acknowledged.len() > KILLS * WRITERS,
        "too little load to prove anything: {} acknowledged",
        acknowledged.len()
    );
    assert_eq!(checked.found, acknowledged.len());
}

/// SIGKILL while the retention sweep deletes: each round serves with `RETENTION=1s`
/// under load (rows of earlier rounds expire at once, this round's as it goes on), is
/// killed at a random moment, and is checked by a server without RETENTION, so that
/// nothing is deleted while the checks count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: run with `make test-crash` (release build)"]
async fn expiry_sweeps_survive_repeated_sigkill() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let database = TestDatabase::fresh().await;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut checked = Checked { rows: 0, found: 0 };
    for round in 0..KILLS / 2 {
        let app = TestApp::spawn_on(database.clone(), &[("RETENTION", "1s")]).await;
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS / 4)
            .map(|writer| {
                tokio::spawn(write_load(app.address.clone(), round, writer, stop.clone()))
            })
            .collect();
        // Past the first second, so that rows of this round expire too.
        tokio::time::sleep(Duration::from_millis(rng.u64(1000..=2500))).await;
        let status = app.kill().await;
        assert_eq!(status.signal(), Some(9), "killed, not stopped: {status}");
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            acknowledged.extend(writer.await.expect("writer task"));
        }
        let app = TestApp::spawn_on(database.clone(), &[]).await;
        checked = check_after_restart(&app, &acknowledged, round + 1, true).await;
        app.stop().await;
    }
    println!(
        "expiry crash test (seed {seed}): {} kills, {} acknowledged, {} rows left",
        KILLS / 2,
        acknowledged.len(),
        checked.rows
    );
    assert!(
        checked.rows < acknowledged.len(),
        "nothing expired: {} rows of {} acknowledged",
        checked.rows,
        acknowledged.len()
    );
}
