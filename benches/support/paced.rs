//! Paced-replay staleness: a file replayed at a pace (e.g. the green month at 3600x) in; for
//! `secs` seconds, `/v1/status` polled every 10 ms out: how often `as_of` moved, the wall-clock
//! staleness (age of the oldest row read and not yet served) and the event-time lag.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::jobs::Source;
use zonecast::model::{Baseline, ModelFile};
use zonecast::sources::plan::ReplayOrder;

use super::{percentile, status};

/// What a paced replay showed.
pub struct PacedFigures {
    pub samples: usize,
    pub as_of_changes_per_sec: f64,
    pub fewest_changes_in_a_second: usize,
    pub staleness_p50_ms: f64,
    pub staleness_p99_ms: f64,
    pub lag_p99_secs: f64,
}

/// Replays `file` in `order` at `speed` on 2 workers and samples the status for `secs`.
pub fn measure(file: &Path, order: ReplayOrder, speed: f64, secs: u64) -> PacedFigures {
    let model = ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::default());
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::files([file])
        .with_order(order)
        .with_speed(Some(speed));
    job.cluster = zonecast::runtime::Cluster::threads(2);
    let handle = job.start().unwrap();
    let http = handle
        .wait_ready(Duration::from_secs(120))
        .unwrap()
        .http
        .unwrap();
    while status(http)["as_of"].is_null() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let mut per_second = vec![0usize; secs as usize];
    let (mut staleness, mut lags) = (Vec::new(), Vec::new());
    let mut last = None;
    while started.elapsed() < Duration::from_secs(secs) {
        let s = status(http);
        let second = (started.elapsed().as_secs() as usize).min(per_second.len() - 1);
        if Some(&s["as_of"]) != last.as_ref() {
            per_second[second] += 1;
            last = Some(s["as_of"].clone());
        }
        staleness.push(s["staleness_seconds"].as_f64().unwrap_or(0.0) * 1000.0);
        lags.push(s["event_time_lag_seconds"].as_f64().unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(10));
    }
    handle.stop();
    handle.join().unwrap();
    staleness.sort_by(|a, b| a.partial_cmp(b).unwrap());
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    PacedFigures {
        samples: staleness.len(),
        as_of_changes_per_sec: per_second.iter().sum::<usize>() as f64 / secs as f64,
        fewest_changes_in_a_second: per_second.iter().copied().min().unwrap_or(0),
        staleness_p50_ms: percentile(&staleness, 0.5),
        staleness_p99_ms: percentile(&staleness, 0.99),
        lag_p99_secs: percentile(&lags, 0.99),
    }
}
