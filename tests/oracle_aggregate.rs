//! Oracle tests: the incremental hourly aggregates against from-scratch recomputations.
//!
//! - `green_parquet_*`: the real January 2024 green-taxi file, replayed in file order with a
//!   lateness that keeps everything, equals a table computed here straight from the Parquet
//!   columns (a separate reader and plain f64 means).
//! - `random_streams_*`: seeded random trips with heavy disorder; after *every* epoch the
//!   accumulated collection equals a fold over the trips accepted so far, where "accepted" is
//!   decided by a naive re-implementation of the watermark rules. Run with 1, 2 and 4 workers.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_schema::{DataType, TimeUnit};
use common::{assert_table_matches, data_file, oracle_add, OracleTable};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use zonecast::dataflows::aggregate::{build, AggregateJob, AggregateSinks};
use zonecast::generator::rng::SplitMix64;
use zonecast::report::RunReport;
use zonecast::runtime::{run_to_completion, Cluster};
use zonecast::sinks::hourly_table::HourlyTable;
use zonecast::sources::memory::MemoryFeed;
use zonecast::sources::Batch;
use zonecast::time::Span;
use zonecast::trip::{RowPos, Trip};
use zonecast::watermark::WatermarkPolicy;

fn keep_everything() -> WatermarkPolicy {
    WatermarkPolicy {
        allowed_lateness: Span::from_secs(3650 * 86_400),
        max_ahead: Span::from_secs(3650 * 86_400),
        min_support: 3,
    }
}

/// Reads the green file with the Parquet crate directly and folds it into an oracle table.
fn green_oracle(path: &std::path::Path) -> (OracleTable, u64) {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut table = OracleTable::new();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str, t: DataType| {
            arrow_cast::cast(batch.column_by_name(name).unwrap(), &t).unwrap()
        };
        let pickup = col(
            "lpep_pickup_datetime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
        );
        let zone = col("PULocationID", DataType::Int64);
        let values =
            ["trip_distance", "fare_amount", "total_amount"].map(|n| col(n, DataType::Float64));
        for i in 0..batch.num_rows() {
            rows += 1;
            if pickup.is_null(i) || zone.is_null(i) {
                continue;
            }
            let z = zone.as_primitive::<Int64Type>().value(i);
            if !(1..=265).contains(&z) {
                continue;
            }
            let t = pickup
                .as_primitive::<TimestampMicrosecondType>()
                .value(i)
                .div_euclid(1_000_000);
            let v = values
                .clone()
                .map(|a| (!a.is_null(i)).then(|| a.as_primitive::<Float64Type>().value(i)));
            oracle_add(&mut table, t, z as u16, v);
        }
    }
    (table, rows)
}

#[test]
fn green_parquet_in_file_order_matches_from_scratch() {
    let Some(path) = data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let (oracle, rows) = green_oracle(&path);
    for workers in [1, 2] {
        let mut job = AggregateJob::files(vec![path.clone()]);
        job.policy = keep_everything();
        job.batch_rows = 4096;
        job.cluster = Cluster::threads(workers);
        let outcome = job.run().unwrap().unwrap();
        assert_eq!(outcome.report.rows_read, rows);
        assert_eq!(outcome.report.late, 0);
        assert!(outcome.report.balanced());
        assert_table_matches(&outcome.table.to_csv(), &oracle);
    }
}

/// Random trips: `n` rows over `days`, mostly near a moving clock, with heavy disorder,
/// late stragglers and a few absurd far-future pickups.
fn random_rows(seed: u64, n: usize) -> Vec<(Trip, RowPos)> {
    let mut rng = SplitMix64::new(seed);
    let start = zonecast::time::days_from_civil(2024, 3, 1) * 86_400;
    (0..n)
        .map(|i| {
            let clock = start + (i as i64 * 40);
            let pickup = match rng.below(100) {
                0..=69 => clock - rng.below(3600) as i64,
                70..=94 => clock - rng.below(12 * 3600) as i64,
                95..=98 => clock - rng.below(5 * 86_400) as i64,
                _ => clock + rng.below(400 * 86_400) as i64,
            };
            let value = |rng: &mut SplitMix64| {
                (rng.below(10) > 0).then(|| rng.below(50_000_000) as i64 - 1_000_000)
            };
            let trip = Trip {
                pickup,
                zone: 1 + rng.below(12) as u16,
                distance: value(&mut rng),
                fare: value(&mut rng),
                total: value(&mut rng),
            };
            (
                trip,
                RowPos {
                    source: 0,
                    line: i as u64 + 2,
                },
            )
        })
        .collect()
}

/// A naive re-statement of the watermark rules: returns which rows are aggregated.
fn naive_accepted(rows: &[(Trip, RowPos)], policy: WatermarkPolicy) -> Vec<bool> {
    let mut hours: HashMap<i64, (u64, i64)> = HashMap::new();
    let mut watermark: Option<i64> = None;
    rows.iter()
        .map(|(trip, _)| {
            let t = trip.pickup;
            let accepted = match watermark {
                None => true,
                Some(w) => {
                    t >= w - policy.allowed_lateness.secs() && t <= w + policy.max_ahead.secs()
                }
            };
            if watermark.is_none_or(|w| t > w) {
                let e = hours.entry(t.div_euclid(3600)).or_insert((0, t));
                e.0 += 1;
                e.1 = e.1.max(t);
                // Hours below the watermark's hour no longer count.
                let floor = watermark.map(|w| w.div_euclid(3600)).unwrap_or(i64::MIN);
                let best = hours
                    .iter()
                    .filter(|(h, (c, _))| **h >= floor && *c >= policy.min_support)
                    .map(|(_, (_, l))| *l)
                    .max();
                if let Some(b) = best {
                    if watermark.is_none_or(|w| b > w) {
                        let old_floor = floor;
                        watermark = Some(b);
                        if b.div_euclid(3600) != old_floor {
                            hours.retain(|h, _| *h >= b.div_euclid(3600));
                        }
                    }
                }
            }
            accepted
        })
        .collect()
}

fn run_random(seed: u64, n: usize, batch: usize, workers: usize, policy: WatermarkPolicy) {
    let rows = random_rows(seed, n);
    let accepted = naive_accepted(&rows, policy);
    let batches: Vec<Batch> = rows
        .chunks(batch)
        .map(|c| Batch {
            trips: c.to_vec(),
            rejects: Vec::new(),
            rows_read: c.len() as u64,
        })
        .collect();
    // The oracle's table after each epoch.
    let mut expected = Vec::new();
    let mut table = OracleTable::new();
    for (e, chunk) in rows.chunks(batch).enumerate() {
        for (i, (trip, _)) in chunk.iter().enumerate() {
            if accepted[e * batch + i] {
                let v = [trip.distance, trip.fare, trip.total].map(|m| m.map(|m| m as f64 / 1e6));
                oracle_add(&mut table, trip.pickup, trip.zone, v);
            }
        }
        expected.push(table.clone());
    }
    let changed: Vec<u64> = (0..expected.len())
        .filter(|&e| e == 0 && !expected[0].is_empty() || e > 0 && expected[e] != expected[e - 1])
        .map(|e| e as u64)
        .collect();
    let batches = Arc::new(batches);
    let checked = Arc::new(Mutex::new(BTreeMap::new()));
    let (checked_in, expected) = (checked.clone(), Arc::new(expected));
    Cluster::threads(workers)
        .execute(move |worker| {
            let feed = Box::new(MemoryFeed::new(
                batches.clone(),
                worker.index(),
                worker.peers(),
            ));
            let mut current = HourlyTable::default();
            let (expected, checked) = (expected.clone(), checked_in.clone());
            let hourly = Box::new(move |epoch: u64, updates: Vec<_>| {
                current.apply(&updates);
                assert_table_matches(&current.to_csv(), &expected[epoch as usize]);
                checked.lock().unwrap().insert(epoch, ());
            });
            let report = std::rc::Rc::new(std::cell::RefCell::new(RunReport::default()));
            let sinks = AggregateSinks {
                hourly_local: None,
                hourly_gathered: Some(hourly),
                live: None,
                report: report.clone(),
            };
            worker.dataflow::<u64, _, _>(|scope| {
                build(scope, feed, policy, sinks);
            });
            run_to_completion(worker);
            if worker.index() == 0 {
                let r = report.borrow();
                assert!(r.balanced(), "{r:?}");
            }
        })
        .unwrap();
    // Every epoch that changed the oracle's table produced updates and was checked.
    let checked: Vec<u64> = checked.lock().unwrap().keys().copied().collect();
    assert_eq!(checked, changed);
}

#[test]
fn random_streams_match_oracle_after_every_epoch_keeping_everything() {
    for (seed, workers) in [(1, 1), (2, 2), (3, 4)] {
        run_random(seed, 6000, 97, workers, keep_everything());
    }
}

#[test]
fn random_streams_match_oracle_after_every_epoch_with_lateness() {
    let policy = WatermarkPolicy {
        allowed_lateness: Span::from_secs(3 * 3600),
        max_ahead: Span::from_secs(86_400),
        min_support: 3,
    };
    for (seed, workers) in [(4, 1), (5, 2), (6, 4)] {
        run_random(seed, 6000, 61, workers, policy);
    }
    let strict = WatermarkPolicy {
        allowed_lateness: Span::from_secs(600),
        max_ahead: Span::from_secs(3600),
        min_support: 1,
    };
    run_random(7, 4000, 1, 2, strict);
}

#[test]
fn aggregate_state_stays_bounded_on_a_long_stream() {
    let dir = common::Scratch::new();
    let path = dir.path("month.csv");
    let config = zonecast::generator::GeneratorConfig {
        trips: 200_000,
        days: 30,
        seed: 21,
        ..Default::default()
    };
    zonecast::generator::writers::write_trips(
        &path,
        zonecast::generator::TripGenerator::new(config),
    )
    .unwrap();
    let mut job = AggregateJob::files(vec![path]);
    job.policy.allowed_lateness = Span::from_secs(6 * 3600);
    job.cluster = Cluster::threads(2);
    let outcome = job.run().unwrap().unwrap();
    // 30 days of (zone, hour) rows in the table, but only hours within the lateness window
    // (plus the hour in progress and the allowed ahead-of-watermark span) are ever held.
    assert!(
        outcome.table.rows().len() > 50_000,
        "{}",
        outcome.table.rows().len()
    );
    let bound = 265 * (6 + 24 + 2);
    assert!(
        outcome.peak_state_keys <= bound,
        "peak state {} > {bound}",
        outcome.peak_state_keys
    );
}
