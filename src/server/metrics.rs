//! Prometheus metrics: the snapshot's counters and the server's own request timings in, the
//! text exposition format (version 0.0.4) out.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::snapshot::Snapshot;

/// The routes requests are counted under.
pub const ROUTES: [&str; 13] = [
    "predictions",
    "prediction",
    "history",
    "evaluation",
    "status",
    "stream",
    "healthz",
    "readyz",
    "metrics",
    "openapi",
    "dashboard",
    "admin_model",
    "other",
];

/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Status classes counted per route.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

#[derive(Default)]
struct RouteMetrics {
    by_class: [AtomicU64; 4],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Request counts and latency histograms per route (lock-free).
pub struct HttpMetrics {
    routes: Vec<RouteMetrics>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            routes: ROUTES.iter().map(|_| RouteMetrics::default()).collect(),
        }
    }
}

/// The route a request path is counted under.
pub fn route_of(path: &str) -> usize {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match segments.as_slice() {
        ["v1", "predictions"] => "predictions",
        ["v1", "predictions", _] => "prediction",
        ["v1", "zones", _, "history"] => "history",
        ["v1", "evaluation"] => "evaluation",
        ["v1", "status"] => "status",
        ["v1", "stream"] => "stream",
        ["healthz"] => "healthz",
        ["readyz"] => "readyz",
        ["metrics"] => "metrics",
        ["openapi.json"] => "openapi",
        [""] => "dashboard",
        ["v1", "admin", "model"] => "admin_model",
        _ => "other",
    };
    ROUTES.iter().position(|r| *r == name).expect("known route")
}

impl HttpMetrics {
    /// Records one request.
    pub fn observe(&self, path: &str, status: u16, elapsed: Duration) {
        let route = &self.routes[route_of(path)];
        let class = ((status / 100).clamp(2, 5) - 2) as usize;
        route.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            route.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        route.count.fetch_add(1, Ordering::Relaxed);
        route
            .sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Requests answered so far on `route` with a status of `class` (e.g. `"2xx"`).
    pub fn requests(&self, route: &str, class: &str) -> u64 {
        let (Some(r), Some(c)) = (
            ROUTES.iter().position(|x| *x == route),
            CLASSES.iter().position(|x| *x == class),
        ) else {
            return 0;
        };
        self.routes[r].by_class[c].load(Ordering::Relaxed)
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Extra gauges the job reports.
#[derive(Clone, Debug, Default)]
pub struct JobGauges {
    /// (zone, hour) keys the aggregates hold, all workers of this process.
    pub aggregate_keys: u64,
    /// Clients connected to `/v1/stream`.
    pub sse_clients: u64,
    /// Model files rejected.
    pub models_rejected: u64,
    /// Scoring batches an external model failed (the baseline served them).
    pub model_errors: u64,
    /// The serving model's kind.
    pub model_kind: String,
    /// Wall-clock seconds the oldest row read but not yet served has waited.
    pub staleness_seconds: f64,
    /// Event-time seconds from the newest pickup served to the newest pickup read.
    pub event_time_lag_seconds: Option<i64>,
    /// The rejects log's records written, records lost and whether it is failing.
    pub rejects_log: Option<(u64, u64, bool)>,
    /// Checkpoints and the write-ahead log (`--state-dir`).
    pub checkpoint: Option<super::api::CheckpointReport>,
}

/// The whole exposition.
pub fn render(snapshot: &Snapshot, http: &HttpMetrics, gauges: &JobGauges) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let c = &snapshot.counters;
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    };
    counter(
        &mut out,
        "zonecast_rows_read_total",
        "Rows read from every source.",
        c.rows_read,
    );
    counter(
        &mut out,
        "zonecast_rows_accepted_total",
        "Rows aggregated.",
        c.accepted,
    );
    counter(
        &mut out,
        "zonecast_rows_late_total",
        "Rows set aside as later than the allowed lateness.",
        c.late,
    );
    family(
        &mut out,
        "zonecast_rows_rejected_total",
        "counter",
        "Rows rejected, by reason.",
    );
    let _ = writeln!(
        out,
        "zonecast_rows_rejected_total{{reason=\"all\"}} {}",
        c.rejected()
    );
    for (reason, n) in &c.rejected_by_reason {
        let _ = writeln!(
            out,
            "zonecast_rows_rejected_total{{reason=\"{}\"}} {n}",
            label(reason)
        );
    }
    counter(
        &mut out,
        "zonecast_forecasts_updated_total",
        "Forecasts published (new or changed).",
        c.forecasts_updated,
    );
    counter(
        &mut out,
        "zonecast_forecasts_corrected_total",
        "Forecasts changed after first being published.",
        c.forecasts_corrected,
    );
    counter(
        &mut out,
        "zonecast_epochs_total",
        "Epochs applied to the serving state.",
        c.epochs,
    );
    counter(
        &mut out,
        "zonecast_model_swaps_rejected_total",
        "Model files rejected (the old model kept serving).",
        gauges.models_rejected,
    );
    counter(
        &mut out,
        "zonecast_model_errors_total",
        "Scoring batches an external (Python) model failed; the four_week_mean baseline served them.",
        gauges.model_errors,
    );
    if let Some((written, lost, _)) = gauges.rejects_log {
        counter(
            &mut out,
            "zonecast_rejects_log_written_total",
            "Rejected and late rows written to the rejects log.",
            written,
        );
        counter(
            &mut out,
            "zonecast_rejects_log_lost_total",
            "Rejected and late rows the rejects log could not write (full or read-only disk).",
            lost,
        );
    }
    if let Some(c) = &gauges.checkpoint {
        counter(
            &mut out,
            "zonecast_checkpoints_written_total",
            "Checkpoints written to the state folder.",
            c.written,
        );
        counter(
            &mut out,
            "zonecast_checkpoints_failed_total",
            "Checkpoints that could not be written (full or read-only disk).",
            c.failed,
        );
        counter(
            &mut out,
            "zonecast_wal_failures_total",
            "Tail epochs the write-ahead log could not make durable.",
            c.wal_failures,
        );
    }
    let gauge = |out: &mut String, name: &str, help: &str, value: String| {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    };
    if let Some(c) = &gauges.checkpoint {
        let epoch = c.epoch.map_or("NaN".to_string(), |e| e.to_string());
        gauge(
            &mut out,
            "zonecast_checkpoint_epoch",
            "Epoch of the latest checkpoint.",
            epoch,
        );
        let age = c
            .age_seconds
            .map_or("NaN".to_string(), |a| format!("{a:.3}"));
        gauge(
            &mut out,
            "zonecast_checkpoint_age_seconds",
            "Seconds since the latest checkpoint was taken.",
            age,
        );
        gauge(
            &mut out,
            "zonecast_checkpoint_bytes",
            "Size of the latest checkpoint.",
            c.bytes.to_string(),
        );
        gauge(
            &mut out,
            "zonecast_checkpoint_duration_seconds",
            "Time encoding and writing the latest checkpoint took.",
            format!("{:.6}", c.duration_ms / 1000.0),
        );
        gauge(
            &mut out,
            "zonecast_checkpoint_failing",
            "1 while checkpoints or the write-ahead log are failing.",
            u8::from(c.failing).to_string(),
        );
        gauge(
            &mut out,
            "zonecast_wal_bytes",
            "Bytes in the write-ahead log.",
            c.wal_bytes.to_string(),
        );
    }
    let opt = |v: Option<i64>| v.map_or("NaN".to_string(), |v| v.to_string());
    gauge(
        &mut out,
        "zonecast_watermark_seconds",
        "The watermark, event time (naive NYC seconds since 1970).",
        opt(snapshot.watermark),
    );
    gauge(
        &mut out,
        "zonecast_watermark_lag_seconds",
        "Event time from the watermark to the latest pickup seen.",
        opt(snapshot.watermark_lag_seconds),
    );
    gauge(
        &mut out,
        "zonecast_staleness_seconds",
        "Wall-clock seconds the oldest row read but not yet served has waited (0: all served).",
        format!("{}", gauges.staleness_seconds),
    );
    gauge(
        &mut out,
        "zonecast_event_time_lag_seconds",
        "Event time from the newest pickup served to the newest pickup read.",
        opt(gauges.event_time_lag_seconds),
    );
    if let Some((_, _, failing)) = gauges.rejects_log {
        gauge(
            &mut out,
            "zonecast_rejects_log_failing",
            "1 while the last write of the rejects log failed.",
            u8::from(failing).to_string(),
        );
    }
    gauge(
        &mut out,
        "zonecast_epoch",
        "The last epoch applied.",
        snapshot.epoch.to_string(),
    );
    gauge(
        &mut out,
        "zonecast_events_per_second",
        "Rows read per second, recently.",
        format!("{:.1}", snapshot.events_per_second),
    );
    gauge(
        &mut out,
        "zonecast_state_forecasts",
        "Forecasts held by the serving state.",
        snapshot.forecast_count.to_string(),
    );
    gauge(
        &mut out,
        "zonecast_state_aggregate_keys",
        "(zone, hour) keys held by the aggregates.",
        gauges.aggregate_keys.to_string(),
    );
    gauge(
        &mut out,
        "zonecast_sse_clients",
        "Clients connected to /v1/stream.",
        gauges.sse_clients.to_string(),
    );
    gauge(
        &mut out,
        "zonecast_online_mae",
        "Online MAE of the served forecasts over the last 24 final hours.",
        snapshot.mae.map_or("NaN".into(), |m| format!("{m:.4}")),
    );
    family(
        &mut out,
        "zonecast_model_info",
        "gauge",
        "The model serving now.",
    );
    let _ = writeln!(
        out,
        "zonecast_model_info{{version=\"{}\",kind=\"{}\"}} 1",
        label(&snapshot.model_version),
        label(&gauges.model_kind)
    );
    family(
        &mut out,
        "zonecast_http_requests_total",
        "counter",
        "HTTP requests answered, by route and status class.",
    );
    for (name, route) in ROUTES.iter().zip(&http.routes) {
        for (class, n) in CLASSES.iter().zip(&route.by_class) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "zonecast_http_requests_total{{route=\"{name}\",code=\"{class}\"}} {n}"
                );
            }
        }
    }
    family(
        &mut out,
        "zonecast_http_request_duration_seconds",
        "histogram",
        "Time to answer HTTP requests, by route.",
    );
    for (name, route) in ROUTES.iter().zip(&http.routes) {
        let count = route.count.load(Ordering::Relaxed);
        if count == 0 {
            continue;
        }
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&route.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "zonecast_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "zonecast_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
        );
        let sum = route.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "zonecast_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "zonecast_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(ROUTES[route_of("/v1/predictions/12")], "prediction");
        assert_eq!(ROUTES[route_of("/v1/zones/12/history")], "history");
        assert_eq!(ROUTES[route_of("/")], "dashboard");
        assert_eq!(ROUTES[route_of("/nope/x")], "other");
    }

    #[test]
    fn histogram_is_cumulative() {
        let http = HttpMetrics::default();
        http.observe("/healthz", 200, Duration::from_micros(50));
        http.observe("/healthz", 200, Duration::from_millis(3));
        http.observe("/healthz", 404, Duration::from_secs(2));
        let text = render(&Snapshot::default(), &http, &JobGauges::default());
        assert!(text.contains(
            "zonecast_http_request_duration_seconds_bucket{route=\"healthz\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "zonecast_http_request_duration_seconds_bucket{route=\"healthz\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "zonecast_http_request_duration_seconds_bucket{route=\"healthz\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("zonecast_http_requests_total{route=\"healthz\",code=\"4xx\"} 1"));
    }
}
