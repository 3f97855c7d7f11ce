//! Console benchmark: how fast the operator console shows rows, measured in the browser
//! (headless Chromium over WebDriver) against a running service, usually on the
//! 1,000,000 messages of `examples/seed.rs` (`make bench-console`).
//!
//! - first rows: from the start of the navigation to `/` (Navigation Timing's time
//!   origin) to the console's `console:rows` mark, set when the rows are in the page;
//!   the first run has an empty cache, the others revalidate the page (304) and reuse
//!   the assets.
//! - filter change: from submitting the filter form (`performance.now()`) to the rows of
//!   the new view in the page.
//!
//! cargo run --release --example consolebench -- --url http://127.0.0.1:8000 \
//!     --webdriver http://127.0.0.1:9515 [--runs 10]

use std::process::ExitCode;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// The busiest sender of `examples/seed.rs`, a rare and a common word of its texts, and
/// a point near the end of its year.
const FILTERS: [(&str, &str, &str); 5] = [
    ("from = busiest sender", "from", "+919000000000"),
    ("q = rare word", "q", "zanzibar"),
    ("q = common word", "q", "hello"),
    ("since = last days", "since", "2025-12-28T00:00:00Z"),
    ("no filter", "", ""),
];

/// Sets one filter (clearing the others), submits, and resolves with the milliseconds
/// until the new rows are in the page.
const CHANGE_FILTER: &str = "
const [name, value, done] = arguments;
const form = document.getElementById('filters');
for (const field of ['from', 'since', 'q']) form.elements[field].value = '';
if (name) form.elements[name].value = value;
const before = Number(document.body.dataset.renders || 0);
const started = performance.now();
form.requestSubmit();
const check = () => {
  if (Number(document.body.dataset.renders || 0) > before) {
    done(performance.getEntriesByName('console:rows').at(-1).startTime - started);
  } else {
    setTimeout(check, 2);
  }
};
check();";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut url, mut webdriver, mut runs) = (
        "http://127.0.0.1:8000".to_owned(),
        "http://127.0.0.1:9515".to_owned(),
        10usize,
    );
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--url", Some(value)) => url = value,
            ("--webdriver", Some(value)) => webdriver = value,
            ("--runs", Some(value)) => runs = value.parse().unwrap_or(runs).max(1),
            _ => {
                eprintln!("usage: consolebench [--url URL] [--webdriver URL] [--runs N]");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(&url, &webdriver, runs)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("consolebench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, webdriver: &str, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let profile = tempfile::tempdir()?;
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-extensions", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display())],
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await?;
    let result = measure(&browser, url, runs).await;
    browser.close().await?;
    result
}

async fn measure(
    browser: &Client,
    url: &str,
    runs: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut first_rows = Vec::new();
    let mut requests = String::new();
    for _ in 0..runs {
        browser.goto("about:blank").await?;
        browser.goto(url).await?;
        let timing = wait_for_rows(browser).await?;
        first_rows.push(timing["rows"].as_f64().unwrap_or(f64::NAN));
        requests = timing["requests"].as_str().unwrap_or_default().to_owned();
    }
    println!("first rows after navigation to {url} ({runs} loads; target <= 300 ms)");
    println!(
        "  cold cache {:.0} ms; {}",
        first_rows[0],
        summary(&first_rows)
    );
    println!("  requests of the last load: {requests}");

    println!("filter change to new rows ({runs} changes each; target <= 150 ms)");
    let mut changes: Vec<Vec<f64>> = vec![Vec::new(); FILTERS.len()];
    for _ in 0..runs {
        for (index, (_, name, value)) in FILTERS.iter().enumerate() {
            let elapsed = browser
                .execute_async(CHANGE_FILTER, vec![json!(name), json!(value)])
                .await?;
            changes[index].push(elapsed.as_f64().unwrap_or(f64::NAN));
        }
    }
    for ((label, _, _), samples) in FILTERS.iter().zip(&changes) {
        println!("  {label:<22} {}", summary(samples));
    }
    let errors = browser
        .execute(
            "return document.getElementById('status').textContent;",
            vec![],
        )
        .await?;
    if errors.as_str().is_some_and(|text| !text.is_empty()) {
        println!("  the page says: {errors}");
    }
    Ok(())
}

/// Polls the page until its first rows are in, then reads the marks and what each API
/// request took (Resource Timing).
async fn wait_for_rows(browser: &Client) -> Result<Value, Box<dyn std::error::Error>> {
    let script = "
        const mark = performance.getEntriesByName('console:rows')[0];
        if (!mark) return null;
        const requests = performance.getEntriesByType('resource')
            .filter((entry) => entry.initiatorType === 'fetch')
            .map((entry) => `${new URL(entry.name).pathname}${new URL(entry.name).search} `
                + `${entry.duration.toFixed(0)} ms`)
            .join(', ');
        return { rows: mark.startTime, requests };";
    for _ in 0..6000 {
        let value = browser.execute(script, vec![]).await?;
        if !value.is_null() {
            return Ok(value);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("the rows never appeared".into())
}

fn summary(samples: &[f64]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    format!(
        "median {median:.0} ms, max {max:.0} ms over {}",
        sorted.len()
    )
}
