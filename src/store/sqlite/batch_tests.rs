//! The writer's transactions on SQLite: duplicates in and across batches, expiry,
//! and the write connection after a failure.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::ConnectOptions;

use tokio::sync::oneshot;

use super::*;
use crate::message::Message;
use crate::store::sqlite::reads::MESSAGE_COUNT;
use crate::store::sqlite::MIGRATOR;
use crate::timestamp::Timestamp;
use InsertOutcome::{Created, Duplicate};

fn pending(id: &str, text: &str) -> Pending {
    Pending {
        message: Message {
            message_id: id.to_owned(),
            from: "+1".to_owned(),
            to: "+2".to_owned(),
            ts: Timestamp::parse("2025-01-15T10:00:00Z").unwrap(),
            text: Some(text.to_owned()),
        },
        reply: oneshot::channel().0,
    }
}

/// A migrated database as the writer uses it: in memory, rolled back after a
/// failure and written in explicit transactions; or in a file, reconnected after a
/// failure and written in autocommit. The folder must outlive the pool.
async fn database(after_failure: AfterFailure) -> (SqlitePool, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let connect = match after_failure {
        AfterFailure::RollBack => "sqlite::memory:".parse().unwrap(),
        AfterFailure::Reconnect => SqliteConnectOptions::new()
            .filename(folder.path().join("batch.db"))
            .create_if_missing(true),
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(connect)
        .await
        .unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    (pool, folder)
}

/// Commits `batch` on a connection taken from `pool` and given back after.
async fn commit_on(
    pool: &SqlitePool,
    batch: &[Pending],
    after_failure: AfterFailure,
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let mut committer = SqliteCommitter::new(pool.clone(), false, after_failure);
    committer.commit(batch).await
}

async fn stored(pool: &SqlitePool) -> (Vec<(String, String)>, i64) {
    let texts = sqlx::query_as("SELECT message_id, text FROM messages ORDER BY message_id")
        .fetch_all(pool)
        .await
        .unwrap();
    let total = sqlx::query_scalar(MESSAGE_COUNT)
        .fetch_one(pool)
        .await
        .unwrap();
    (texts, total)
}

#[tokio::test]
async fn one_batch_holding_an_id_several_times_creates_it_once_and_keeps_the_first() {
    for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
        let (pool, _folder) = database(after_failure).await;
        let earlier = [pending("old", "stored earlier"), pending("older", "too")];
        let outcomes = commit_on(&pool, &earlier, after_failure).await.unwrap();
        assert_eq!(outcomes, [Created, Created], "{after_failure:?}");

        let batch = [
            pending("a", "first a"),
            pending("b", "first b"),
            pending("a", "second a"),
            // The row inserted last before this batch.
            pending("older", "again"),
            pending("b", "second b"),
            pending("c", "only c"),
        ];
        let outcomes = commit_on(&pool, &batch, after_failure).await.unwrap();
        assert_eq!(
            outcomes,
            [Created, Created, Duplicate, Duplicate, Duplicate, Created],
            "{after_failure:?}"
        );
        let again = [pending("c", "again"), pending("old", "again")];
        let outcomes = commit_on(&pool, &again, after_failure).await.unwrap();
        assert_eq!(outcomes, [Duplicate, Duplicate], "{after_failure:?}");
        // The statement's last row is not one it inserted.
        let last_known = [pending("d", "only d"), pending("a", "again")];
        let outcomes = commit_on(&pool, &last_known, after_failure).await.unwrap();
        assert_eq!(outcomes, [Created, Duplicate], "{after_failure:?}");

        let expected = [
            ("a", "first a"),
            ("b", "first b"),
            ("c", "only c"),
            ("d", "only d"),
            ("old", "stored earlier"),
            ("older", "too"),
        ];
        let expected = expected.map(|(id, text)| (id.to_owned(), text.to_owned()));
        assert_eq!(
            stored(&pool).await,
            (expected.to_vec(), 6),
            "{after_failure:?}"
        );
    }
}

/// The sweep deletes the oldest rows first, at most `limit` at a time, and only
/// those stored before the cutoff; their ids may then be stored again.
#[tokio::test]
async fn expiry_deletes_the_oldest_rows_in_batches_and_frees_their_ids() {
    for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
        expiry_deletes_the_oldest_rows_in_batches_and_frees_their_ids_in(after_failure).await;
    }
}

async fn expiry_deletes_the_oldest_rows_in_batches_and_frees_their_ids_in(
    after_failure: AfterFailure,
) {
    let (pool, _folder) = database(after_failure).await;
    let mut committer = SqliteCommitter::new(pool.clone(), false, after_failure);
    for (id, created_at) in [
        ("c", "2025-01-03"),
        ("a", "2025-01-01"),
        ("b", "2025-01-02"),
    ] {
        let mut connection = pool.acquire().await.unwrap();
        let message = pending(id, id).message;
        let own_transaction = after_failure == AfterFailure::Reconnect;
        if !own_transaction {
            sqlx::query("BEGIN")
                .execute(&mut *connection)
                .await
                .unwrap();
        }
        insert_messages(&mut connection, [&message], created_at, own_transaction)
            .await
            .unwrap();
        if !own_transaction {
            sqlx::query("COMMIT")
                .execute(&mut *connection)
                .await
                .unwrap();
        }
    }
    assert_eq!(committer.expire("2025-01-03", 1).await.unwrap(), 1);
    assert_eq!(committer.expire("2025-01-03", 5).await.unwrap(), 1);
    assert_eq!(committer.expire("2025-01-03", 5).await.unwrap(), 0);
    let expected = vec![("c".to_owned(), "c".to_owned())];
    assert_eq!(stored(&pool).await, (expected, 1));
    let again = [pending("a", "again"), pending("c", "again")];
    assert_eq!(
        committer.commit(&again).await.unwrap(),
        [Created, Duplicate],
        "{after_failure:?}"
    );
    committer.close().await;
}

/// Every write transaction merges a few pages of the trigram index, which merges
/// nothing by itself: each commit and each step of the sweep adds a segment, and 16 of
/// a level are merged into one of the next (without those merges, 60 transactions would
/// leave 60 segments).
#[tokio::test]
async fn the_trigram_index_is_merged_by_every_write_transaction() {
    for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
        let (pool, _folder) = database(after_failure).await;
        let mut committer = SqliteCommitter::new(pool.clone(), false, after_failure);
        for id in 0..40 {
            let batch = [pending(&id.to_string(), &format!("text number {id}"))];
            assert_eq!(committer.commit(&batch).await.unwrap(), [Created]);
        }
        let far_future = "2999-01-01";
        for _ in 0..20 {
            assert_eq!(committer.expire(far_future, 1).await.unwrap(), 1);
        }
        let segments: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT segid) FROM messages_text_idx")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(
            (1..=16).contains(&segments),
            "{after_failure:?}: {segments}"
        );
        let matches: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages_text WHERE messages_text MATCH '\"number 3\"'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        // Of "number 3" and "number 30" to "number 39", only 30 to 39 are left.
        assert_eq!(matches, 10, "{after_failure:?}");
        committer.close().await;
    }
}

#[tokio::test]
async fn on_a_file_the_committer_keeps_its_connection_until_a_commit_fails() {
    let (pool, folder) = database(AfterFailure::Reconnect).await;
    let mut committer = SqliteCommitter::new(pool.clone(), true, AfterFailure::Reconnect);
    assert_eq!(
        committer.commit(&[pending("a", "a")]).await.unwrap(),
        [Created]
    );
    assert!(committer.kept.is_some());
    assert_eq!(
        pool.num_idle(),
        0,
        "kept by the committer, not back in the pool"
    );

    let mut other = SqliteConnectOptions::new()
        .filename(folder.path().join("batch.db"))
        .connect()
        .await
        .unwrap();
    let refuse = "CREATE TRIGGER refuse BEFORE INSERT ON messages \
                  BEGIN SELECT RAISE(ABORT, 'refused'); END";
    sqlx::query(refuse).execute(&mut other).await.unwrap();
    assert!(committer.commit(&[pending("b", "b")]).await.is_err());
    assert!(
        committer.kept.is_none(),
        "a connection that failed is not kept"
    );

    sqlx::query("DROP TRIGGER refuse")
        .execute(&mut other)
        .await
        .unwrap();
    assert_eq!(
        committer.commit(&[pending("b", "b")]).await.unwrap(),
        [Created]
    );
    assert!(committer.kept.is_some());
    committer.close().await;
    assert!(pool.is_closed());
}

/// The ids a batch with duplicates created come back from SQLite as one JSON array:
/// any id survives the trip, also one with quotes, escapes, a NUL or non-ASCII.
#[tokio::test]
async fn ids_of_any_text_are_told_created_or_duplicate() {
    let odd = [
        "quo\"te",
        "back\\slash",
        "nul\u{0}byte",
        "ünïcødé 😀",
        "tab\tline\n",
    ];
    for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
        let (pool, _folder) = database(after_failure).await;
        let earlier = [pending(odd[0], "stored earlier")];
        let outcomes = commit_on(&pool, &earlier, after_failure).await.unwrap();
        assert_eq!(outcomes, [Created], "{after_failure:?}");

        let batch: Vec<Pending> = odd.iter().map(|id| pending(id, id)).collect();
        let outcomes = commit_on(&pool, &batch, after_failure).await.unwrap();
        assert_eq!(
            outcomes,
            [Duplicate, Created, Created, Created, Created],
            "{after_failure:?}"
        );
        let (rows, total) = stored(&pool).await;
        assert_eq!(total, 5, "{after_failure:?}");
        let mut ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        let mut expected = odd.to_vec();
        ids.sort_unstable();
        expected.sort_unstable();
        assert_eq!(ids, expected, "{after_failure:?}");
    }
}

/// Batches longer than one statement: an id first seen in one statement and
/// repeated in a later one of the same transaction is a duplicate there.
#[tokio::test]
async fn a_batch_of_several_statements_tells_created_from_duplicate_across_them() {
    for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
        let (pool, _folder) = database(after_failure).await;
        commit_on(&pool, &[pending("old-7", "stored earlier")], after_failure)
            .await
            .unwrap();
        let ids: Vec<String> = (0..150)
            .map(|index| match index {
                // Repeats of ids the first statement (rows 0..64) inserted,
                // among them the last one it inserted.
                100 | 140 => "id-3".to_owned(),
                110 => "id-63".to_owned(),
                120 => "old-7".to_owned(),
                _ => format!("id-{index}"),
            })
            .collect();
        let batch: Vec<Pending> = ids.iter().map(|id| pending(id, id)).collect();
        let outcomes = commit_on(&pool, &batch, after_failure).await.unwrap();
        let duplicates: Vec<usize> = (0..150)
            .filter(|&index| outcomes[index] == Duplicate)
            .collect();
        assert_eq!(duplicates, [100, 110, 120, 140], "{after_failure:?}");
        let (rows, total) = stored(&pool).await;
        assert_eq!((rows.len(), total), (147, 147), "{after_failure:?}");
    }
}
