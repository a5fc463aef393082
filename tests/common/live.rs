//! Live jobs in the tests: a generated stream and a small spec in; a job to start, and
//! queries on a started job's HTTP server (its address, status polling) out. Jobs start and
//! stop through their own handles.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::jobs::{JobHandle, Source};
use zonecast::model::{Baseline, ModelFile};
use zonecast::sources::generated::GeneratedInput;
use zonecast::time::days_from_civil;

use super::http::get;

/// Queries on a started job that serves HTTP.
pub trait Served {
    /// The HTTP address (waits up to a minute for the job to be ready).
    fn http(&self) -> SocketAddr;
    /// Polls `/v1/status` until `check` holds (panics after `limit`).
    fn wait_for(
        &self,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value;
}

impl<O: Send + 'static> Served for JobHandle<O> {
    fn http(&self) -> SocketAddr {
        self.wait_ready(Duration::from_secs(60))
            .expect("the job starts")
            .http
            .expect("the job serves HTTP")
    }

    fn wait_for(
        &self,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait_status_for(self.http(), limit, "the status", check)
    }
}

/// A small spec for fast tests: the last 3 hours and the same hour yesterday.
pub fn small_spec() -> FeatureSpec {
    FeatureSpec::new(vec![1, 2, 3, 24], 0)
}

/// A generated stream: `history_days` backfilled, then live at `speed`.
pub fn generated(history_days: u32, speed: f64) -> GeneratedInput {
    let start = days_from_civil(2024, 3, 4) * 86_400;
    GeneratedInput::backfill_then_live(7, start, history_days, 3_000, speed)
}

/// A live job over a generated stream with a previous-hour model, HTTP on port 0.
pub fn generated_job(history_days: u32, speed: f64) -> LiveJob {
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::Generated(generated(history_days, speed));
    job
}

/// Pushes `hours` hours of rows (20 per hour over 50 zones) starting at hour `from`.
pub fn push_hours(sender: &zonecast::sources::channel::TripSender, from: i64, hours: i64) {
    use zonecast::sources::trip_row::TripRow;
    let rows: Vec<TripRow> = (from..from + hours)
        .flat_map(|h| {
            (0..20).map(move |i| {
                let at = zonecast::time::format_naive(h * 3600 + i * 170);
                TripRow::new(at, 1 + (h * 7 + i) % 50)
            })
        })
        .collect();
    sender.push(rows).unwrap();
}

pub fn served_status(http: SocketAddr) -> serde_json::Value {
    get(http, "/v1/status").json()
}

/// Polls `/v1/status` at `http` until `check` holds (panics after a minute, naming `what`).
pub fn wait_status(
    http: SocketAddr,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_status_for(http, Duration::from_secs(60), what, check)
}

/// Polls `/v1/status` at `http` until `check` holds (panics after `limit`, naming `what`).
pub fn wait_status_for(
    http: SocketAddr,
    limit: Duration,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let status = served_status(http);
        if check(&status) {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: timed out; last status {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A serving job fed through a push channel, checkpointing every 100 ms into `state`, with
/// the previous-hour baseline on lags 1 and 24 (`configure` changes anything else first).
pub fn pushed_job(
    state: &std::path::Path,
    configure: impl FnOnce(&mut LiveJob),
) -> (
    JobHandle<zonecast::dataflows::live::LiveOutcome>,
    SocketAddr,
    zonecast::sources::channel::TripSender,
) {
    let model = ModelFile::baseline(Baseline::PreviousHour, FeatureSpec::new(vec![1, 24], 0));
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    let (source, sender) = Source::channel(zonecast::sources::channel::ChannelOptions::default());
    job.source = source;
    job.state_dir = Some(state.to_path_buf());
    job.checkpoint_interval = Duration::from_millis(100);
    configure(&mut job);
    let handle = job.start().unwrap();
    let http = handle.http();
    (handle, http, sender)
}
