//! End-to-end throughput of the aggregate dataflow, in process: generated CSV and Parquet in,
//! events/s for 1 and 2 workers and their ratio out.
//!
//! Isolates the engine (parsing, lateness, exchange, aggregation) from process start-up; the
//! side-by-side comparison with Polars and DuckDB is `benches/aggregate_vs_polars.sh`.
//! Also, side by side with 2 workers: per-epoch updates off (the CLI), published for the
//! handle, and published to a subscriber that never reads (it must not slow the job).
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

/// How the job's per-epoch updates are published.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Updates {
    /// Not gathered (what the CLI runs).
    Off,
    /// Gathered for the handle, nobody subscribed.
    Published,
    /// Gathered, and a subscriber that never reads (its queue fills, then it lags).
    Stalled,
}

fn rate(path: &std::path::Path, workers: usize, updates: Updates) -> f64 {
    let mut job = AggregateJob::files(vec![path.to_path_buf()]);
    job.cluster = Cluster::threads(workers);
    job.publish_updates = updates != Updates::Off;
    let start = Instant::now();
    let handle = job.start().unwrap();
    let _stalled = (updates == Updates::Stalled).then(|| handle.subscribe_with_capacity(4));
    let outcome = handle.join().unwrap().unwrap();
    outcome.report.rows_read as f64 / start.elapsed().as_secs_f64()
}

/// The best of `runs` rounds for each mode, the modes interleaved within each round.
fn best_rates(path: &std::path::Path, workers: usize, runs: usize) -> [f64; 3] {
    let modes = [Updates::Off, Updates::Published, Updates::Stalled];
    let mut best = [0.0f64; 3];
    for _ in 0..runs {
        for (slot, mode) in best.iter_mut().zip(modes) {
            *slot = slot.max(rate(path, workers, mode));
        }
    }
    best
}

fn main() {
    let trips: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    for ext in ["csv", "parquet"] {
        let path = input(trips, ext);
        let [one, ..] = best_rates(&path, 1, 3);
        let [two, published, stalled] = best_rates(&path, 2, 3);
        println!(
            "aggregate {trips} trips ({ext}): 1 worker {:.2} M events/s, 2 workers {:.2} M events/s, ratio {:.2}x",
            one / 1e6,
            two / 1e6,
            two / one
        );
        println!(
            "  2 workers with updates published: {:.2} M events/s ({:.2}x of off); with a stalled subscriber: {:.2} M events/s ({:.2}x of published)",
            published / 1e6,
            published / two,
            stalled / 1e6,
            stalled / published
        );
    }
}
