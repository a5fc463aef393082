//! The hour turn: trips of a generated stream sent over the socket in pickup order at a steady
//! rate in; for every new hour, the time from sending its first trip to that hour's first
//! `forecast` event on `/v1/stream` out (p50, p99, max over the turns).
//!
//! With `--allowed-lateness 0s` the watermark enters an hour once `min_support` (3) of its
//! trips are in, so the turn costs three trips' worth of wire time (under 1 ms at 10k/s) plus
//! the work of the turn: a feature row, a forecast and an event for every zone.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zonecast::dataflows::live::LiveJob;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::jobs::{SocketSource, Source};
use zonecast::model::ModelFile;
use zonecast::time::{format_naive, hour_of, parse_naive, Span};

use super::{follow_forecasts, percentile, wait_for};

/// One rate's figures.
pub struct TurnFigures {
    pub rate: u64,
    pub achieved: f64,
    pub turns: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Runs the measurement at every rate (each for about `turns` hour turns) on a job that has
/// replayed `history` (which ends before `first_day`, naive seconds) and serves `model`.
pub fn measure(
    history: &Path,
    first_day: i64,
    model: ModelFile,
    rates: &[u64],
    turns: u64,
) -> Vec<TurnFigures> {
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.policy.watermark.allowed_lateness = Span::from_secs(0);
    job.source = Source::files([history]).then(Source::Socket(SocketSource {
        batch_interval: Duration::from_millis(1),
        ..SocketSource::new("127.0.0.1:0")
    }));
    job.batch_interval = Duration::from_millis(1);
    job.cluster = zonecast::runtime::Cluster::threads(2);
    let handle = job.start().unwrap();
    let ready = handle.wait_ready(Duration::from_secs(120)).unwrap();
    let (http, socket) = (ready.http.unwrap(), ready.socket.unwrap());
    wait_for(http, |s| {
        s["input_finished"] == true || s["rows_read"].as_u64() > Some(0)
    });
    wait_for(http, |s| s["ready"] == true);
    std::thread::sleep(Duration::from_millis(500));
    let first_events: Arc<Mutex<BTreeMap<i64, Instant>>> = Arc::default();
    {
        let first_events = first_events.clone();
        follow_forecasts(http, move |data| {
            let now = Instant::now();
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            let Some(target) = v["target_hour"].as_str() else {
                return;
            };
            let hour = hour_of(parse_naive(target.as_bytes()).unwrap());
            first_events.lock().unwrap().entry(hour).or_insert(now);
        });
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut day = first_day;
    let mut figures = Vec::new();
    for &rate in rates {
        // About 2.5 hour turns a second, whatever the rate (1,000 to 8,000 trips an hour).
        let per_hour = (rate * 2 / 5).clamp(1_000, 8_000);
        let hours = turns + 2;
        let days = hours.div_ceil(24) as u32;
        let config = GeneratorConfig {
            trips: per_hour * 24 * days as u64,
            days,
            seed: 11 + rate,
            start: day,
            ..GeneratorConfig::default()
        };
        let mut trips: Vec<(i64, u16)> = TripGenerator::new(config)
            .map(|t| (t.pickup, t.pickup_zone))
            .filter(|(p, _)| *p < day + hours as i64 * 3_600)
            .collect();
        trips.sort_unstable();
        day += days as i64 * 86_400;
        let (sent_at, achieved) = send(socket, &trips, rate);
        std::thread::sleep(Duration::from_millis(500));
        let events = first_events.lock().unwrap();
        // The first turn of a phase jumps from the last phase's hours; skip it.
        let mut latencies: Vec<f64> = sent_at
            .iter()
            .skip(1)
            .filter_map(|(hour, sent)| {
                events
                    .get(hour)
                    .map(|at| at.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
            })
            .collect();
        latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
        figures.push(TurnFigures {
            rate,
            achieved,
            turns: latencies.len(),
            p50: percentile(&latencies, 0.5),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or(f64::NAN),
        });
    }
    handle.stop();
    handle.join().unwrap();
    figures
}

/// Sends `trips` at `rate` a second; returns when each hour's first trip left, and the rate
/// achieved.
fn send(socket: SocketAddr, trips: &[(i64, u16)], rate: u64) -> (BTreeMap<i64, Instant>, f64) {
    let mut stream = TcpStream::connect(socket).unwrap();
    stream.set_nodelay(true).unwrap();
    writeln!(
        stream,
        "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount"
    )
    .unwrap();
    let mut sent_at = BTreeMap::new();
    let mut current = i64::MIN;
    let started = Instant::now();
    let mut sent = 0usize;
    let mut buffer = String::new();
    while sent < trips.len() {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).min(trips.len());
        buffer.clear();
        while sent < due {
            let (pickup, zone) = trips[sent];
            let hour = hour_of(pickup);
            if hour != current {
                // Send what precedes the hour's first trip, then time that trip alone.
                if !buffer.is_empty() {
                    stream.write_all(buffer.as_bytes()).unwrap();
                    buffer.clear();
                }
                current = hour;
                sent_at.insert(hour, Instant::now());
            }
            buffer.push_str(&format!(
                "{},{zone},1.20,7.50,11.30\n",
                format_naive(pickup)
            ));
            sent += 1;
        }
        if !buffer.is_empty() {
            stream.write_all(buffer.as_bytes()).unwrap();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    (sent_at, sent as f64 / started.elapsed().as_secs_f64())
}
