//! Batch scoring into SQLite: idempotent re-runs, model versions side by side, incremental
//! `--since-last-run`, overlapping runs, locked and corrupt files, serving the database over
//! real HTTP, and parity with the streaming job on the real green-taxi month.

mod common;

use common::KillOnDrop;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::http::get;
use common::live::{small_spec, Served};
use zonecast::dataflows::batch::BatchJob;
use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::jobs::{JobError, Source};
use zonecast::live::ZoneDirectory;
use zonecast::model::{Baseline, ModelFile};
use zonecast::server::{Publisher, ServerHandle, ServerState};
use zonecast::store::{HourRange, RunCounts, Store, StoreError};
use zonecast::time::days_from_civil;

fn trips(dir: &Path, name: &str, days: u32) -> PathBuf {
    let path = dir.join(name);
    let config = GeneratorConfig {
        trips: 4_000 * days as u64,
        days,
        seed: 11,
        start: days_from_civil(2024, 4, 1) * 86_400,
        ..GeneratorConfig::default()
    };
    write_trips(&path, TripGenerator::new(config)).unwrap();
    path
}

fn model(baseline: Baseline) -> ModelFile {
    ModelFile::baseline(baseline, small_spec())
}

type Rows = Vec<(u16, i64, f64, String, bool)>;

fn rows(db: &Path) -> Rows {
    Store::open_read(db).unwrap().forecasts().unwrap()
}

fn counts(complete: u64, failed: u64, running: u64, abandoned: u64) -> RunCounts {
    RunCounts {
        complete,
        failed,
        running,
        abandoned,
    }
}

/// A batch job that writes rows during its dataflow every 500 rows (so that every test here
/// covers early writes: the default waits for 65,536).
fn batch(inputs: Vec<PathBuf>, model: ModelFile, db: &Path) -> BatchJob {
    let mut job = BatchJob::new(Source::files(inputs), model, db.to_path_buf());
    job.early_write_rows = 500;
    job
}

/// Whether a thread here can go to idle CPU priority and back (Linux with `CAP_SYS_NICE` or
/// `RLIMIT_NICE` >= 20): where it cannot, the writer writes every row after the dataflow.
fn idle_priority_available() -> bool {
    std::thread::spawn(|| {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a valid `sched_param`; pid 0 is the calling (throwaway) thread.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0
                && libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) == 0
        }
    })
    .join()
    .unwrap()
}

/// Rows were written during the dataflow, where the writer can run at idle CPU priority.
fn assert_written_early(written_early: u64) {
    if idle_priority_available() {
        assert!(written_early > 0, "no row was written during the dataflow");
    } else {
        assert_eq!(written_early, 0);
        eprintln!("skipped the early-write check: idle CPU priority is unavailable here");
    }
}

#[test]
fn rows_written_during_the_dataflow_equal_rows_written_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.parquet", 21);
    let model = model(Baseline::SameHourLastWeek);
    let tables = |db: &Path| (rows(db), hourly_rows(db));
    let after = dir.path().join("after.sqlite");
    let mut job = batch(vec![input.clone()], model.clone(), &after);
    job.early_write_rows = usize::MAX;
    assert_eq!(job.run().unwrap().written.written_early, 0);
    for early_rows in [1, 500, 20_000] {
        let db = dir.path().join(format!("early{early_rows}.sqlite"));
        let mut job = batch(vec![input.clone()], model.clone(), &db);
        job.early_write_rows = early_rows;
        let written = job.run().unwrap().written;
        assert_written_early(written.written_early);
        assert!(written.written_early <= written.forecasts + written.hourly);
        assert!(
            tables(&db) == tables(&after),
            "early every {early_rows} rows differs"
        );
        // Re-run into the same file (WAL mode now): nothing changes, early or not.
        let mut job = batch(vec![input.clone()], model.clone(), &db);
        job.early_write_rows = early_rows;
        assert_eq!(job.run().unwrap().written.forecasts_changed, 0);
        assert!(tables(&db) == tables(&after));
    }
}

/// A run that writes during its dataflow holds SQLite's write lock; a second run that wants
/// it makes the first roll back and write everything at its end, so the second neither waits
/// for the first's whole dataflow nor fails.
#[test]
fn a_run_writing_during_its_dataflow_steps_back_for_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("trips.csv");
    common::generate(&input, 400_000, 28, 41);
    let alone = dir.path().join("alone.sqlite");
    batch(vec![input.clone()], model(Baseline::PreviousHour), &alone)
        .run()
        .unwrap();
    let db = dir.path().join("p.sqlite");
    let mut first = batch(vec![input.clone()], model(Baseline::PreviousHour), &db);
    first.cluster = zonecast::runtime::Cluster::threads(1);
    let first = first.start().unwrap();
    // Early writes reach the file (a new one: rollback-journal mode) as they are made, so a
    // file past the schema's few pages means the first run holds the lock mid-dataflow.
    while std::fs::metadata(&db).map_or(0, |m| m.len()) < 256 * 1024 {
        if first.is_finished() {
            // It never wrote early (no idle priority here) or finished first on a busy machine.
            assert_written_early(first.join().unwrap().written.written_early);
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut second = batch(vec![input], model(Baseline::SameHourLastWeek), &db);
    second.lock_timeout = Duration::from_secs(30);
    let second = second.run().unwrap();
    let first = first.join().unwrap();
    assert_eq!(first.written.written_early, 0, "the first run stepped back");
    assert!(second.written.forecasts > 0);
    assert_eq!(
        Store::open_read(&db).unwrap().run_counts().unwrap(),
        counts(2, 0, 0, 0)
    );
    let first_version = model(Baseline::PreviousHour).version;
    let mine: Rows = rows(&db)
        .into_iter()
        .filter(|r| r.3 == first_version)
        .collect();
    assert!(mine == rows(&alone));
}

#[test]
fn rerunning_the_same_input_and_model_adds_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.csv", 5);
    let db = dir.path().join("p.sqlite");
    let first = batch(vec![input.clone()], model(Baseline::PreviousHour), &db)
        .run()
        .unwrap();
    assert!(first.written.forecasts > 1000);
    assert_eq!(first.written.forecasts_changed, first.written.forecasts);
    let before = rows(&db);
    let second = batch(vec![input.clone()], model(Baseline::PreviousHour), &db)
        .run()
        .unwrap();
    assert_eq!(second.written.forecasts, first.written.forecasts);
    assert_eq!(second.written.forecasts_changed, 0, "nothing new");
    assert_eq!(rows(&db), before, "same rows");
    // A new model version adds its rows beside the old ones.
    let third = batch(vec![input], model(Baseline::FourWeekMean), &db)
        .run()
        .unwrap();
    let after = rows(&db);
    assert_eq!(
        after.len() as u64,
        first.written.forecasts + third.written.forecasts
    );
    let versions: std::collections::BTreeSet<&str> = after.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(versions.len(), 2);
    let store = Store::open_read(&db).unwrap();
    assert_eq!(store.run_counts().unwrap(), counts(3, 0, 0, 0));
    drop(store);
    // A run that fails part-way is recorded as failed, and writes nothing.
    let error = batch(
        vec![dir.path().join("missing.csv")],
        model(Baseline::SameHourLastWeek),
        &db,
    )
    .run()
    .unwrap_err();
    assert!(error.to_string().contains("missing.csv"), "{error}");
    assert_eq!(
        Store::open_read(&db).unwrap().run_counts().unwrap(),
        counts(3, 1, 0, 0)
    );
    assert_eq!(rows(&db), after);
}

#[test]
fn since_last_run_scores_only_new_hours() {
    let dir = tempfile::tempdir().unwrap();
    let early = trips(dir.path(), "early.csv", 4);
    let all = trips(dir.path(), "all.csv", 7);
    let db = dir.path().join("cron.sqlite");
    let mut job = batch(vec![early], model(Baseline::PreviousHour), &db);
    job.range.since_last_run = true;
    let first = job.run().unwrap();
    let first_rows = rows(&db);
    let last_hour = first_rows.iter().map(|r| r.1).max().unwrap();
    let mut job = batch(vec![all.clone()], model(Baseline::PreviousHour), &db);
    job.range.since_last_run = true;
    let second = job.run().unwrap();
    assert_eq!(second.written.from, Some(last_hour + 1));
    assert!(second.written.forecasts > 0);
    // The union: the first run's rows, then a full run's rows after its last hour.
    let full_db = dir.path().join("full.sqlite");
    batch(vec![all], model(Baseline::PreviousHour), &full_db)
        .run()
        .unwrap();
    let expected: Rows = first_rows
        .iter()
        .cloned()
        .chain(rows(&full_db).into_iter().filter(|r| r.1 > last_hour))
        .collect();
    let mut expected = expected;
    expected.sort_by_key(|a| (a.0, a.1));
    assert_eq!(rows(&db), expected);
    assert!(first.written.forecasts > 0);
    // Nothing new: a third run writes nothing.
    let mut job = batch(
        vec![dir.path().join("all.csv")],
        model(Baseline::PreviousHour),
        &db,
    );
    job.range.since_last_run = true;
    assert_eq!(job.run().unwrap().written.forecasts, 0);
}

#[test]
fn from_and_to_bound_the_target_hours() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.csv", 4);
    let db = dir.path().join("p.sqlite");
    let from = days_from_civil(2024, 4, 2) * 24;
    let mut job = batch(vec![input], model(Baseline::PreviousHour), &db);
    job.range = HourRange {
        from: Some(from),
        to: Some(from + 24),
        since_last_run: false,
    };
    job.run().unwrap();
    let rows = rows(&db);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.1 >= from && r.1 < from + 24));
}

#[test]
fn overlapping_runs_serialise_and_a_held_lock_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.csv", 4);
    let db = dir.path().join("p.sqlite");
    // Two runs at once: both complete (one waits for the other's write lock).
    let handles: Vec<_> = [Baseline::PreviousHour, Baseline::SameHourLastWeek]
        .into_iter()
        .map(|b| {
            let (input, db) = (input.clone(), db.clone());
            std::thread::spawn(move || batch(vec![input], model(b), &db).run())
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let store = Store::open_read(&db).unwrap();
    assert_eq!(store.run_counts().unwrap(), counts(2, 0, 0, 0));
    drop(store);
    // A writer that never lets go: the run waits, then fails with a clear error.
    let blocker = rusqlite_free_lock(&db);
    let mut job = batch(vec![input], model(Baseline::FourWeekMean), &db);
    job.lock_timeout = Duration::from_millis(300);
    let error = job.run().unwrap_err();
    assert!(
        matches!(error, JobError::Store(StoreError::Locked { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("locked by another zonecast run"),
        "{error}"
    );
    drop(blocker);
    let store = Store::open_read(&db).unwrap();
    let counts = store.run_counts().unwrap();
    assert_eq!(
        (counts.complete, counts.running, counts.abandoned),
        (2, 0, 0),
        "no partial run is recorded as complete"
    );
    assert!(rows(&db)
        .iter()
        .all(|r| r.3 != model(Baseline::FourWeekMean).version));
}

/// Holds the database's write lock until dropped (another process's run, in effect).
fn rusqlite_free_lock(db: &Path) -> KillOnDrop {
    python_writer(db, &["BEGIN IMMEDIATE"])
}

/// A Python process that runs `statements` on `db` in autocommit mode, then waits (holding
/// whatever they took) until it is dropped, which kills it with SIGKILL.
fn python_writer(db: &Path, statements: &[&str]) -> KillOnDrop {
    // sqlite3's shell is not always installed; Python's sqlite3 module is.
    let script = format!(
        "import sqlite3,time\nc=sqlite3.connect(r'{}',isolation_level=None)\nfor s in {statements:?}:\n    c.execute(s)\nprint('done',flush=True)\ntime.sleep(60)\n",
        db.display()
    );
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "done");
    KillOnDrop(child)
}

#[test]
fn a_corrupt_or_foreign_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.csv", 2);
    let corrupt = dir.path().join("corrupt.sqlite");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&corrupt, &garbage).unwrap();
    let error = batch(vec![input.clone()], model(Baseline::PreviousHour), &corrupt)
        .run()
        .unwrap_err();
    assert!(
        matches!(error, JobError::Store(StoreError::Corrupt { .. })),
        "{error}"
    );
    assert!(error
        .to_string()
        .contains("move it away or use another database path"));
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        garbage,
        "the file is untouched"
    );
    let foreign = dir.path().join("foreign.sqlite");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3;c=sqlite3.connect(r'{}');c.execute('create table t(x)');c.commit()",
            foreign.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let error = batch(vec![input], model(Baseline::PreviousHour), &foreign)
        .run()
        .unwrap_err();
    assert!(
        matches!(error, JobError::Store(StoreError::Foreign { .. })),
        "{error}"
    );
    let missing = Store::open_read(&dir.path().join("none.sqlite"))
        .err()
        .unwrap();
    assert!(missing
        .to_string()
        .contains("write it first with a batch run"));
}

#[test]
fn serve_answers_from_the_database_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.csv", 4);
    let db = dir.path().join("p.sqlite");
    batch(vec![input], model(Baseline::PreviousHour), &db)
        .run()
        .unwrap();
    let store = Store::open_read(&db).unwrap();
    let (live, version, kind) = store
        .live_state(Arc::new(ZoneDirectory::default()), Default::default())
        .unwrap();
    let state = ServerState::new(live, &kind, &version);
    let _publisher = Publisher::new(state.clone());
    let server = ServerHandle::start("127.0.0.1:0", state, 1).unwrap();
    let doc: serde_json::Value = serde_json::from_str(zonecast::server::OPENAPI_JSON).unwrap();
    let list = get(server.addr, "/v1/predictions");
    assert_eq!(list.status, 200);
    let schema = common::openapi::response_schema(&doc, "/v1/predictions", "get", 200).unwrap();
    common::openapi::validate(&doc, schema, &list.json()).unwrap();
    // Each zone's latest target hour in the table is what is served.
    let mut latest: BTreeMap<u16, (i64, f64)> = BTreeMap::new();
    for (zone, hour, pickups, _, _) in rows(&db) {
        let e = latest.entry(zone).or_insert((hour, pickups));
        if hour > e.0 {
            *e = (hour, pickups);
        }
    }
    let served = list.json();
    let predictions = served["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), latest.len());
    for p in predictions {
        let zone = p["zone"].as_u64().unwrap() as u16;
        assert_eq!(p["predicted_pickups"].as_f64().unwrap(), latest[&zone].1);
        assert_eq!(p["model_version"], version.as_str());
    }
    let zone = *latest.keys().next().unwrap();
    assert_eq!(
        get(server.addr, &format!("/v1/predictions/{zone}")).status,
        200
    );
    let history = get(server.addr, &format!("/v1/zones/{zone}/history?hours=24")).json();
    assert_eq!(history["hours"].as_array().unwrap().len(), 24);
    assert!(history["hours"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| !h["actual_pickups"].is_null()));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/",
        "/v1/evaluation",
        "/v1/status",
    ] {
        assert_eq!(get(server.addr, path).status, 200, "{path}");
    }
    assert!(get(server.addr, "/metrics")
        .text()
        .contains("zonecast_rows_read_total 16000"));
}

#[test]
fn batch_table_equals_the_streaming_jobs_final_forecasts_on_the_green_month() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let path = dir.join("green_tripdata_2024-01.parquet");
    let scratch = tempfile::tempdir().unwrap();
    let db = scratch.path().join("green.sqlite");
    let spec = FeatureSpec::new(FeatureSpec::parse_lags("1-6,24,168").unwrap(), 1);
    let model = ModelFile::baseline(Baseline::FourWeekMean, spec);
    let outcome = batch(vec![path.clone()], model.clone(), &db).run().unwrap();
    assert_eq!(outcome.report.rows_read, 56_551);
    let table = rows(&db);
    // The streaming job (2 workers) on the same file, keeping every hour it served.
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    job.source = Source::files([path]);
    job.cluster = zonecast::runtime::Cluster::threads(2);
    job.serving_retention_hours = 24 * 400;
    let running = job.start().unwrap();
    running.wait_for(Duration::from_secs(120), |s| s["input_finished"] == true);
    running.stop();
    let state = running.join().unwrap().state.unwrap();
    let live = state.live.read().unwrap();
    let streamed: Rows = live
        .forecasts()
        .map(|(&(zone, hour), f)| {
            (
                zone,
                hour,
                f.pickups(),
                f.model_version.to_string(),
                f.fallback,
            )
        })
        .collect();
    assert!(table.len() > 10_000, "{} rows", table.len());
    assert_eq!(table.len(), streamed.len());
    for (a, b) in table.iter().zip(&streamed) {
        assert_eq!(a, b);
    }
}

#[test]
fn concurrent_first_opens_of_a_new_database_all_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.sqlite");
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || Store::open(&db, Duration::from_secs(10)).map(|_| ()))
            })
            .collect();
        for open in opens {
            open.join()
                .unwrap()
                .expect("every opener sees a complete schema");
        }
    }
}

/// 400,000 generated trips over `days` days (`trips.csv`) and a baseline model file
/// (`m.bin`) in `dir`, for runs of the `zonecast` binary.
fn trips_and_model_files(dir: &Path, days: u32, seed: u64) -> (PathBuf, PathBuf) {
    let input = dir.join("trips.csv");
    common::generate(&input, 400_000, days, seed);
    let model_path = dir.join("m.bin");
    model(Baseline::PreviousHour).save(&model_path).unwrap();
    (input, model_path)
}

/// `zonecast batch --quiet` of `input` with `model` into `db`, as a separate process.
fn batch_process(input: &Path, model: &Path, db: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_zonecast"));
    command.args(["batch", "--quiet", "--input", input.to_str().unwrap()]);
    command.args([
        "--model",
        model.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    command
}

/// A batch process killed with SIGKILL leaves its run `running`; the next run finds its lock
/// released, marks it `abandoned` (in the table and its summary) and removes its lock file. A
/// live run's lock is respected (see the overlapping runs test).
#[test]
fn a_killed_batch_run_is_marked_abandoned_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (input, model_path) = trips_and_model_files(dir.path(), 14, 31);
    let db = dir.path().join("p.sqlite");
    let args = |db: &Path| batch_process(&input, &model_path, db);
    let mut doomed = args(&db)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running = Store::open_read(&db)
            .and_then(|s| s.run_counts())
            .is_ok_and(|c| c.running == 1);
        if running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        assert!(
            doomed.try_wait().unwrap().is_none(),
            "the run ended too soon to be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    doomed.kill().unwrap(); // SIGKILL
    doomed.wait().unwrap();
    assert_eq!(
        Store::open_read(&db).unwrap().run_counts().unwrap(),
        counts(0, 0, 1, 0)
    );
    let next = args(&db).output().unwrap();
    let summary = String::from_utf8_lossy(&next.stderr);
    assert!(next.status.success(), "{summary}");
    assert!(summary.contains("abandoned      runs 1 "), "{summary}");
    assert_eq!(
        Store::open_read(&db).unwrap().run_counts().unwrap(),
        counts(1, 0, 0, 1)
    );
    let error: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT error FROM runs WHERE run_id = 1", [], |r| r.get(0))
        .unwrap();
    assert!(error.contains("died"), "{error}");
    let locks: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(locks.is_empty(), "lock files left: {locks:?}");
}

/// A schema version 1 database (before run locks) is migrated by the next run: its rows are
/// kept, and a run it left `running` is marked `abandoned`.
#[test]
fn a_version_1_database_is_migrated_and_its_stuck_runs_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.csv", 4);
    let db = dir.path().join("p.sqlite");
    let v1 = include_str!("../src/store/schema.sql")
        .replace(", 'abandoned'", "")
        .replace(
            "    error             TEXT,\n    lock_file         TEXT                    -- the running process's lock file (see run_lock.rs)\n",
            "    error             TEXT\n",
        );
    assert!(
        !v1.contains("lock_file"),
        "the v1 schema is derived from schema.sql"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&v1).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1;
         INSERT INTO runs (status, started_at, inputs, model_version, model_kind)
           VALUES ('complete', '2024-01-01T00:00:00.000Z', '[]', 'v', 'rf'),
                  ('running', '2024-01-02T00:00:00.000Z', '[]', 'v', 'rf');",
    )
    .unwrap();
    drop(conn);
    // Read as it is (serving does not write)...
    assert_eq!(
        Store::open_read(&db).unwrap().run_counts().unwrap(),
        counts(1, 0, 1, 0)
    );
    // ...and migrated by a run.
    let outcome = batch(vec![input], model(Baseline::PreviousHour), &db)
        .run()
        .unwrap();
    assert_eq!(outcome.written.abandoned, vec![2]);
    assert_eq!(outcome.written.run_id, 3);
    assert_eq!(
        Store::open_read(&db).unwrap().run_counts().unwrap(),
        counts(2, 0, 0, 1)
    );
    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, zonecast::store::SCHEMA_VERSION);
}

/// The hourly rows a run wrote, without run ids.
type HourlyRows = Vec<(u16, String, i64, Option<f64>, Option<f64>, Option<f64>)>;

fn hourly_rows(db: &Path) -> HourlyRows {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut query = conn
        .prepare("SELECT zone, hour, pickups, mean_distance, mean_fare, mean_total FROM hourly ORDER BY zone, hour")
        .unwrap();
    let rows = query
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn the_same_tables_on_1_2_and_4_workers_and_2_processes() {
    // Three weeks of seeded trips, some delivered hours late; a model that needs a week.
    let dir = tempfile::tempdir().unwrap();
    let input = trips(dir.path(), "trips.parquet", 21);
    let model = model(Baseline::SameHourLastWeek);
    let tables = |db: &Path| (rows(db), hourly_rows(db));
    let one = dir.path().join("w1.sqlite");
    let outcome = batch(vec![input.clone()], model.clone(), &one)
        .run()
        .unwrap();
    assert!(outcome.report.late > 0, "the input should have late trips");
    let expected = tables(&one);
    assert!(expected.0.len() > 5_000 && expected.1.len() > 5_000);
    for workers in [2, 4] {
        let db = dir.path().join(format!("w{workers}.sqlite"));
        let mut job = batch(vec![input.clone()], model.clone(), &db);
        job.cluster = zonecast::runtime::Cluster::threads(workers);
        job.run().unwrap();
        assert!(tables(&db) == expected, "{workers} workers differ from one");
    }
    // Two processes of two workers: process 0 writes the database.
    let model_file = dir.path().join("model.bin");
    model.save(&model_file).unwrap();
    let hosts = common::process::two_process_hostfile(dir.path());
    let db = dir.path().join("p2.sqlite");
    let command = |process: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_zonecast"));
        command.arg("batch").arg("--input").arg(&input);
        command.arg("--model").arg(&model_file).arg("--db").arg(&db);
        command.args([
            "--quiet",
            "--workers",
            "2",
            "--processes",
            "2",
            "--process",
            process,
        ]);
        command.arg("--hostfile").arg(&hosts);
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let (leader, follower) = (command("0"), command("1"));
    for child in [leader, follower] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        tables(&db) == expected,
        "two processes differ from one worker"
    );
}

/// A new file's first run is written in rollback-journal mode (its pages go into the file
/// once), then the file is put in WAL mode. A first run killed with SIGKILL while it writes
/// leaves its journal: a reader sees no row of the run and its record still `running`, and
/// the next run marks it abandoned and writes everything.
#[test]
fn a_new_database_killed_during_its_first_write_is_rolled_back_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let (input, model_path) = trips_and_model_files(dir.path(), 28, 37);
    let batch_process = |db: &Path| {
        let mut command = batch_process(&input, &model_path, db);
        command.stderr(std::process::Stdio::null());
        command
    };
    let journal_mode = |db: &Path| -> String {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    };
    // Uninterrupted, the file ends in WAL mode.
    let whole = dir.path().join("whole.sqlite");
    assert!(batch_process(&whole).status().unwrap().success());
    assert_eq!(journal_mode(&whole), "wal");
    let expected = rows(&whole);
    assert!(!expected.is_empty());
    // Killed while writing: try until the kill lands inside the run's write transaction.
    for attempt in 0..10 {
        let db = dir.path().join(format!("killed{attempt}.sqlite"));
        let journal = dir.path().join(format!("killed{attempt}.sqlite-journal"));
        let mut doomed = batch_process(&db).spawn().unwrap();
        let mut began = false;
        while doomed.try_wait().unwrap().is_none() {
            began = began
                || Store::open_read(&db)
                    .and_then(|s| s.run_counts())
                    .is_ok_and(|c| c.running == 1);
            if began && journal.exists() {
                doomed.kill().unwrap(); // SIGKILL
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        doomed.wait().unwrap();
        if !journal.exists() {
            continue; // it finished (or was killed) outside its write: try again
        }
        let after_kill = Store::open_read(&db).unwrap().run_counts().unwrap();
        if after_kill != counts(0, 0, 1, 0) {
            continue; // killed while switching to WAL, after the commit
        }
        assert!(rows(&db).is_empty(), "no row of the killed run is visible");
        let next = batch_process(&db).output().unwrap();
        assert!(next.status.success());
        assert_eq!(
            Store::open_read(&db).unwrap().run_counts().unwrap(),
            counts(1, 0, 0, 1)
        );
        assert_eq!(rows(&db), expected);
        assert_eq!(journal_mode(&db), "wal");
        return;
    }
    panic!("no kill landed inside a first run's write in 10 attempts");
}

/// A hot journal (a write transaction whose pages had already reached the file when its
/// process was killed) is rolled back when the file is opened for reading, though the reader
/// itself is read-only.
#[test]
fn a_reader_rolls_back_a_hot_journal_left_by_a_killed_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.sqlite");
    let input = trips(dir.path(), "trips.csv", 2);
    batch(vec![input], model(Baseline::PreviousHour), &db)
        .run()
        .unwrap();
    let before = rows(&db);
    // Back to rollback-journal mode (as a new file's first run writes), then a writer whose
    // tiny page cache spills its changed pages into the file before it is killed.
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    let writer = python_writer(
        &db,
        &[
            "PRAGMA cache_size = 2",
            "BEGIN IMMEDIATE",
            "UPDATE forecasts SET predicted_pickups = -1",
        ],
    );
    drop(writer); // SIGKILL
    let journal = dir.path().join("p.sqlite-journal");
    assert!(
        std::fs::metadata(&journal).unwrap().len() > 0,
        "a hot journal"
    );
    let read_only =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let error = read_only
        .query_row("SELECT count(*) FROM forecasts", [], |r| r.get::<_, i64>(0))
        .unwrap_err();
    assert!(error.to_string().contains("read"), "{error}");
    drop(read_only);
    assert_eq!(rows(&db), before, "the killed write is rolled back");
    assert!(!journal.exists());
}
