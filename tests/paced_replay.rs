//! Paced replay closes epochs on the clock: the served state moves several times a second at
//! a real trip rate, and the final table, counts and forecasts equal unpaced replay's (only
//! the epoch boundaries differ), on seeded input with late, out-of-order and bad rows and on
//! the real green-taxi month.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::http::get;
use common::live::Served;
use zonecast::dataflows::aggregate::{AggregateJob, AggregateOutcome};
use zonecast::dataflows::forecast::ForecastPolicy;
use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::jobs::{JobUpdate, Source};
use zonecast::model::{Baseline, ModelFile};
use zonecast::runtime::Cluster;
use zonecast::sources::plan::ReplayOrder;
use zonecast::time::Span;

/// A generated month-like file with bad rows spliced in at a few positions.
fn seeded_file(dir: &Path) -> PathBuf {
    let path = dir.join("trips.csv");
    common::generate(&path, 20_000, 4, 31);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let pickup = lines[0]
        .split(',')
        .position(|c| c == "tpep_pickup_datetime")
        .unwrap();
    let mut fields: Vec<&str> = lines[1].split(',').collect();
    fields[pickup] = "not a time";
    let bad = fields.join(",");
    // Rows from the first day delivered at the end: days late.
    let moved: Vec<String> = lines.drain(100..160).collect();
    let end = lines.len() - 50;
    lines.splice(end..end, moved);
    for at in [2, 5_000, 12_345, lines.len() - 1] {
        lines.insert(at, bad.clone());
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The aggregate of `source` on `workers` workers, with how many epochs it published.
fn aggregate(source: Source, workers: usize) -> (AggregateOutcome, usize) {
    let mut job = AggregateJob::new(source);
    job.policy.allowed_lateness = Span::from_secs(3_600);
    job.cluster = Cluster::threads(workers);
    let handle = job.start().unwrap();
    let subscription = handle.subscribe().unwrap();
    let reader = std::thread::spawn(move || {
        subscription
            .filter(|u| matches!(u, JobUpdate::Epoch(e) if e.status.rows_read > 0))
            .count()
    });
    let outcome = handle.join().unwrap().unwrap();
    (outcome, reader.join().unwrap())
}

fn assert_same(paced: &AggregateOutcome, unpaced: &AggregateOutcome, what: &str) {
    assert_eq!(paced.table.rows(), unpaced.table.rows(), "{what}: table");
    assert_eq!(paced.report.rows_read, unpaced.report.rows_read, "{what}");
    assert_eq!(paced.report.accepted, unpaced.report.accepted, "{what}");
    assert_eq!(paced.report.late, unpaced.report.late, "{what}: late rows");
    assert_eq!(
        paced.report.rejected_by_reason, unpaced.report.rejected_by_reason,
        "{what}: rejects"
    );
}

#[test]
fn paced_replay_ends_with_the_unpaced_table_on_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded_file(dir.path());
    for order in [ReplayOrder::File, ReplayOrder::Sorted] {
        let files = Source::files([path.clone()]).with_order(order);
        let (unpaced, _) = aggregate(files.clone(), 1);
        let (late, rejected) = (unpaced.report.late, unpaced.report.rejected());
        let in_file_order = order == ReplayOrder::File;
        assert!(
            rejected == 4 && (late > 0) == in_file_order,
            "{late} late, {rejected} rejected"
        );
        for workers in [1, 2, 4] {
            // Four days in about a second: many epochs, each closed by the clock.
            let paced = files.clone().with_speed(Some(4.0 * 86_400.0));
            let (outcome, epochs) = aggregate(paced, workers);
            assert_same(&outcome, &unpaced, &format!("{order:?}, {workers} workers"));
            assert!(
                epochs > 20,
                "{epochs} epochs: paced epochs close on the clock"
            );
        }
    }
}

#[test]
fn paced_replay_of_the_green_month_ends_with_the_unpaced_table_and_forecasts() {
    let Some(path) = common::data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let files = Source::files([path]);
    let (unpaced, _) = aggregate(files.clone(), 2);
    // The month in about three seconds.
    let (paced, epochs) = aggregate(files.clone().with_speed(Some(1e6)), 2);
    assert_same(&paced, &unpaced, "green month");
    assert!(epochs > 50, "{epochs} epochs");
    // The live job serves the same final forecasts.
    let finals = |source: Source| {
        let model = ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::default());
        let mut job = LiveJob::new(model);
        job.source = source;
        job.cluster = Cluster::threads(2);
        job.exit_at_end = true;
        let handle = job.start().unwrap();
        let subscription = handle.subscribe().unwrap();
        let reader = std::thread::spawn(move || final_forecasts(subscription));
        handle.join().unwrap();
        reader.join().unwrap()
    };
    let expected = finals(files.clone());
    let paced = finals(files.with_speed(Some(1e6)));
    // Forecasts the job still corrects (targets within its retention of the last hour) are
    // the same; older ones were frozen when they left the window, at an epoch boundary.
    let last = expected.keys().map(|k| k.1).max().unwrap();
    let keep_from = last - ForecastPolicy::for_spec(FeatureSpec::default()).retention_hours() + 1;
    let recent = |all: BTreeMap<(u16, i64), (i64, bool)>| {
        all.into_iter()
            .filter(|(k, _)| k.1 >= keep_from)
            .collect::<BTreeMap<_, _>>()
    };
    let (expected, paced) = (recent(expected), recent(paced));
    assert!(expected.len() > 5000, "{}", expected.len());
    let differ: Vec<_> = expected
        .iter()
        .filter(|(k, v)| paced.get(k) != Some(v))
        .map(|(k, v)| (*k, *v, paced.get(k).copied()))
        .collect();
    let extra = paced.keys().filter(|k| !expected.contains_key(k)).count();
    assert!(
        differ.is_empty() && extra == 0,
        "{} of {} forecasts differ (first: {:?}), {extra} extra",
        differ.len(),
        expected.len(),
        differ.first()
    );
}

/// The forecasts a subscriber holds at the end: `(zone, target hour)` -> (milli-pickups, fallback).
fn final_forecasts(updates: impl Iterator<Item = JobUpdate>) -> BTreeMap<(u16, i64), (i64, bool)> {
    let mut held = BTreeMap::new();
    for update in updates {
        match update {
            JobUpdate::Resync(state) => {
                held = state
                    .forecasts
                    .iter()
                    .map(|f| ((f.zone, f.target_hour), (f.milli_pickups, f.fallback)))
                    .collect();
            }
            JobUpdate::Lagged { .. } => {}
            JobUpdate::Epoch(e) => {
                for (f, d) in &e.forecasts {
                    let (key, value) = ((f.zone, f.target_hour), (f.milli_pickups, f.fallback));
                    if *d < 0 && held.get(&key) == Some(&value) {
                        held.remove(&key);
                    }
                }
                for (f, d) in &e.forecasts {
                    if *d > 0 {
                        held.insert((f.zone, f.target_hour), (f.milli_pickups, f.fallback));
                    }
                }
            }
        }
    }
    held
}

/// `as_of` of a status body, in naive seconds.
fn as_of(status: &serde_json::Value) -> Option<i64> {
    status["as_of"]
        .as_str()
        .map(|s| zonecast::time::parse_naive(s.as_bytes()).unwrap())
}

#[test]
fn paced_replay_of_the_green_month_at_3600x_moves_the_served_clock_every_second() {
    let Some(path) = common::data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let model = ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::default());
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::files([path])
        .with_order(ReplayOrder::Sorted)
        .with_speed(Some(3600.0));
    job.cluster = Cluster::threads(2);
    let running = job.start().unwrap();
    running.wait_for(Duration::from_secs(60), |s| !s["as_of"].is_null());
    let started = Instant::now();
    let mut changes = [0usize; 10];
    let mut lags = Vec::new();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(10) {
        let status = get(running.http(), "/v1/status").json();
        let second = (started.elapsed().as_secs() as usize).min(9);
        let now = as_of(&status);
        if now != last {
            changes[second] += 1;
            last = now;
        }
        lags.push(status["event_time_lag_seconds"].as_i64().unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    }
    running.stop();
    assert!(
        changes.iter().all(|&c| c >= 5),
        "as_of changes per second: {changes:?}"
    );
    lags.sort_unstable();
    let p99 = lags[lags.len() * 99 / 100];
    assert!(
        p99 <= 120,
        "the served state trails the replay by {p99} s of event time (p99)"
    );
}
