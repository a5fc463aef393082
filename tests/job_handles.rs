//! The job layer as a library user drives it: every job started, followed and stopped through
//! its handle; the push channel against a file; subscriptions against the final state.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use common::live::{generated, small_spec};
use zonecast::dataflows::aggregate::{AggregateJob, AggregateOutcome};
use zonecast::dataflows::batch::BatchJob;
use zonecast::dataflows::live::LiveJob;
use zonecast::dataflows::serve::ServeJob;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::jobs::{JobError, JobUpdate, Source};
use zonecast::model::{Baseline, ModelFile};
use zonecast::runtime::Cluster;
use zonecast::sources::channel::ChannelOptions;
use zonecast::sources::trip_row::{TripRow, Value};
use zonecast::time::{format_naive, Span};
use zonecast::trip::{format_micros, HourlyStats, ZoneHour};
use zonecast::watermark::WatermarkPolicy;

const SECOND: Duration = Duration::from_secs(1);

/// Generated trips as CSV text rows: (pickup, zone, distance, fare, total).
fn generated_rows(trips: u64, seed: u64) -> Vec<[String; 5]> {
    let config = GeneratorConfig {
        trips,
        days: 3,
        seed,
        ..GeneratorConfig::default()
    };
    TripGenerator::new(config)
        .map(|t| {
            [
                format_naive(t.pickup),
                t.pickup_zone.to_string(),
                format_micros(t.distance as i128),
                format_micros(t.fare as i128),
                format_micros(t.total as i128),
            ]
        })
        .collect()
}

fn row_of(fields: &[String; 5]) -> TripRow {
    TripRow::new(fields[0].as_str(), fields[1].as_str()).amounts(
        fields[2].as_str(),
        fields[3].as_str(),
        fields[4].as_str(),
    )
}

fn write_csv(dir: &tempfile::TempDir, rows: &[[String; 5]]) -> std::path::PathBuf {
    let path = dir.path().join("trips.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        out,
        "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount"
    )
    .unwrap();
    for r in rows {
        writeln!(out, "{}", r.join(",")).unwrap();
    }
    path
}

/// Lateness and far-ahead limits no arrival order can reach: verdicts do not depend on order.
fn lenient() -> WatermarkPolicy {
    WatermarkPolicy {
        allowed_lateness: Span::from_secs(3_650 * 86_400),
        max_ahead: Span::from_secs(3_650 * 86_400),
        min_support: 3,
    }
}

fn aggregate(source: Source, workers: usize) -> AggregateJob {
    let mut job = AggregateJob::new(source);
    job.policy = lenient();
    job.cluster = Cluster::threads(workers);
    job
}

fn outcome(job: AggregateJob) -> AggregateOutcome {
    job.start().unwrap().join().unwrap().expect("process 0")
}

#[test]
fn channel_rows_from_two_threads_equal_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generated_rows(20_000, 3);
    let file = outcome(aggregate(Source::files([write_csv(&dir, &rows)]), 2));
    let (source, sender) = Source::channel(ChannelOptions::default());
    let handle = aggregate(source, 2).start().unwrap();
    handle.wait_ready(10 * SECOND).unwrap();
    let halves: Vec<Vec<TripRow>> = rows
        .chunks(rows.len() / 2)
        .map(|c| c.iter().map(row_of).collect())
        .collect();
    let threads: Vec<_> = halves
        .into_iter()
        .map(|half| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for chunk in half.chunks(997) {
                    sender.push(chunk.to_vec()).unwrap();
                    sender.flush();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A bad row: rejected with its push position, the rows around it kept.
    let bad_at = sender
        .push([TripRow::new("2024-01-02 10:00:00", 999), row_of(&rows[0])])
        .unwrap();
    sender.close();
    let pushed = handle.join().unwrap().expect("process 0");
    let extra = row_of(&rows[0]).validate().unwrap();
    let mut expected = file.table.rows().to_vec();
    let key = extra.zone_hour();
    let slot = expected.iter_mut().find(|(k, _)| *k == key).unwrap();
    slot.1.add_trip(&extra, 1);
    assert_eq!(pushed.table.rows(), &expected[..]);
    assert_eq!(pushed.report.rows_read, rows.len() as u64 + 2);
    let rejects = &pushed.report.rejects;
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].pos.line, bad_at);
    assert_eq!(pushed.source_names, vec!["channel".to_string()]);
}

#[test]
fn memory_rows_equal_the_file_on_one_and_four_workers() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generated_rows(8_000, 5);
    let file = outcome(aggregate(Source::files([write_csv(&dir, &rows)]), 1));
    let memory: Vec<TripRow> = rows.iter().map(row_of).collect();
    for workers in [1, 4] {
        let mut job = AggregateJob::new(Source::memory(memory.clone()));
        job.cluster = Cluster::threads(workers);
        let mut file_job = AggregateJob::files(vec![write_csv(&dir, &rows)]);
        file_job.cluster = Cluster::threads(workers);
        let (a, b) = (outcome(job), outcome(file_job));
        assert_eq!(a.table.rows(), b.table.rows(), "{workers} workers");
        assert_eq!(a.report.late, b.report.late);
    }
    assert!(!file.table.rows().is_empty());
}

fn consolidate(updates: impl Iterator<Item = JobUpdate>) -> (BTreeMap<ZoneHour, HourlyStats>, u64) {
    let mut state = BTreeMap::new();
    let mut lagged = 0;
    for update in updates {
        match update {
            JobUpdate::Resync(s) => {
                state = s.hourly.iter().copied().collect();
            }
            JobUpdate::Lagged { missed } => lagged += missed,
            JobUpdate::Epoch(e) => {
                for ((k, v), d) in &e.hourly {
                    if *d < 0 && state.get(k) == Some(v) {
                        state.remove(k);
                    }
                }
                for ((k, v), d) in &e.hourly {
                    if *d > 0 {
                        state.insert(*k, *v);
                    }
                }
            }
        }
    }
    (state, lagged)
}

#[test]
fn consolidated_subscription_equals_the_final_table() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generated_rows(30_000, 9);
    let mut job = AggregateJob::files(vec![write_csv(&dir, &rows)]);
    job.cluster = Cluster::threads(2);
    job.batch_rows = 512;
    let handle = job.start().unwrap();
    let subscription = handle.subscribe().expect("aggregate jobs publish updates");
    let reader = std::thread::spawn(move || subscription.collect::<Vec<_>>());
    let outcome = handle.join().unwrap().unwrap();
    let updates = reader.join().unwrap();
    let last_status = updates.iter().rev().find_map(|u| match u {
        JobUpdate::Epoch(e) => Some(e.status.clone()),
        _ => None,
    });
    let last_status = last_status.expect("epochs were published");
    assert!(last_status.input_finished, "{last_status:?}");
    assert_eq!(last_status.rows_read, 30_000);
    let (state, lagged) = consolidate(updates.into_iter());
    assert_eq!(lagged, 0);
    let table: BTreeMap<_, _> = outcome.table.rows().iter().copied().collect();
    assert_eq!(state, table);
}

#[test]
fn a_stalled_subscriber_lags_then_resynchronises_without_holding_the_job() {
    let (source, sender) = Source::channel(ChannelOptions::default());
    let mut job = AggregateJob::new(source);
    job.policy = lenient();
    let handle = job.start().unwrap();
    let stalled = handle.subscribe_with_capacity(4).unwrap();
    handle.wait_ready(10 * SECOND).unwrap();
    let rows = generated_rows(20_000, 11);
    // Many epochs while the subscriber reads nothing: pushes never wait on it.
    let started = Instant::now();
    for chunk in rows.chunks(200) {
        sender.push(chunk.iter().map(row_of)).unwrap();
        sender.flush();
    }
    let pushed_in = started.elapsed();
    let deadline = Instant::now() + 30 * SECOND;
    while handle.snapshot().unwrap().status.rows_read < rows.len() as u64 {
        assert!(Instant::now() < deadline, "the job kept up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stalled.lagged_total() > 0, "the subscriber fell behind");
    // The subscriber reads what fit in its queue; the next epoch then brings Lagged and the
    // current state.
    let mut seen = Vec::new();
    while let Some(update) = stalled.try_recv() {
        seen.push(update);
    }
    sender.push([row_of(&rows[0])]).unwrap();
    sender.flush();
    while let Ok(update) = stalled.recv_timeout(5 * SECOND) {
        let resynced = matches!(update, JobUpdate::Resync(_)) && seen.len() > 1;
        seen.push(update);
        if resynced {
            break;
        }
    }
    let lagged = seen
        .iter()
        .position(|u| matches!(u, JobUpdate::Lagged { .. }))
        .expect("a Lagged marker");
    assert!(matches!(seen[lagged + 1], JobUpdate::Resync(_)));
    sender.close();
    let outcome = handle.join().unwrap().unwrap();
    let (state, _) = consolidate(seen.into_iter().chain(stalled));
    let table: BTreeMap<_, _> = outcome.table.rows().iter().copied().collect();
    assert_eq!(state, table);
    eprintln!(
        "pushed {} rows in {pushed_in:?} with a stalled subscriber",
        rows.len()
    );
}

fn live_job() -> LiveJob {
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    let mut job = LiveJob::new(model);
    job.source = Source::Generated(generated(2, 3600.0));
    job
}

#[test]
fn every_job_stops_before_it_is_ready() {
    let handle = live_job().serving("127.0.0.1:0").start().unwrap();
    handle.stop();
    assert!(handle.join().is_ok());
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(&dir, &generated_rows(2_000, 1));
    let handle = AggregateJob::files(vec![csv.clone()]).start().unwrap();
    handle.stop();
    assert!(handle.join().is_ok());
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    let db = dir.path().join("p.sqlite");
    let handle = BatchJob::new(Source::files([csv]), model, db.clone())
        .start()
        .unwrap();
    handle.stop();
    match handle.join() {
        Ok(_) | Err(JobError::Stopped) => {}
        Err(other) => panic!("{other}"),
    }
    let handle = ServeJob::new(db).start().unwrap();
    handle.stop();
    let _ = handle.join();
}

#[test]
fn a_live_job_without_http_serves_its_snapshot_and_stops_while_ingesting() {
    let handle = live_job().start().unwrap();
    let addresses = handle.wait_ready(30 * SECOND).unwrap();
    assert_eq!(addresses.http, None);
    let deadline = Instant::now() + 60 * SECOND;
    let snapshot = loop {
        let snapshot = handle.snapshot().unwrap();
        if !snapshot.predictions.is_empty() {
            break snapshot;
        }
        assert!(Instant::now() < deadline, "forecasts within a minute");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(snapshot.status.rows_read > 0);
    let zone = snapshot.predictions[0].zone;
    assert!(!handle.history(zone, 24).is_empty());
    assert!(!handle.is_finished());
    let stopping = Instant::now();
    handle.stop();
    let outcome = handle.join().unwrap();
    assert!(stopping.elapsed() < 10 * SECOND, "stops promptly");
    assert!(outcome.state.is_none(), "no server state without HTTP");
}

#[test]
fn port_zero_reports_the_bound_addresses() {
    let mut job = live_job().serving("127.0.0.1:0");
    job.source = Source::socket("127.0.0.1:0");
    let handle = job.start().unwrap();
    let addresses = handle.wait_ready(30 * SECOND).unwrap();
    let http = addresses.http.expect("http bound");
    let socket = addresses.socket.expect("socket bound");
    assert_ne!(http.port(), 0);
    assert_ne!(socket.port(), 0);
    assert_eq!(handle.http_addr(), Some(http));
    let health = common::http::get(http, "/healthz");
    assert_eq!(health.status, 200);
    std::net::TcpStream::connect(socket).expect("the socket source accepts");
}

#[test]
fn a_worker_error_surfaces_from_join_and_wait_ready() {
    let (source, sender) = Source::channel(ChannelOptions::default());
    let handle = live_job().start().unwrap();
    drop(handle);
    let mut job = live_job();
    job.source = source;
    let handle = job.start().unwrap();
    handle.wait_ready(30 * SECOND).unwrap();
    sender
        .push([TripRow::new("2024-01-02 10:00:00", 4)])
        .unwrap();
    sender.fail("the broker went away");
    let error = handle.join().err().expect("the job fails");
    assert!(
        error.to_string().contains("the broker went away"),
        "{error}"
    );
    // A file that cannot be read fails the job before it is ready.
    let handle = AggregateJob::files(vec!["/nonexistent/trips.csv".into()])
        .start()
        .unwrap();
    let error = handle.wait_ready(10 * SECOND).expect_err("not ready");
    assert!(
        error.to_string().contains("/nonexistent/trips.csv"),
        "{error}"
    );
    assert!(handle.join().is_err());
    let _ = Value::Null;
}

#[test]
fn a_panicking_worker_aborts_the_others_instead_of_hanging() {
    use std::rc::Rc;
    use std::sync::Mutex;
    use zonecast::dataflows::aggregate::{build, AggregateSinks};
    use zonecast::jobs::workers::{run_workers, step_until_done};
    use zonecast::jobs::JobControl;
    use zonecast::sources::channel::trip_channel;

    let control = JobControl::new();
    // A channel nobody closes: without the abort, worker 0 would step forever.
    let (_sender, feed) = trip_channel(ChannelOptions::default());
    let feed = Mutex::new(Some(feed));
    let inner = control.clone();
    let started = Instant::now();
    let result = run_workers(&Cluster::threads(2), &control, move |worker| {
        let sinks = AggregateSinks {
            hourly_local: None,
            hourly_gathered: None,
            live: None,
            report: Rc::default(),
        };
        let feed: Box<dyn zonecast::sources::TripFeed> = match feed.lock().unwrap().take() {
            Some(feed) => Box::new(feed),
            None => Box::new(zonecast::sources::EmptyFeed),
        };
        worker.dataflow::<u64, _, _>(|scope| {
            build(scope, feed, WatermarkPolicy::default(), sinks);
        });
        if worker.index() == 1 {
            panic!("boom in worker 1");
        }
        step_until_done(worker, &inner, || {});
    });
    match result {
        Err(JobError::Panicked(message)) => assert!(message.contains("boom"), "{message}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the panic was lost"),
    }
    assert!(started.elapsed() < 30 * SECOND);
    assert!(control.failure().unwrap().contains("worker 1"));
}

#[test]
fn batch_and_serve_handles_return_outcomes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(&dir, &generated_rows(6_000, 13));
    let db = dir.path().join("p.sqlite");
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    // join returns the outcome.
    let handle = BatchJob::new(Source::files([csv]), model.clone(), db.clone())
        .start()
        .unwrap();
    handle.wait_ready(30 * SECOND).unwrap();
    let outcome = handle.join().unwrap();
    assert_eq!(outcome.report.rows_read, 6_000);
    assert!(outcome.written.forecasts > 0);
    // A worker error (an input that cannot be read) fails the run, which is recorded.
    let missing = BatchJob::new(
        Source::files(["/nonexistent/trips.csv"]),
        model.clone(),
        db.clone(),
    );
    let error = missing.run().expect_err("the run fails");
    assert!(
        error.to_string().contains("/nonexistent/trips.csv"),
        "{error}"
    );
    let counts = zonecast::store::Store::open_read(&db)
        .unwrap()
        .run_counts()
        .unwrap();
    assert_eq!(
        (counts.complete, counts.failed, counts.running),
        (1, 1, 0),
        "one complete run, one failed"
    );
    // A never-ending source is refused.
    let (channel, _sender) = Source::channel(ChannelOptions::default());
    let error = BatchJob::new(channel, model, db.clone())
        .run()
        .err()
        .unwrap();
    assert!(matches!(error, JobError::Unbounded), "{error}");
    // The serve job: port 0, its snapshot without HTTP, and a missing database's error.
    let mut serve = ServeJob::new(&db);
    serve.http = Some("127.0.0.1:0".into());
    let handle = serve.start().unwrap();
    let http = handle.wait_ready(30 * SECOND).unwrap().http.unwrap();
    assert_eq!(common::http::get(http, "/healthz").status, 200);
    assert!(!handle.snapshot().unwrap().predictions.is_empty());
    handle.stop();
    handle.join().unwrap();
    let handle = ServeJob::new(dir.path().join("absent.sqlite"))
        .start()
        .unwrap();
    let error = handle.wait_ready(10 * SECOND).expect_err("no database");
    assert!(error.to_string().contains("absent.sqlite"), "{error}");
}

#[test]
fn an_aggregate_stops_while_ingesting_and_returns_what_it_read() {
    let (source, sender) = Source::channel(ChannelOptions::default());
    let handle = aggregate(source, 2).start().unwrap();
    handle.wait_ready(10 * SECOND).unwrap();
    let rows = generated_rows(5_000, 17);
    for chunk in rows.chunks(500) {
        sender.push(chunk.iter().map(row_of)).unwrap();
        sender.flush();
    }
    let deadline = Instant::now() + 30 * SECOND;
    while handle.snapshot().unwrap().status.rows_read < rows.len() as u64 {
        assert!(Instant::now() < deadline, "the rows arrive");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The sender stays open: only stop() ends this job.
    handle.stop();
    let outcome = handle.join().unwrap().expect("process 0");
    assert_eq!(outcome.report.rows_read, rows.len() as u64);
    assert!(outcome.report.balanced());
    assert!(
        sender.push([row_of(&rows[0])]).is_err(),
        "a stopped job takes no rows"
    );
}
