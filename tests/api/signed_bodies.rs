//! Property: any body that arrives with a valid signature is either stored (200) or
//! answered 422, exactly as the validation rules decide; nothing else happens to it.

use std::cell::RefCell;
use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use webhook_inbox::message::Message;

use crate::helpers::{sign, TestApp, TestConnection};

/// Each case is a real HTTP round trip; a few dozen keep the suite fast.
const CASES: u32 = 32;

type Row = (String, String, String, Option<String>);

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        8 => "[a-z0-9-]{1,16}".prop_map(Value::from),
        1 => Just(Value::from("")),
        1 => any::<i32>().prop_map(Value::from),
    ];
    let msisdn = prop_oneof![
        8 => "\\+[0-9]{1,15}".prop_map(Value::from),
        1 => "[+0-9 a]{0,8}".prop_map(Value::from),
    ];
    let ts = prop_oneof![
        8 => "20[0-9]{2}-0[1-9]-[0-2][0-9]T[01][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?Z"
            .prop_map(Value::from),
        1 => "[0-9TZ:.-]{0,24}".prop_map(Value::from),
    ];
    let text = prop_oneof![
        6 => ".{0,40}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => (4090usize..4100).prop_map(|n| Value::from("t".repeat(n))),
        1 => any::<bool>().prop_map(Value::from),
    ];
    let object = (id, msisdn.clone(), msisdn, ts, text, any::<u8>()).prop_map(
        |(id, from, to, ts, text, absent)| {
            let mut object = Map::new();
            for (bit, (name, value)) in [
                ("message_id", id),
                ("from", from),
                ("to", to),
                ("ts", ts),
                ("text", text),
            ]
            .into_iter()
            .enumerate()
            {
                // A few fields go missing now and then.
                if absent & (1 << bit) == 0 || absent < 240 {
                    object.insert(name.to_owned(), value);
                }
            }
            serde_json::to_vec(&Value::Object(object)).expect("serialize")
        },
    );
    prop_oneof![
        8 => object,
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|tail| [br#"{"message_id":"#.as_slice(), &tail].concat()),
    ]
}

/// The stored row of `id`, read directly from the database.
async fn stored_row(database: &mut TestConnection, id: &str) -> Option<Row> {
    match database {
        TestConnection::Sqlite(connection) => sqlx::query_as(
            "SELECT from_msisdn, to_msisdn, ts, text FROM messages WHERE message_id = ?",
        )
        .bind(id)
        .fetch_optional(connection)
        .await
        .expect("read the message"),
        // message_id and text are UTF-8 bytes (bytea) on PostgreSQL.
        TestConnection::Postgres(connection) => {
            let row: Option<(String, String, String, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT from_msisdn, to_msisdn, ts, text FROM messages WHERE message_id = $1",
            )
            .bind(id.as_bytes())
            .fetch_optional(connection)
            .await
            .expect("read the message");
            row.map(|(from, to, ts, text)| {
                let text = text.map(|bytes| String::from_utf8(bytes).expect("UTF-8 text"));
                (from, to, ts, text)
            })
        }
    }
}

async fn row_count(database: &mut TestConnection) -> i64 {
    database.count_messages().await
}

#[test]
fn any_validly_signed_body_is_stored_or_answered_422() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(TestApp::spawn());
    let database = tokio::sync::Mutex::new(runtime.block_on(app.open_database()));
    // The first stored version of each id: later ones are duplicates and change nothing.
    let first_versions: RefCell<HashMap<String, Row>> = RefCell::default();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });

    let outcome = runner.run(&bodies(), |body| {
        runtime.block_on(async {
            let database = &mut *database.lock().await;
            let before = row_count(database).await;
            let response = app.post_webhook_raw(body.clone(), Some(&sign(&body))).await;
            let status = response.status().as_u16();
            let answer: Value = response.json().await.expect("a JSON answer");
            let shown = String::from_utf8_lossy(&body);
            match Message::from_json(&body) {
                Ok(message) => {
                    prop_assert_eq!(status, 200, "{}", shown);
                    prop_assert_eq!(answer, json!({"status": "ok"}));
                    let sent = (
                        message.from,
                        message.to,
                        message.ts.as_str().to_owned(),
                        message.text,
                    );
                    let expected = first_versions
                        .borrow_mut()
                        .entry(message.message_id.clone())
                        .or_insert(sent)
                        .clone();
                    let stored = stored_row(database, &message.message_id).await;
                    prop_assert_eq!(stored, Some(expected), "{}", shown);
                }
                Err(_) => {
                    prop_assert_eq!(status, 422, "{}", shown);
                    prop_assert!(answer["detail"].is_array(), "{}", answer);
                    prop_assert_eq!(row_count(database).await, before, "{}", shown);
                }
            }
            Ok(())
        })
    });

    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let distinct = first_versions.borrow().len() as i64;
    assert_eq!(
        runtime.block_on(async { row_count(&mut *database.lock().await).await }),
        distinct
    );
}
