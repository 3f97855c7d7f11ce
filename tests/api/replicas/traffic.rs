//! Replicas under traffic: overlapping random posts to two replicas, and one replica
//! killed under load.

use super::*;

/// One post of random traffic: an id from a small shared range, so that the same id
/// arrives at both replicas (often at the same moment) in different versions.
fn random_message(rng: &mut fastrand::Rng) -> Value {
    let fraction = match rng.u8(0..3) {
        0 => String::new(),
        1 => format!(".{}", rng.u8(0..10)),
        _ => format!(".{:03}", rng.u16(0..1000)),
    };
    with(
        message(&format!("r{}", rng.usize(0..500))),
        json!({
            "from": sender(rng.usize(0..40), 40),
            "ts": format!(
                "2025-01-{:02}T{:02}:{:02}:{:02}{fraction}Z",
                rng.u8(1..29),
                rng.u8(0..24),
                rng.u8(0..60),
                rng.u8(0..60)
            ),
            "text": if rng.bool() { Value::Null } else { Value::from("random") },
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregates_stay_exact_when_two_replicas_insert_overlapping_random_traffic() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let seed = fastrand::u64(..);
    let database = TestDatabase::postgres(&server).await;
    let (a, b) = tokio::join!(
        TestApp::spawn_on(database.clone(), &[]),
        TestApp::spawn_on(database.clone(), &[])
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    let traffic: Vec<(&TestApp, Value)> = (0..1600)
        .map(|i| {
            let replica = if i % 2 == 0 { &a } else { &b };
            (replica, random_message(&mut rng))
        })
        .collect();

    let statuses: Vec<u16> = stream::iter(&traffic)
        .map(|(app, body)| async move { app.post_webhook(body).await.status().as_u16() })
        .buffer_unordered(96)
        .collect()
        .await;

    assert!(statuses.iter().all(|status| *status == 200), "seed {seed}");
    let rows: Vec<(String, String)> = stored_rows(&database)
        .await
        .into_iter()
        .map(|(_, from, ts, _)| (from, ts))
        .collect();
    let distinct: HashSet<&str> = traffic
        .iter()
        .map(|(_, body)| body["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), distinct.len(), "seed {seed}");
    let expected = stats_of(&rows);
    for replica in [&a, &b] {
        assert_eq!(replica.stats().await, expected, "seed {seed}");
        assert_eq!(replica.messages("limit=1").await["total"], rows.len());
        // Totals by sender and since an instant come from the other aggregates.
        for s in [0, 7, 39] {
            let from = sender(s, 40);
            let count = rows.iter().filter(|(f, _)| *f == from).count();
            let query = format!("limit=1&from={}", from.replace('+', "%2B"));
            assert_eq!(
                replica.messages(&query).await["total"],
                count,
                "seed {seed}"
            );
        }
        for since in ["2025-01-09T12:30:00Z", "2025-01-20T00:00:00.5Z"] {
            let count = rows
                .iter()
                .filter(|(_, ts)| instant_key(ts) >= instant_key(since))
                .count();
            let query = format!("limit=1&since={since}");
            assert_eq!(
                replica.messages(&query).await["total"],
                count,
                "seed {seed}"
            );
        }
    }
}

/// Posts messages `prefix-0`, `prefix-1`, … to `address` until `stop` or until the
/// server is gone; returns the ids answered 200 and counts them in `acknowledged`.
async fn write_load(
    address: String,
    prefix: String,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut ids = Vec::new();
    for seq in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = format!("{prefix}-{seq}");
        let body = serde_json::to_vec(&message(&id)).expect("serialize");
        let sent = client
            .post(format!("{address}/webhook"))
            .header("content-type", "application/json")
            .header("x-signature", sign(&body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 200 => {
                ids.push(id);
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            Ok(response) => panic!("{id}: unexpected {}", response.status()),
            Err(_) => break,
        }
    }
    ids
}

/// Waits until `counter` reaches `target`.
async fn wait_for_count(counter: &AtomicUsize, target: usize, what: &str) {
    let started = Instant::now();
    while counter.load(Ordering::Relaxed) < target {
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: {} of {target}",
            counter.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_one_replica_is_killed_under_load_the_other_keeps_committing_and_no_200_is_lost() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    const WRITERS: usize = 8;
    let database = TestDatabase::postgres(&server).await;
    let (a, b) = tokio::join!(
        TestApp::spawn_on(database.clone(), &[]),
        TestApp::spawn_on(database.clone(), &[])
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (acked_a, acked_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // The same ids go to both replicas, so their transactions wait on each other's rows.
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        for (app, acked) in [(&a, &acked_a), (&b, &acked_b)] {
            writers.push(tokio::spawn(write_load(
                app.address.clone(),
                format!("w{writer}"),
                stop.clone(),
                acked.clone(),
            )));
        }
    }
    wait_for_count(&acked_a, 200, "replica a under load").await;

    let status = a.kill().await;

    assert!(!status.success(), "killed: {status}");
    let at_kill = acked_b.load(Ordering::Relaxed);
    // Nothing the dead replica left behind (an open transaction, row locks) holds up
    // the other for long.
    wait_for_count(&acked_b, at_kill + 300, "replica b after the kill").await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = HashSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer task"));
    }
    let mut connection = database.connect().await;
    let ids = connection.message_ids().await;
    connection.close().await;
    let stored: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(stored.len(), ids.len(), "an id is stored twice");
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged but lost: {lost:?}",
        lost.len()
    );
    let rows: Vec<(String, String)> = stored_rows(&database)
        .await
        .into_iter()
        .map(|(_, from, ts, _)| (from, ts))
        .collect();
    assert_eq!(b.stats().await, stats_of(&rows));
    json_ok(b.get("/health/ready").await).await;
}
