//! The corpus machinery: what a case is, how it is sent, and what counts as passing.

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

use super::raw::raw_exchange;
use crate::helpers::{message, sign, with, TestApp};

/// How long one hostile request may take before it counts as a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// The body limit of the app that takes the oversized bodies.
pub(super) const SMALL_LIMIT: usize = 1024;
pub(super) const DEFAULT_LIMIT: usize = 64 << 10;

pub(super) type Build = Box<dyn Fn(&Client, &str) -> RequestBuilder>;

pub(super) enum Request {
    /// Built with reqwest against the app's base URL.
    Http(Build),
    /// Written as is on a fresh connection: what reqwest will not send.
    Raw(Vec<u8>),
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Expect {
    Status(u16),
    /// Any 4xx (the exact code is hyper's or the router's choice).
    ClientError,
    /// 200 with this many matching rows: a hostile filter taken as literal text.
    Page(u64),
}

/// Which app a case goes to: one with a 1 KiB body limit, or one with the default.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Target {
    Small,
    Default,
}

pub(super) struct Case {
    pub(super) name: String,
    pub(super) target: Target,
    pub(super) request: Request,
    pub(super) expect: Expect,
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) content_type: String,
    /// The `X-Request-ID` header, which every answer carries.
    pub(super) request_id: Option<String>,
    pub(super) body: Vec<u8>,
}

pub(super) fn case(
    name: impl Into<String>,
    target: Target,
    request: Request,
    expect: Expect,
) -> Case {
    Case {
        name: name.into(),
        target,
        request,
        expect,
    }
}

/// POST /webhook with `body` signed correctly: a signed body that breaks a rule is 422.
pub(super) fn signed(name: &str, body: Vec<u8>, content_type: Option<&'static str>) -> Case {
    signed_expecting(
        name,
        Target::Default,
        body,
        content_type,
        Expect::Status(422),
    )
}

pub(super) fn signed_expecting(
    name: &str,
    target: Target,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    expect: Expect,
) -> Case {
    let signature = sign(&body);
    let build: Build = Box::new(move |client, base| {
        let mut request = client
            .post(format!("{base}/webhook"))
            .header("x-signature", signature.as_str())
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request
    });
    case(name, target, Request::Http(build), expect)
}

/// POST /webhook with `body` and the given `X-Signature` (none when `None`): 401.
pub(super) fn unsigned(name: &str, body: Vec<u8>, signature: Option<Vec<u8>>) -> Case {
    let build: Build = Box::new(move |client, base| {
        let mut request = client
            .post(format!("{base}/webhook"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(signature) = &signature {
            let value = reqwest::header::HeaderValue::from_bytes(signature).expect("header");
            request = request.header("x-signature", value);
        }
        request
    });
    case(
        name,
        Target::Default,
        Request::Http(build),
        Expect::Status(401),
    )
}

pub(super) fn get(name: &str, path_and_query: impl Into<String>, expect: Expect) -> Case {
    let path_and_query = path_and_query.into();
    let build: Build = Box::new(move |client, base| client.get(format!("{base}{path_and_query}")));
    case(name, Target::Default, Request::Http(build), expect)
}

pub(super) fn method(method: &str, path: &'static str) -> Case {
    let verb = Method::from_bytes(method.as_bytes()).expect("method");
    let build: Build = Box::new(move |client, base| {
        client
            .request(verb.clone(), format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&message("by-method")).expect("serialize"))
    });
    case(
        format!("{method} {path}"),
        Target::Default,
        Request::Http(build),
        Expect::Status(405),
    )
}

pub(super) fn raw(name: &str, target: Target, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
    case(name, target, Request::Raw(bytes.into()), expect)
}

/// A valid message, serialized.
pub(super) fn valid(id: &str) -> Vec<u8> {
    serde_json::to_vec(&message(id)).expect("serialize")
}

/// A message with `field` replaced by raw JSON text (any bytes).
pub(super) fn with_raw_field(id: &str, field: &str, raw_value: &[u8]) -> Vec<u8> {
    let mut fields = message(id);
    fields.as_object_mut().expect("object").remove(field);
    prepend_field(&fields, field, raw_value)
}

/// A message with `field` given a second time, first, as raw JSON text.
pub(super) fn with_duplicate_field(id: &str, field: &str, raw_value: &[u8]) -> Vec<u8> {
    prepend_field(&message(id), field, raw_value)
}

fn prepend_field(fields: &Value, field: &str, raw_value: &[u8]) -> Vec<u8> {
    let rest = serde_json::to_vec(fields).expect("serialize");
    let mut body = format!("{{\"{field}\":").into_bytes();
    body.extend_from_slice(raw_value);
    body.push(b',');
    body.extend_from_slice(&rest[1..]);
    body
}

pub(super) fn with_field(id: &str, field: &str, value: Value) -> Vec<u8> {
    serde_json::to_vec(&with(message(id), json!({ field: value }))).expect("serialize")
}

pub(super) fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

async fn answer(app: &TestApp, client: &Client, request: &Request) -> Result<Answer, String> {
    let exchange = async {
        match request {
            Request::Http(build) => {
                let response = build(client, &app.address)
                    .send()
                    .await
                    .map_err(|error| format!("request failed: {error:?}"))?;
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                    .unwrap_or_default();
                let request_id = response
                    .headers()
                    .get("x-request-id")
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
                let body = response
                    .bytes()
                    .await
                    .map_err(|error| format!("reading the body failed: {error:?}"))?;
                Ok(Answer {
                    status,
                    content_type,
                    request_id,
                    body: body.to_vec(),
                })
            }
            Request::Raw(bytes) => raw_exchange(app, bytes).await,
        }
    };
    tokio::time::timeout(ANSWER_WITHIN, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {ANSWER_WITHIN:?}")))
}

fn check(expect: Expect, answer: &Answer, require_json: bool) -> Result<(), String> {
    let status = answer.status;
    let body = String::from_utf8_lossy(&answer.body);
    let status_ok = match expect {
        Expect::Status(expected) => status == expected,
        Expect::ClientError => (400..500).contains(&status),
        Expect::Page(_) => status == 200,
    };
    if !status_ok {
        return Err(format!("expected {expect:?}, got {status} {body:.300}"));
    }
    if answer.request_id.as_deref().is_none_or(str::is_empty) {
        return Err(format!("{status} without an X-Request-ID: {body:.300}"));
    }
    if !require_json {
        return Ok(());
    }
    if !answer.content_type.starts_with("application/json") {
        return Err(format!(
            "{status} with Content-Type {:?}, not JSON: {body:.300}",
            answer.content_type
        ));
    }
    let json: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| format!("{status} with a body that is not JSON: {body:.300}"))?;
    match expect {
        Expect::Page(total) => {
            let data = json["data"].as_array().map_or(usize::MAX, Vec::len);
            if json["total"] != total || data as u64 > total {
                return Err(format!(
                    "expected {total} matching, got {:.300}",
                    json.to_string()
                ));
            }
        }
        _ if json["detail"].is_null() => {
            return Err(format!(
                "{status} without a detail: {:.300}",
                json.to_string()
            ))
        }
        _ => {}
    }
    Ok(())
}

/// Sends every case to its app; returns one line per case that failed.
pub(super) async fn run(
    cases: &[Case],
    small: &TestApp,
    default: &TestApp,
    require_json: bool,
) -> Vec<String> {
    let client = Client::builder()
        .timeout(ANSWER_WITHIN)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut failures = Vec::new();
    for case in cases {
        let app = match case.target {
            Target::Small => small,
            Target::Default => default,
        };
        let outcome = answer(app, &client, &case.request)
            .await
            .and_then(|answer| check(case.expect, &answer, require_json));
        if let Err(why) = outcome {
            failures.push(format!("case {:?}: {why}", case.name));
        }
    }
    failures
}
