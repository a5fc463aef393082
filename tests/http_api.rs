//! The HTTP API over real loopback: every endpoint answers, every JSON body matches the
//! OpenAPI document, bad requests get JSON errors, events arrive in order, the admin endpoint
//! refuses without its token, and readiness follows the first forecasts.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use common::http::{get, request, HttpResponse, SseClient};
use common::live::{generated_job, small_spec, Served};
use common::openapi::{response_schema, template_for, validate};
use serde_json::Value;
use zonecast::dataflows::live::LiveJob;
use zonecast::jobs::{JobHandle, Source};
use zonecast::model::{Baseline, ModelFile};

fn document() -> Value {
    serde_json::from_str(zonecast::server::OPENAPI_JSON).expect("the OpenAPI document is JSON")
}

/// Checks a JSON response against the document's schema for its path, method and status.
fn conforms(doc: &Value, method: &str, path: &str, response: &HttpResponse) -> Value {
    let template = template_for(doc, path).unwrap_or_else(|| panic!("{path} is not documented"));
    let schema = response_schema(doc, &template, method, response.status).unwrap_or_else(|| {
        panic!(
            "{method} {template} has no JSON schema for status {}",
            response.status
        )
    });
    let body = response.json();
    if let Err(e) = validate(doc, schema, &body) {
        panic!("{method} {path} -> {}: {e}\n{body}", response.status);
    }
    body
}

fn ready<O: Send + 'static>(running: &JobHandle<O>) -> Value {
    running.wait_for(Duration::from_secs(60), |s| s["ready"] == true)
}

#[test]
fn every_endpoint_answers_and_matches_the_openapi_document() {
    let running = generated_job(3, 3600.0).start().unwrap();
    ready(&running);
    let doc = document();
    let addr = running.http();
    let list = get(addr, "/v1/predictions");
    assert_eq!(list.status, 200);
    let body = conforms(&doc, "get", "/v1/predictions", &list);
    assert!(list.header("x-zonecast-epoch").is_some());
    assert!(list
        .header("x-zonecast-as-of")
        .is_some_and(|a| !a.is_empty()));
    let predictions = body["predictions"].as_array().unwrap();
    assert!(predictions.len() > 100, "{} zones", predictions.len());
    assert_eq!(body["count"].as_u64().unwrap() as usize, predictions.len());
    let zones: Vec<u64> = predictions
        .iter()
        .map(|p| p["zone"].as_u64().unwrap())
        .collect();
    assert!(zones.windows(2).all(|w| w[0] < w[1]), "sorted by zone");
    let zone = zones[0];
    for path in [
        format!("/v1/predictions/{zone}"),
        format!("/v1/zones/{zone}/history?hours=48"),
        "/v1/predictions?borough=Unknown".to_string(),
        "/v1/predictions?borough=nowhere".to_string(),
        "/v1/evaluation".to_string(),
        "/v1/status".to_string(),
        "/healthz".to_string(),
        "/readyz".to_string(),
    ] {
        let response = get(addr, &path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        conforms(&doc, "get", &path, &response);
    }
    let one = get(addr, &format!("/v1/predictions/{zone}")).json();
    assert_eq!(one["zone"], zone);
    let history = get(addr, &format!("/v1/zones/{zone}/history?hours=48")).json();
    let hours = history["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 48);
    assert!(hours
        .windows(2)
        .all(|w| w[0]["hour"].as_str() < w[1]["hour"].as_str()));
    assert!(hours.iter().any(|h| !h["forecast"].is_null()));
    assert!(
        hours.iter().any(|h| h["final"] == true),
        "a day of history is final"
    );
    let filtered = get(addr, "/v1/predictions?borough=nowhere").json();
    assert_eq!(filtered["count"], 0);
    // Metrics, the document itself, the dashboard.
    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text();
    for name in [
        "zonecast_rows_read_total",
        "zonecast_rows_accepted_total",
        "zonecast_rows_rejected_total",
        "zonecast_rows_late_total",
        "zonecast_watermark_lag_seconds",
        "zonecast_forecasts_updated_total",
        "zonecast_forecasts_corrected_total",
        "zonecast_model_info{version=",
        "zonecast_http_requests_total{route=\"predictions\",code=\"2xx\"}",
        "zonecast_http_request_duration_seconds_bucket{route=\"prediction\",le=\"+Inf\"}",
        "zonecast_state_aggregate_keys",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    let served_doc = get(addr, "/openapi.json").json();
    assert_eq!(served_doc, doc);
    assert_eq!(served_doc["openapi"], "3.0.3");
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().contains("/v1/stream"));
    // Every documented GET path was exercised above (except the stream, tested below).
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            [
                "/v1/predictions",
                "/v1/predictions/{zone}",
                "/v1/zones/{zone}/history",
                "/v1/evaluation",
                "/v1/status",
                "/v1/stream",
                "/healthz",
                "/readyz",
                "/metrics",
                "/openapi.json",
                "/",
                "/v1/admin/model"
            ]
            .contains(&path.as_str()),
            "untested path {path}"
        );
    }
}

#[test]
fn bad_requests_get_json_errors() {
    let running = generated_job(2, 3600.0).start().unwrap();
    ready(&running);
    let doc = document();
    let addr = running.http();
    for (method, path, status) in [
        ("GET", "/v1/predictions/abc", 400),
        ("GET", "/v1/predictions/-3", 400),
        ("GET", "/v1/predictions/999", 404),
        ("GET", "/v1/predictions/0", 404),
        ("GET", "/v1/zones/abc/history", 400),
        ("GET", "/v1/zones/999/history", 404),
        ("GET", "/v1/zones/4/history?hours=0", 400),
        ("GET", "/v1/zones/4/history?hours=673", 400),
        ("GET", "/v1/zones/4/history?hours=ten", 400),
    ] {
        let response = request(addr, method, path, &[], &[]);
        assert_eq!(
            response.status,
            status,
            "{method} {path}: {}",
            response.text()
        );
        let body = conforms(&doc, &method.to_lowercase(), path, &response);
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    for (method, path, status, code) in [
        ("GET", "/nothing/here", 404, "not_found"),
        ("POST", "/v1/predictions", 405, "method_not_allowed"),
        ("DELETE", "/v1/status", 405, "method_not_allowed"),
    ] {
        let response = request(addr, method, path, &[], &[]);
        assert_eq!(response.status, status, "{method} {path}");
        assert_eq!(response.json()["error"], code);
    }
}

#[test]
fn online_evaluation_of_a_previous_hour_model_equals_the_previous_hour_baseline() {
    // The served model *is* the previous-hour baseline, so once an hour is final its served
    // forecast (corrected by every late trip) must score exactly like the baseline.
    let running = generated_job(4, 3600.0).start().unwrap();
    ready(&running);
    // The evaluation of a newly closed hour follows that hour's events by a few milliseconds.
    let started = std::time::Instant::now();
    let evaluation = loop {
        let evaluation = get(running.http(), "/v1/evaluation").json();
        if evaluation["forecasts_evaluated"].as_u64().unwrap() > 1000 {
            break evaluation;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{evaluation}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mae = evaluation["mae"].as_f64().unwrap();
    let baseline = evaluation["baselines"]["previous_hour"].as_f64().unwrap();
    assert!(
        (mae - baseline).abs() < 1e-9,
        "model {mae} vs baseline {baseline}"
    );
    for zone in evaluation["zones"].as_array().unwrap() {
        let (m, b) = (
            zone["mae"].as_f64().unwrap(),
            zone["baselines"]["previous_hour"].as_f64().unwrap(),
        );
        assert!((m - b).abs() < 1e-9, "zone {}: {m} vs {b}", zone["zone"]);
    }
}

#[test]
fn stream_delivers_every_forecast_change_in_order() {
    let running = generated_job(2, 7200.0).start().unwrap();
    // Past the backfill burst, so a slow test machine cannot lag the client into a `resync`.
    running.wait_for(Duration::from_secs(60), |s| {
        s["rows_read"].as_u64() > Some(6_300)
    });
    let doc = document();
    let schema = &doc["components"]["schemas"]["Prediction"];
    let mut client = SseClient::connect(running.http());
    let mut last_id = None;
    let mut revisions: BTreeMap<(u64, String), u64> = BTreeMap::new();
    let mut forecasts = 0;
    let mut statuses = 0;
    while forecasts < 400 {
        let event = client.next_event().expect("the stream stays open");
        match event.event.as_str() {
            "forecast" => {
                let id = event.id.expect("forecast events carry ids");
                if let Some(last) = last_id {
                    assert_eq!(id, last + 1, "ids are consecutive: no event lost");
                }
                last_id = Some(id);
                let body: Value = serde_json::from_str(&event.data).unwrap();
                validate(&doc, schema, &body).unwrap();
                let key = (
                    body["zone"].as_u64().unwrap(),
                    body["target_hour"].as_str().unwrap().to_string(),
                );
                let revision = body["revision"].as_u64().unwrap();
                if let Some(previous) = revisions.insert(key.clone(), revision) {
                    assert_eq!(revision, previous + 1, "{key:?}: revisions in order");
                }
                forecasts += 1;
            }
            "status" => statuses += 1,
            other => panic!("unexpected event {other}: {}", event.data),
        }
    }
    assert!(statuses > 0, "status events are interleaved");
    // What the stream said last is what the API serves (or the API is already further on).
    let ((zone, target), revision) = revisions.iter().next_back().unwrap();
    let served = get(
        running.http(),
        &format!("/v1/zones/{zone}/history?hours=72"),
    )
    .json();
    let hour = served["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hour"].as_str() == Some(target.as_str()))
        .expect("the hour is in the history");
    assert!(hour["revision"].as_u64().unwrap() >= *revision);
}

#[test]
fn a_reconnecting_client_gets_the_events_it_missed() {
    let running = generated_job(2, 7200.0).start().unwrap();
    // Past the backfill (6,000 trips, whose burst of events may outrun the replay buffer and
    // rightly end in a `resync`), into the paced live part.
    running.wait_for(Duration::from_secs(60), |s| {
        s["rows_read"].as_u64() > Some(6_300)
    });
    let next_forecast = |client: &mut SseClient| loop {
        let event = client.next_event().expect("stream open");
        if event.event == "forecast" {
            return event;
        }
    };
    let mut first = SseClient::connect(running.http());
    let seen = next_forecast(&mut first).id.unwrap();
    let later = (0..50).map(|_| next_forecast(&mut first)).last().unwrap();
    drop(first);
    // Reconnecting with the last id seen: the next event is the one right after it, and the
    // events up to what the first connection saw later are identical.
    let mut again = SseClient::resume(running.http(), Some(seen));
    let mut expected = seen + 1;
    loop {
        let event = next_forecast(&mut again);
        assert_eq!(event.id, Some(expected), "no gap, no repeat");
        if event.id == later.id {
            assert_eq!(event.data, later.data);
            break;
        }
        expected += 1;
    }
}

#[test]
fn sse_ids_from_another_start_or_the_future_get_resync_then_new_events() {
    let first = generated_job(2, 7200.0).start().unwrap();
    first.wait_for(Duration::from_secs(60), |s| s["ready"] == true);
    let mut client = SseClient::connect(first.http());
    let old_id = loop {
        let event = client.next_event().expect("stream open");
        if event.event == "forecast" {
            break event.id.unwrap();
        }
    };
    drop(client);
    first.stop();
    first.join().unwrap();
    // A restarted server: its ids begin after every id of the earlier start.
    let second = generated_job(2, 7200.0).start().unwrap();
    second.wait_for(Duration::from_secs(60), |s| s["ready"] == true);
    for last in [old_id, u64::MAX / 2] {
        let mut client = SseClient::resume(second.http(), Some(last));
        let first_event = client.next_event().expect("stream open");
        assert_eq!(first_event.event, "resync", "Last-Event-ID {last}");
        assert!(first_event.data.contains("unknown_event_id"));
        let forecast = loop {
            let event = client.next_event().expect("stream open");
            if event.event == "forecast" {
                break event;
            }
        };
        assert!(
            forecast.id.unwrap() > old_id,
            "new events follow the resync"
        );
    }
}

#[test]
fn head_requests_answer_like_get_without_a_body() {
    let running = generated_job(1, 300.0).start().unwrap();
    running.wait_for(Duration::from_secs(60), |s| s["ready"] == true);
    for path in ["/healthz", "/v1/status", "/v1/predictions", "/"] {
        let head = common::http::request(running.http(), "HEAD", path, &[], &[]);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body");
    }
    let post = common::http::request(running.http(), "DELETE", "/v1/status", &[], &[]);
    assert_eq!(post.status, 405);
}

fn model_bytes(baseline: Baseline) -> Vec<u8> {
    ModelFile::baseline(baseline, small_spec()).to_bytes()
}

#[test]
fn admin_model_swap_needs_the_token() {
    // Without a token the endpoint is disabled.
    let running = generated_job(2, 3600.0).start().unwrap();
    let body = model_bytes(Baseline::FourWeekMean);
    let response = request(running.http(), "POST", "/v1/admin/model", &[], &body);
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"], "forbidden");
    drop(running);

    let mut job = generated_job(2, 3600.0);
    job.admin_token = Some("s3cret-token".into());
    let running = job.start().unwrap();
    let before = ready(&running);
    let doc = document();
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        let r = request(running.http(), "POST", "/v1/admin/model", headers, body);
        conforms(&doc, "post", "/v1/admin/model", &r);
        r
    };
    assert_eq!(post(&[], &body).status, 401);
    assert_eq!(
        post(&[("Authorization", "Bearer wrong")], &body).status,
        401
    );
    assert_eq!(
        post(&[("Authorization", "s3cret-token")], &body).status,
        401
    );
    assert_eq!(
        post(&[("Authorization", "Bearer s3cret-tokenX")], &body).status,
        401
    );
    let auth = [("Authorization", "Bearer s3cret-token")];
    let garbage = post(&auth, b"not a model file");
    assert_eq!(garbage.status, 400);
    let mismatched = ModelFile::baseline(
        Baseline::FourWeekMean,
        zonecast::features::FeatureSpec::new(vec![1], 0),
    )
    .to_bytes();
    assert_eq!(post(&auth, &mismatched).status, 400);
    let accepted = post(&auth, &body);
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let version = accepted.json()["model_version"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(before["model_version"].as_str().unwrap(), version);
    let after = running.wait_for(Duration::from_secs(30), |s| {
        s["model_version"] == version.as_str()
    });
    assert_eq!(after["model_swaps_rejected"], 2);
    // After a successful swap the status names the new kind and no stale error.
    assert_eq!(after["model_kind"], "four_week_mean", "{after}");
    assert_eq!(after["last_model_error"], Value::Null, "{after}");
    let metrics = get(running.http(), "/metrics").text();
    assert!(metrics.contains("kind=\"four_week_mean\""), "{metrics}");
    // The scheme is case-insensitive.
    let lower = post(
        &[("Authorization", "bearer s3cret-token")],
        &model_bytes(Baseline::PreviousHour),
    );
    assert_eq!(lower.status, 202, "{}", lower.text());
    let list = get(running.http(), "/v1/predictions").json();
    assert!(list["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["model_version"] == version.as_str()));
}

#[test]
fn readiness_waits_for_the_first_forecasts() {
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::socket("127.0.0.1:0");
    let running = job.start().unwrap();
    let doc = document();
    let starting = get(running.http(), "/readyz");
    assert_eq!(starting.status, 503);
    assert_eq!(
        conforms(&doc, "get", "/readyz", &starting)["status"],
        "starting"
    );
    assert_eq!(get(running.http(), "/healthz").status, 200);
    assert_eq!(get(running.http(), "/v1/predictions/4").status, 404);
    let mut client = std::net::TcpStream::connect(running.socket_addr().unwrap()).unwrap();
    writeln!(
        client,
        "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount"
    )
    .unwrap();
    for minute in 0..(6 * 60) {
        let (h, m) = (minute / 60, minute % 60);
        writeln!(
            client,
            "2024-05-01 {h:02}:{m:02}:00,{},1.0,5.0,7.0",
            4 + minute % 3
        )
        .unwrap();
    }
    client.flush().unwrap();
    running.wait_for(Duration::from_secs(30), |s| s["ready"] == true);
    assert_eq!(get(running.http(), "/readyz").status, 200);
    let one = get(running.http(), "/v1/predictions/4").json();
    assert_eq!(one["zone"], 4);
    assert_eq!(one["zone_name"], "Zone 4");
}

/// Staleness is visible: an idle socket with one trip every 300 ms has each trip reflected in
/// `/v1/status` well within a second, `staleness_seconds` is back to 0 once it is served, and
/// the event-time lag is reported (and in `/metrics`).
#[test]
fn an_idle_socket_trip_is_reflected_promptly_and_staleness_is_reported() {
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::socket("127.0.0.1:0");
    let running = job.start().unwrap();
    running.http();
    let mut client = std::net::TcpStream::connect(running.socket_addr().unwrap()).unwrap();
    writeln!(
        client,
        "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount"
    )
    .unwrap();
    let mut slowest = Duration::ZERO;
    for i in 0..5u32 {
        let sent = std::time::Instant::now();
        writeln!(
            client,
            "2024-05-01 10:{:02}:00,{},1.0,5.0,7.0",
            i * 5,
            4 + i
        )
        .unwrap();
        client.flush().unwrap();
        running.wait_for(Duration::from_secs(10), |s| {
            s["rows_read"].as_u64() == Some(u64::from(i) + 1)
        });
        slowest = slowest.max(sent.elapsed());
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("slowest trip reflected in /v1/status after {slowest:?}");
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    let status = running.wait_for(Duration::from_secs(10), |s| {
        s["staleness_seconds"].as_f64() == Some(0.0)
    });
    assert_eq!(status["event_time_lag_seconds"], 0, "{status}");
    let metrics = get(running.http(), "/metrics").text();
    assert!(
        metrics.contains("zonecast_staleness_seconds 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("zonecast_event_time_lag_seconds 0"),
        "{metrics}"
    );
}

/// A malformed `Last-Event-ID` is the client's mistake: 400 with a JSON error, not 500.
#[test]
fn a_malformed_last_event_id_is_a_bad_request() {
    let running = generated_job(2, 3600.0).start().unwrap();
    let response = request(
        running.http(),
        "GET",
        "/v1/stream",
        &[("Last-Event-ID", "abc")],
        b"",
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.json()["error"], "bad_request");
}
