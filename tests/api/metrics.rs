//! `/metrics`: Prometheus text on its own address, read with a parser, and
//! its figures moving with the work.

use std::collections::HashMap;

use cajahub::auth::user::Role;
use prometheus_parse::{Scrape, Value};

use crate::helpers::{TestApp, TestDb, free_address};
use crate::screens::{connect, next_json, sale, venue};

/// One scrape, parsed: each sample by name and labels (`name{a="1"}`).
pub(crate) async fn scrape(address: &str) -> HashMap<String, f64> {
    let response = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    let mut samples = HashMap::new();
    for sample in scrape.samples {
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let key = if labels.is_empty() {
            sample.metric.clone()
        } else {
            format!("{}{{{}}}", sample.metric, labels.join(","))
        };
        let value = match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => continue,
        };
        samples.insert(key, value);
    }
    samples
}

pub(crate) fn get(samples: &HashMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("{key} in {:?}", samples.keys().collect::<Vec<_>>()))
}

#[actix_web::test]
async fn metrics_parse_as_prometheus_text_and_move_with_the_work() {
    let metrics = free_address();
    let bind = metrics.trim_start_matches("http://").parse().unwrap();
    let app = TestApp::spawn_with(TestDb::migrated(), |s| s.metrics_bind = Some(bind)).await;
    app.log_in_as("admin", Role::Admin).await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    assert_eq!(next_json(&mut floor).await.unwrap()["type"], "snapshot");

    let before = scrape(&metrics).await;
    assert_eq!(
        get(&before, "cajahub_screens_connected{audience=\"floor\"}"),
        1.0
    );
    assert!(get(&before, "cajahub_screen_greetings_total{kind=\"snapshot\"}") >= 1.0);
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("cajahub_build_info{commit="))
    );
    for total in [1_000, 2_000, 3_000] {
        let response = cashier
            .client
            .post(app.url("/api/cajas/1/sales"))
            .json(&sale(total))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(next_json(&mut floor).await.unwrap()["type"], "event");
    }
    let after = scrape(&metrics).await;
    let moved = |key: &str| get(&after, key) - before.get(key).copied().unwrap_or(0.0);
    // Other tests in this process sell on their own caja 1 too: at least ours.
    assert!(moved("cajahub_sales_committed_total{caja=\"1\"}") >= 3.0);
    assert!(moved("cajahub_changes_committed_total{change=\"sale_recorded\"}") >= 3.0);
    assert!(moved("cajahub_commit_seconds_count") >= 3.0);
    assert!(moved("cajahub_db_pool_wait_seconds_count") >= 3.0);
    assert!(get(&after, "cajahub_db_pool_connections{state=\"in_use\"}") >= 0.0);
    assert!(get(&after, "cajahub_log_errors") <= cajahub::telemetry::errors_logged() as f64);
    assert!(moved("cajahub_scrapes_total") >= 1.0);

    // Not on the hub's own address.
    assert_eq!(app.get("/metrics").await.status(), 404);
}
