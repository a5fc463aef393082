//! End-to-end throughput of the aggregate dataflow, in process: generated CSV and Parquet in,
//! events/s for 1 and 2 workers and their ratio out.
//!
//! Isolates the engine (parsing, lateness, exchange, aggregation) from process start-up; the
//! side-by-side comparison with Polars and DuckDB is `benches/aggregate_vs_polars.sh`.
//! Run: `cargo bench --bench aggregate_throughput -- [trips]` (default 1,000,000).

use std::path::PathBuf;
use std::time::Instant;

use zonecast::dataflows::aggregate::AggregateJob;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::runtime::Cluster;

fn input(trips: u64, ext: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("trips_{trips}.{ext}"));
    if !path.exists() {
        let config = GeneratorConfig {
            trips,
            days: 30,
            seed: 1,
            ..GeneratorConfig::default()
        };
        write_trips(&path, TripGenerator::new(config)).unwrap();
    }
    path
}

fn best_rate(path: &std::path::Path, workers: usize, runs: usize) -> f64 {
    (0..runs)
        .map(|_| {
            let mut job = AggregateJob::files(vec![path.to_path_buf()]);
            job.cluster = Cluster::threads(workers);
            let start = Instant::now();
            let outcome = job.run().unwrap().unwrap();
            outcome.report.rows_read as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn main() {
    let trips: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    for ext in ["csv", "parquet"] {
        let path = input(trips, ext);
        let one = best_rate(&path, 1, 3);
        let two = best_rate(&path, 2, 3);
        println!(
            "aggregate {trips} trips ({ext}): 1 worker {:.2} M events/s, 2 workers {:.2} M events/s, ratio {:.2}x",
            one / 1e6,
            two / 1e6,
            two / one
        );
    }
}
