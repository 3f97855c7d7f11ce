//! The example alerting rules (deploy/prometheus/alerts.yml; `make lint-deploy` checks
//! them with promtool) name only metrics the service exports.

use std::collections::BTreeSet;

use regex::Regex;

use crate::helpers::TestApp;

const ALERTS: &str = include_str!("../../deploy/prometheus/alerts.yml");

#[tokio::test]
async fn the_alerting_rules_name_only_metrics_the_service_exports() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    let metrics = app.metrics().await;

    let exported: BTreeSet<&str> = Regex::new(r"(?m)^# TYPE (\S+) ")
        .unwrap()
        .captures_iter(&metrics)
        .map(|found| found.get(1).unwrap().as_str())
        .collect();

    let selectors = Regex::new(r#"([a-z_:]+)\{job="webhook-inbox""#).unwrap();
    let named: BTreeSet<&str> = selectors
        .captures_iter(ALERTS)
        .map(|found| found.get(1).unwrap().as_str())
        // `up` is Prometheus' own series about the scrape.
        .filter(|name| *name != "up")
        .collect();
    assert!(named.len() >= 5, "{named:?}");
    for name in named {
        let family = name.strip_suffix("_bucket").unwrap_or(name);
        assert!(
            exported.contains(family),
            "{name} is in the alerting rules but not in /metrics: {exported:?}"
        );
    }
}
