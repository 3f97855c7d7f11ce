//! Storage fault test (`make test-faults`, needs root to mount a tmpfs): the database
//! lives on a tiny filesystem that is then filled up. Webhooks must get 503 with
//! `Retry-After` (never a 200 for a message that is not stored), readiness must say
//! why, reads must keep working, and everything must recover once space is freed,
//! without a restart.

#[allow(dead_code)]
#[path = "api/helpers/mod.rs"]
mod helpers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use helpers::{json_ok, message, TestApp, TestDatabase};

/// A size-limited tmpfs, unmounted when dropped.
struct TinyFilesystem {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TinyFilesystem {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().to_owned();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (run as root, as CI does)"
        );
        Self { _dir: dir, path }
    }
}

impl Drop for TinyFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes a file until the filesystem is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create filler");
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
#[ignore = "needs root; run with `make test-faults`"]
async fn a_full_disk_answers_503_and_everything_recovers_when_space_returns() {
    let filesystem = TinyFilesystem::mount("8m");
    // SQLite only, whatever TEST_POSTGRES_URL says: the test fills the filesystem
    // under the database file, which it cannot do to a PostgreSQL server's.
    let database =
        TestDatabase::sqlite_in(tempfile::tempdir_in(&filesystem.path).expect("dir on tmpfs"));
    let app = TestApp::spawn_on(database.clone(), &[]).await;
    json_ok(app.post_webhook(&message("before")).await).await;

    let filler = fill(&filesystem.path);
    let mut acknowledged = vec!["before".to_owned()];
    let mut refused = 0;
    // Large texts fill any space left in the WAL quickly.
    for index in 0..400 {
        let id = format!("full-{index}");
        let body = helpers::with(message(&id), serde_json::json!({"text": "x".repeat(4000)}));
        let response = app.post_webhook(&body).await;
        match response.status().as_u16() {
            200 => acknowledged.push(id),
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            other => panic!("unexpected status {other} on a full disk"),
        }
    }
    assert!(refused >= 5, "a full disk must refuse writes");
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503, "readiness reports the full disk");
    let page = app.messages("limit=100").await;
    assert_eq!(
        page["total"],
        acknowledged.len(),
        "reads keep working: {page}"
    );

    std::fs::remove_file(filler).expect("free the space");

    let mut status = app.get("/health/ready").await.status();
    for _ in 0..200 {
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = app.get("/health/ready").await.status();
    }
    assert_eq!(status, 200, "readiness recovers without a restart");
    json_ok(app.post_webhook(&message("after")).await).await;
    acknowledged.push("after".to_owned());
    let mut stored = helpers::message_ids(&app.messages("limit=100").await);
    stored.sort();
    acknowledged.sort();
    assert_eq!(
        stored, acknowledged,
        "every acknowledged message is stored, nothing else"
    );
    println!(
        "full disk: {} acknowledged before the disk filled, {refused} refused with 503, recovered",
        acknowledged.len() - 2
    );
    drop(app);
    drop(database);
}
