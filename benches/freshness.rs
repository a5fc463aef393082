//! Freshness of served forecasts, three measurements:
//! 1. per trip: trips sent over the socket at 1k, 10k and 50k events/s in; the time from
//!    sending a trip to its changed forecast arriving over `/v1/stream` out (p50, p99, max);
//! 2. the hour turn ([`support::hour_turn`]): the first trip of a new hour sent -> that hour's
//!    first forecast event, at the same rates;
//! 3. paced replay ([`support::paced`]): the green month (or a generated one) at 3600x, how
//!    often the served `as_of` moves and how stale the served state is.
//!
//! The publisher stores the snapshot before it sends the event, so the HTTP endpoints show
//! the change no later than the stream does.
//!
//! Per trip: background trips fall in the hour in progress (they change counts, not forecasts); every
//! 10 ms a probe trip for the previous hour goes to the next zone in turn, which changes exactly
//! that zone's forecast for the hour in progress (lag 1). Run:
//! `cargo bench --bench freshness -- [rates...]` (default `1000 10000 50000`;
//! `FRESHNESS_SECS` per rate, default 10; `FRESHNESS_TURNS` hour turns per rate, default 30;
//! `FRESHNESS_PARTS=trip,turn,paced` to pick the measurements; `FRESHNESS_STATE_DIR=1` runs
//! the per-trip part with checkpoints and the write-ahead log).

#[path = "support/mod.rs"]
mod support;

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{follow_forecasts, percentile, wait_for};
use zonecast::dataflows::live::LiveJob;
use zonecast::features::history::PickupHistory;
use zonecast::features::FeatureSpec;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::jobs::{SocketSource, Source};
use zonecast::model::train::{train, TrainConfig};
use zonecast::model::ModelKind;
use zonecast::sources::plan::ReplayOrder;
use zonecast::time::{format_naive, hour_of, parse_naive};

const HEADER: &str = "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount";

fn history() -> (PathBuf, PickupHistory) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("freshness_history.csv");
    let config = GeneratorConfig {
        trips: 150_000,
        days: 3,
        seed: 3,
        ..GeneratorConfig::default()
    };
    write_trips(&path, TripGenerator::new(config.clone())).unwrap();
    let mut history = PickupHistory::new();
    for t in TripGenerator::new(config) {
        let (zone, hour) = (t.pickup_zone, hour_of(t.pickup));
        history.add_zone(zone);
        let n = history.get(zone, hour).unwrap_or(0);
        history.set(zone, hour, n + 1);
    }
    (path, history)
}

fn main() {
    let rates: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rates = if rates.is_empty() {
        vec![1_000, 10_000, 50_000]
    } else {
        rates
    };
    let secs: u64 = std::env::var("FRESHNESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (path, history) = history();
    let mut config = TrainConfig::new(history.last_hour().unwrap() + 1);
    config.kind = ModelKind::Ridge;
    config.spec = FeatureSpec::new(FeatureSpec::parse_lags("1-6,24").unwrap(), 0);
    config.validation_hours = Some(12);
    let model = train(&history, &config, &mut |_| {}).unwrap().model;
    let parts = std::env::var("FRESHNESS_PARTS").unwrap_or_else(|_| "trip,turn,paced".into());
    if parts.contains("trip") {
        per_trip(&path, model.clone(), &rates, secs);
    }
    if parts.contains("turn") {
        hour_turns(&path, &rates, model);
    }
    if parts.contains("paced") {
        paced_replay(secs);
    }
}

fn per_trip(path: &std::path::Path, model: zonecast::model::ModelFile, rates: &[u64], secs: u64) {
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::files([path]).then(Source::Socket(SocketSource {
        batch_interval: Duration::from_millis(1),
        ..SocketSource::new("127.0.0.1:0")
    }));
    job.cluster = zonecast::runtime::Cluster::threads(2);
    // FRESHNESS_STATE_DIR=1: the same with checkpoints (every 10 s) and the write-ahead log.
    let state = std::env::var_os("FRESHNESS_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(|_| tempfile::tempdir().unwrap());
    job.state_dir = state.as_ref().map(|d| d.path().to_path_buf());
    let handle = job.start().unwrap();
    let ready = handle.wait_ready(Duration::from_secs(120)).unwrap();
    let http = ready.http.unwrap();
    wait_for(http, |s| s["rows_read"] == 150_000 && s["ready"] == true);
    std::thread::sleep(Duration::from_millis(500));
    let status = support::status(http);
    let as_of = status["as_of"].as_str().unwrap().replace('T', " ");
    let hour = hour_of(parse_naive(as_of.as_bytes()).unwrap());
    let target = format_naive(hour * 3600).replace(' ', "T");
    let zones: Vec<u16> = (1..=263).collect();
    // Outstanding probes by zone, and the measured latencies.
    let outstanding: Arc<Mutex<HashMap<u16, VecDeque<Instant>>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    {
        let (outstanding, latencies, target) =
            (outstanding.clone(), latencies.clone(), target.clone());
        follow_forecasts(http, move |data| {
            let now = Instant::now();
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            if v["target_hour"].as_str() != Some(target.as_str()) {
                return;
            }
            let zone = v["zone"].as_u64().unwrap() as u16;
            if let Some(sent) = outstanding
                .lock()
                .unwrap()
                .get_mut(&zone)
                .and_then(|q| q.pop_front())
            {
                latencies
                    .lock()
                    .unwrap()
                    .push((now - sent).as_secs_f64() * 1000.0);
            }
        });
    }
    std::thread::sleep(Duration::from_millis(200));
    let socket = ready.socket.unwrap();
    let durable = if state.is_some() {
        ", with --state-dir"
    } else {
        ""
    };
    println!("freshness: send a trip over the socket -> its changed forecast on /v1/stream ({secs} s per rate, 2 workers{durable})");
    println!(
        "{:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "rate/s", "sent/s", "probes", "matched", "p50 ms", "p99 ms", "max ms"
    );
    let mut probe_line = 0u64;
    for &rate in rates {
        latencies.lock().unwrap().clear();
        outstanding.lock().unwrap().clear();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let background = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(socket).unwrap();
            stream.set_nodelay(true).unwrap();
            writeln!(stream, "{HEADER}").unwrap();
            let lines: Vec<String> = (0..3000)
                .map(|i| {
                    format!(
                        "{},{},1.20,7.50,11.30\n",
                        format_naive(hour * 3600 + 600 + i % 2400),
                        1 + (i * 7919) % 263
                    )
                })
                .collect();
            let started = Instant::now();
            let mut sent = 0u64;
            let mut buffer = String::new();
            while !flag.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                buffer.clear();
                while sent < due {
                    buffer.push_str(&lines[(sent % 3000) as usize]);
                    sent += 1;
                }
                if !buffer.is_empty() {
                    stream.write_all(buffer.as_bytes()).unwrap();
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            sent as f64 / started.elapsed().as_secs_f64()
        });
        let mut probes = TcpStream::connect(socket).unwrap();
        probes.set_nodelay(true).unwrap();
        writeln!(probes, "{HEADER}").unwrap();
        let started = Instant::now();
        let mut sent_probes = 0;
        std::thread::sleep(Duration::from_millis(300));
        while started.elapsed() < Duration::from_secs(secs) {
            let zone = zones[(probe_line % zones.len() as u64) as usize];
            probe_line += 1;
            let line = format!(
                "{},{zone},0.90,6.00,9.80\n",
                format_naive((hour - 1) * 3600 + 1800)
            );
            outstanding
                .lock()
                .unwrap()
                .entry(zone)
                .or_default()
                .push_back(Instant::now());
            probes.write_all(line.as_bytes()).unwrap();
            sent_probes += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let achieved = background.join().unwrap();
        let mut l = latencies.lock().unwrap().clone();
        l.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{:>10} {:>10.0} {:>8} {:>9} {:>9.2} {:>9.2} {:>9.2}",
            rate,
            achieved,
            sent_probes,
            l.len(),
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l.last().copied().unwrap_or(f64::NAN)
        );
    }
    let status = support::status(http);
    println!(
        "rows read {} (rejected {}, late {})",
        status["rows_read"], status["rejected"], status["late"]
    );
    handle.stop();
    handle.join().unwrap();
}

fn hour_turns(history: &std::path::Path, rates: &[u64], model: zonecast::model::ModelFile) {
    let turns: u64 = std::env::var("FRESHNESS_TURNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let first_day = GeneratorConfig::default().start + 3 * 86_400;
    println!();
    println!("hour turn: first trip of a new hour sent -> that hour's first forecast event on /v1/stream");
    println!("({turns} turns per rate, trips in pickup order, --allowed-lateness 0s, 1 ms socket epochs, 2 workers)");
    println!(
        "{:>10} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "rate/s", "sent/s", "turns", "p50 ms", "p99 ms", "max ms"
    );
    for f in support::hour_turn::measure(history, first_day, model, rates, turns) {
        println!(
            "{:>10} {:>10.0} {:>8} {:>9.2} {:>9.2} {:>9.2}",
            f.rate, f.achieved, f.turns, f.p50, f.p99, f.max
        );
    }
}

fn paced_replay(secs: u64) {
    let data = std::env::var_os("ZONECAST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let green = data.join("green_tripdata_2024-01.parquet");
    let file = if green.exists() {
        green
    } else {
        // A month at the green rate (~75 trips an hour).
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/paced_month.csv");
        let config = GeneratorConfig {
            trips: 56_000,
            days: 31,
            seed: 5,
            ..GeneratorConfig::default()
        };
        write_trips(&path, TripGenerator::new(config)).unwrap();
        path
    };
    println!();
    println!(
        "paced replay of {} at 3600x, 2 workers, {secs} s, /v1/status every 10 ms:",
        file.file_name().unwrap().to_string_lossy()
    );
    println!(
        "{:>8} {:>8} {:>12} {:>12} {:>14} {:>14} {:>12}",
        "order", "samples", "as_of/s", "min in 1 s", "stale p50 ms", "stale p99 ms", "lag p99 s"
    );
    for (name, order) in [("file", ReplayOrder::File), ("sorted", ReplayOrder::Sorted)] {
        let f = support::paced::measure(&file, order, 3600.0, secs);
        println!(
            "{:>8} {:>8} {:>12.1} {:>12} {:>14.2} {:>14.2} {:>12.0}",
            name,
            f.samples,
            f.as_of_changes_per_sec,
            f.fewest_changes_in_a_second,
            f.staleness_p50_ms,
            f.staleness_p99_ms,
            f.lag_p99_secs
        );
    }
}
