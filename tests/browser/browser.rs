//! `Browser`: a fresh headless Chromium session over WebDriver (the chromedriver at
//! `WEBDRIVER_URL`, which `make test-browser` starts), with waits that poll the page.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

/// How long any wait in a browser test may take before it fails.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// The chromedriver to use, when one is configured; without it, says on stderr that the
/// test is skipped, and why (as the PostgreSQL tests do).
pub fn webdriver_or_skip() -> Option<String> {
    let url = std::env::var("WEBDRIVER_URL")
        .ok()
        .filter(|url| !url.trim().is_empty());
    if url.is_none() {
        use std::io::Write;
        let thread = std::thread::current();
        let _ = writeln!(
            std::io::stderr(),
            "skipped {}: needs a chromedriver (WEBDRIVER_URL, as `make test-browser` sets)",
            thread.name().unwrap_or("a browser test")
        );
    }
    url
}

pub struct Browser {
    pub client: Client,
    webdriver: String,
    session: String,
    /// A profile of its own, removed after the session.
    _profile: TempDir,
}

impl Browser {
    /// A new browser session with a `width` × `height` window.
    pub async fn open(webdriver: &str, width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().expect("a profile directory");
        let binary = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-extensions",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        // Chromium's windows are at least 500 pixels wide: narrower screens are emulated.
        if width < 500 {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true},
            });
        }
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(webdriver)
            .await
            .unwrap_or_else(|error| {
                panic!("a session from the chromedriver at {webdriver}: {error}")
            });
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Self {
            client,
            webdriver: webdriver.trim_end_matches('/').to_owned(),
            session,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("{script}: {error}"))
    }

    /// Polls `script` until it returns something other than `null`, `false` or `""`
    /// and returns that; fails the test after `PATIENCE`, showing the last value.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let started = std::time::Instant::now();
        loop {
            let value = self.js(script, vec![]).await;
            let done = !matches!(&value, Value::Null | Value::Bool(false))
                && value != Value::String(String::new());
            if done {
                return value;
            }
            if started.elapsed() > PATIENCE {
                panic!("{what}: still not so after {PATIENCE:?} ({script} = {value})");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The `message_id`s of the rows shown, in order.
    pub async fn row_ids(&self) -> Vec<String> {
        let ids = self
            .js(
                "return [...document.querySelectorAll('#rows tr[data-id]')]\
                 .map((row) => row.dataset.id);",
                vec![],
            )
            .await;
        serde_json::from_value(ids).expect("a list of ids")
    }

    /// Waits until the rows shown are exactly `expected`.
    pub async fn until_rows(&self, expected: &[String]) {
        let started = std::time::Instant::now();
        loop {
            let shown = self.row_ids().await;
            if shown == expected {
                return;
            }
            if started.elapsed() > PATIENCE {
                assert_eq!(shown, expected, "the rows shown");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Replaces the text of the input `css` with `text`, typed as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        if !text.is_empty() {
            input.send_keys(text).await.expect("type");
        }
    }

    /// The page's path and query, e.g. `/?q=hello`.
    pub async fn location(&self) -> String {
        let url = self.client.current_url().await.expect("URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Every entry of the browser's console at level SEVERE (errors, uncaught
    /// exceptions, failed loads) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/session/{}/se/log",
                self.webdriver, self.session
            ))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .expect("the browser log");
        let body: Value = response.json().await.expect("a JSON log");
        body["value"]
            .as_array()
            .expect("log entries")
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn close(self) {
        self.client.close().await.expect("end the session");
    }
}
