//! What durability (`--state-dir`) costs, measured side by side in one run:
//! 1. socket ingest: the same rows sent as fast as the job takes them, over 2 clients, with
//!    and without the write-ahead log (which syncs every epoch before using it), in
//!    alternating rounds (`DURABILITY_ROUNDS`, default 5): rows/s per round, the medians and
//!    their ratio;
//! 2. checkpoints: the state of the green month (or 3 generated months) served live with a
//!    checkpoint every second: bytes and milliseconds per checkpoint.
//!
//! Run: `cargo bench --bench durability` (`DURABILITY_ROWS`, default 1,000,000;
//! `ZONECAST_DATA` for the real data). Freshness with and without checkpoints is
//! `FRESHNESS_STATE_DIR=1 cargo bench --bench freshness` beside the plain run
//! (`benches/durability.sh` runs all three).

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::jobs::{SocketSource, Source};
use zonecast::model::{Baseline, ModelFile};

const HEADER: &str = "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount";

fn main() {
    let rows: u64 = std::env::var("DURABILITY_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let model = ModelFile::baseline(
        Baseline::FourWeekMean,
        FeatureSpec::new(FeatureSpec::parse_lags("1-24,168").unwrap(), 1),
    );
    let rounds: usize = std::env::var("DURABILITY_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let lines = socket_lines(rows);
    println!(
        "socket ingest: {rows} rows over 2 clients, as fast as the job takes them (2 workers), {rounds} rounds, alternating"
    );
    // This VM's run-to-run spread is wider than the log's cost: rounds alternate and the
    // medians are compared.
    let (mut plain, mut logged) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        plain.push(ingest(&model, &lines, None));
        let state = tempfile::tempdir().unwrap();
        logged.push(ingest(&model, &lines, Some(state.path())));
        println!(
            "  round {round}: without {:>10.0}  with {:>10.0} rows/s",
            plain[round], logged[round]
        );
    }
    let (plain, logged) = (median(&mut plain), median(&mut logged));
    println!("  without --state-dir  {plain:>12.0} rows/s (median)");
    println!(
        "  with --state-dir     {logged:>12.0} rows/s (median; write-ahead log, synced per epoch)"
    );
    println!(
        "  ratio                {:>12.3}  ({:+.1}% throughput)",
        logged / plain,
        (logged / plain - 1.0) * 100.0
    );

    let data = std::env::var_os("ZONECAST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let green = data.join("green_tripdata_2024-01.parquet");
    let scratch = tempfile::tempdir().unwrap();
    let months = scratch.path().join("trips_90d.parquet");
    let config = GeneratorConfig {
        trips: 350_000,
        days: 90,
        seed: 7,
        ..Default::default()
    };
    write_trips(&months, TripGenerator::new(config)).unwrap();
    println!("\ncheckpoints of a live job's state (checkpoint every second, replay at full speed, then idle):");
    println!(
        "{:>28} {:>10} {:>12} {:>12} {:>10}",
        "input", "rows", "bytes", "ms (last)", "written"
    );
    let mut inputs = vec![("3 generated months", months)];
    if green.exists() {
        inputs.insert(0, ("green 2024-01", green));
    } else {
        println!("  (green month not found in {}: skipped)", data.display());
    }
    for (name, path) in inputs {
        let (rows, bytes, ms, written) = checkpoint_cost(&model, &path);
        println!("{name:>28} {rows:>10} {bytes:>12} {ms:>12.1} {written:>10}");
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `rows` CSV lines over 3 days and 263 zones, in time order.
fn socket_lines(rows: u64) -> Vec<String> {
    let start = 1_704_067_200 / 3600 * 3600 - 5 * 3600; // 2024-01-01 naive-ish
    (0..rows)
        .map(|i| {
            let t = start + (i * 3 * 86_400 / rows) as i64;
            format!(
                "{},{},1.20,7.50,11.30\n",
                zonecast::time::format_naive(t),
                1 + (i * 7919) % 263
            )
        })
        .collect()
}

/// Rows per second the job took `lines` at (2 clients), with a state folder or without.
fn ingest(model: &ModelFile, lines: &[String], state: Option<&Path>) -> f64 {
    let mut job = LiveJob::new(model.clone()).serving("127.0.0.1:0");
    job.source = Source::Socket(SocketSource::new("127.0.0.1:0"));
    job.cluster = zonecast::runtime::Cluster::threads(2);
    job.policy.watermark.allowed_lateness = zonecast::time::Span::from_secs(30 * 86_400);
    job.state_dir = state.map(Path::to_path_buf);
    let handle = job.start().unwrap();
    let ready = handle.wait_ready(Duration::from_secs(60)).unwrap();
    let (socket, http) = (ready.socket.unwrap(), ready.http.unwrap());
    let total = lines.len() as u64;
    let started = Instant::now();
    let senders: Vec<_> = lines
        .chunks(lines.len().div_ceil(2))
        .map(|chunk| {
            let chunk = chunk.concat();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(socket).unwrap();
                writeln!(stream, "{HEADER}").unwrap();
                stream.write_all(chunk.as_bytes()).unwrap();
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    support::wait_for(http, |s| s["rows_read"].as_u64() == Some(total));
    let rate = total as f64 / started.elapsed().as_secs_f64();
    handle.stop();
    let _ = handle.join();
    rate
}

/// Rows, bytes and milliseconds of the last checkpoint, and checkpoints written.
fn checkpoint_cost(model: &ModelFile, input: &Path) -> (u64, u64, f64, u64) {
    let state = tempfile::tempdir().unwrap();
    let mut job = LiveJob::new(model.clone()).serving("127.0.0.1:0");
    job.source = Source::files([input]);
    job.cluster = zonecast::runtime::Cluster::threads(2);
    job.state_dir = Some(state.path().to_path_buf());
    job.checkpoint_interval = Duration::from_secs(1);
    let handle = job.start().unwrap();
    let http = handle
        .wait_ready(Duration::from_secs(120))
        .unwrap()
        .http
        .unwrap();
    support::wait_for(http, |s| s["input_finished"] == true);
    // Idle: the next interval checkpoints the final state.
    std::thread::sleep(Duration::from_millis(2500));
    let status = support::status(http);
    let c = &status["checkpoint"];
    let result = (
        status["rows_read"].as_u64().unwrap_or(0),
        c["bytes"].as_u64().unwrap_or(0),
        c["duration_ms"].as_f64().unwrap_or(f64::NAN),
        c["written"].as_u64().unwrap_or(0),
    );
    handle.stop();
    let _ = handle.join();
    result
}
