//! `zonecast run --state-dir` as real processes killed with SIGKILL and restarted: the final
//! forecasts (with revisions), hourly actuals and counters equal an uninterrupted run's; socket
//! clients in acknowledged mode lose and double no row across server restarts; a damaged
//! checkpoint falls back to the one before; other settings are refused by name.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::http::get;
use common::live::{push_hours, pushed_job, served_status, wait_status};
use common::process::{http_addr, spawn_command, two_process_hostfile};
use common::KillOnDrop;
use serde_json::{json, Value};

/// A running `zonecast run` and its HTTP address.
struct Job {
    child: KillOnDrop,
    http: SocketAddr,
    _lines: Receiver<String>,
}

fn start(args: &[&str]) -> Job {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zonecast"));
    command
        .arg("run")
        .args(args)
        .args(["--http", "127.0.0.1:0", "--quiet"]);
    let (child, lines) = spawn_command(command);
    let child = KillOnDrop(child);
    let http = http_addr(&lines);
    Job {
        child,
        http,
        _lines: lines,
    }
}

/// Seeded moments in `[low, high)` milliseconds (SplitMix64).
fn moments(seed: u64, n: usize, low: u64, high: u64) -> Vec<Duration> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Duration::from_millis(low + (z ^ (z >> 31)) % (high - low))
        })
        .collect()
}

/// Everything a client can see once the input is reflected: counters, every zone's current
/// forecast and its last `hours` hours (actuals beside forecasts with revisions); wall-clock
/// fields removed. `exact`: keep the counters that depend on epoch boundaries.
fn final_state(addr: SocketAddr, hours: u32, exact: bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = get(addr, "/v1/status").json();
        if status["input_finished"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "input never finished: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = get(addr, "/v1/status").json();
    let mut keys = vec!["rows_read", "accepted", "rejected", "late", "watermark"];
    if exact {
        keys.extend(["forecasts_updated", "forecasts_corrected", "epoch"]);
    }
    let counters: Value = keys
        .iter()
        .map(|k| (k.to_string(), status[k].clone()))
        .collect();
    let mut predictions = get(addr, "/v1/predictions").json()["predictions"].clone();
    let mut histories = Vec::new();
    for p in predictions.as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("updated_at");
        if !exact {
            // When a zone's forecast last changed depends on where the clock cut epochs.
            p.as_object_mut().unwrap().remove("revision");
            p.as_object_mut().unwrap().remove("as_of");
        }
        let zone = p["zone"].as_u64().unwrap();
        let mut history = get(addr, &format!("/v1/zones/{zone}/history?hours={hours}")).json();
        if !exact {
            for h in history["hours"].as_array_mut().unwrap() {
                h.as_object_mut().unwrap().remove("revision");
            }
        }
        histories.push(history);
    }
    json!({ "counters": counters, "predictions": predictions, "histories": histories })
}

/// Where two JSON values first differ (a path and both values), if they do.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => x
            .iter()
            .find_map(|(k, v)| first_difference(v, y.get(k)?, &format!("{at}.{k}"))),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} vs {b}")),
    }
}

/// Starts the job and kills it (SIGKILL) at each moment after it came up.
fn kill_at(args: &[&str], kills: &[Duration]) {
    for (i, &at) in kills.iter().enumerate() {
        let mut job = start(args);
        std::thread::sleep(at);
        job.child.0.kill().unwrap();
        job.child.0.wait().unwrap();
        eprintln!("kill {i} after {at:?}");
    }
}

fn newest_checkpoint(dir: &Path) -> Option<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zcc"))
        .collect();
    files.sort();
    files.pop()
}

#[test]
fn a_file_replay_killed_ten_times_ends_byte_for_byte_like_an_uninterrupted_run() {
    let Some(input) = common::data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let input = input.to_str().unwrap();
    let base = ["--input", input, "--workers", "2", "--batch-rows", "50"];
    let scratch = tempfile::tempdir().unwrap();
    let straight_rejects = scratch.path().join("straight_rejects.csv");
    let rejects = scratch.path().join("rejects.csv");
    let mut straight_args = base.to_vec();
    straight_args.extend(["--rejects", straight_rejects.to_str().unwrap()]);
    let straight = start(&straight_args);
    let expected = final_state(straight.http, 48, true);
    drop(straight);

    let mut args = base.to_vec();
    args.extend([
        "--state-dir",
        state.path().to_str().unwrap(),
        "--checkpoint-interval",
        "0.05",
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    kill_at(&args, &moments(13, 10, 100, 900));
    // A torn newest checkpoint: detected by its frame, the one before it is used.
    if let Some(newest) = newest_checkpoint(state.path()) {
        let len = std::fs::metadata(&newest).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    }
    let job = start(&args);
    let restarted = final_state(job.http, 48, true);
    assert_eq!(restarted["counters"], expected["counters"]);
    assert_eq!(
        restarted, expected,
        "forecasts, revisions and actuals after 10 kills"
    );
    // The rejects file holds every late row once: cut back to each checkpoint's epoch on
    // restart, then written on.
    let late = std::fs::read_to_string(&straight_rejects).unwrap();
    assert!(
        late.lines().count() > 3_000,
        "{} lines",
        late.lines().count()
    );
    assert!(
        std::fs::read_to_string(&rejects).unwrap() == late,
        "the rejects file after 10 kills differs from an uninterrupted run's"
    );
    drop(job);
}

#[test]
fn two_processes_killed_five_times_end_byte_for_byte_like_one_uninterrupted_process() {
    let Some(input) = common::data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let input = input.to_str().unwrap();
    let base = ["--input", input, "--workers", "2", "--batch-rows", "50"];
    let straight = start(&base);
    let expected = final_state(straight.http, 48, true);
    drop(straight);

    let hosts = two_process_hostfile(state.path());
    let folder = state.path().join("state");
    let process = |index: &str| {
        let mut args = base.to_vec();
        args.extend(["--state-dir", folder.to_str().unwrap()]);
        args.extend(["--checkpoint-interval", "0.05", "--processes", "2"]);
        args.extend(["--process", index, "--hostfile", hosts.to_str().unwrap()]);
        let mut command = Command::new(env!("CARGO_BIN_EXE_zonecast"));
        command
            .arg("run")
            .args(args)
            .args(["--http", "127.0.0.1:0", "--quiet"]);
        command
    };
    // Both processes of the job are killed at each moment (process 1 reads the same folder;
    // the processes take about a second to connect).
    for (i, at) in moments(17, 5, 1500, 4000).into_iter().enumerate() {
        let (follower, _follower_lines) = spawn_command(process("1"));
        let mut follower = KillOnDrop(follower);
        let job = {
            let (child, lines) = spawn_command(process("0"));
            let child = KillOnDrop(child);
            let http = http_addr(&lines);
            Job {
                child,
                http,
                _lines: lines,
            }
        };
        std::thread::sleep(at);
        let mut job = job;
        job.child.0.kill().unwrap();
        job.child.0.wait().unwrap();
        follower.0.kill().unwrap();
        follower.0.wait().unwrap();
        eprintln!("kill {i} after {at:?}");
    }
    assert!(
        newest_checkpoint(&folder).is_some(),
        "checkpoints were taken"
    );
    let (_follower, _follower_lines) = spawn_command(process("1"));
    let (leader, lines) = spawn_command(process("0"));
    let _leader = KillOnDrop(leader);
    let mut restarted = final_state(http_addr(&lines), 48, true);
    // The last epoch counts the heartbeats after the input ended, which with two processes
    // arrive on their own clock; everything else must match one uninterrupted process.
    let mut expected = expected;
    for state in [&mut restarted, &mut expected] {
        state["counters"].as_object_mut().unwrap().remove("epoch");
    }
    assert_eq!(restarted["counters"], expected["counters"]);
    assert_eq!(
        first_difference(&restarted, &expected, "state"),
        None,
        "forecasts, revisions and actuals of 2 processes after 5 kills"
    );
}

#[test]
fn a_paced_replay_on_two_workers_killed_ten_times_serves_what_an_uninterrupted_one_serves() {
    let Some(input) = common::data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let input = input.to_str().unwrap();
    // About 7 s of wall clock for the month.
    let base = ["--input", input, "--workers", "2", "--speed", "400000"];
    let straight = start(&base);
    // Paced epochs are cut by the clock, so revision counts differ between any two runs;
    // everything else must not.
    let expected = final_state(straight.http, 48, false);
    drop(straight);
    let mut args = base.to_vec();
    args.extend([
        "--state-dir",
        state.path().to_str().unwrap(),
        "--checkpoint-interval",
        "0.2",
    ]);
    kill_at(&args, &moments(7, 10, 400, 1200));
    let job = start(&args);
    let restarted = final_state(job.http, 48, false);
    assert_eq!(restarted["counters"], expected["counters"]);
    assert_eq!(restarted, expected, "forecasts and actuals after 10 kills");
}

#[test]
fn a_generated_stream_stopped_four_times_continues_at_its_position() {
    use zonecast::dataflows::live::LiveJob;
    use zonecast::features::FeatureSpec;
    use zonecast::generator::GeneratorConfig;
    use zonecast::jobs::Source;
    use zonecast::model::{Baseline, ModelFile};
    use zonecast::sources::generated::GeneratedInput;

    let config = GeneratorConfig {
        trips: 60_000,
        days: 6,
        seed: 11,
        ..GeneratorConfig::default()
    };
    // Two days at once, then four days paced at 50,000x (about 7 s of wall clock).
    let input = GeneratedInput {
        live_from: config.start + 2 * 86_400,
        speed: 50_000.0,
        config,
    };
    let run = |state: Option<&Path>| {
        let model = ModelFile::baseline(Baseline::PreviousHour, FeatureSpec::new(vec![1, 24], 0));
        let mut job = LiveJob::new(model).serving("127.0.0.1:0");
        job.source = Source::Generated(input.clone());
        job.state_dir = state.map(Path::to_path_buf);
        job.checkpoint_interval = Duration::from_millis(100);
        let handle = job.start().unwrap();
        let http = handle
            .wait_ready(Duration::from_secs(30))
            .unwrap()
            .http
            .unwrap();
        (handle, http)
    };
    let (straight, http) = run(None);
    let expected = final_state(http, 48, false);
    straight.stop();
    straight.join().unwrap();
    // Stopped (its process state gone; only the folder stays) at seeded moments: each
    // restart skips the rows its checkpoint has and generates the rest.
    let state = tempfile::tempdir().unwrap();
    for at in moments(5, 4, 800, 2500) {
        let (job, _) = run(Some(state.path()));
        std::thread::sleep(at);
        job.stop();
        job.join().unwrap();
    }
    assert!(
        newest_checkpoint(state.path()).is_some(),
        "checkpoints were taken"
    );
    let (job, http) = run(Some(state.path()));
    let restarted = final_state(http, 48, false);
    assert_eq!(restarted["counters"], expected["counters"]);
    assert_eq!(
        first_difference(&restarted, &expected, "state"),
        None,
        "forecasts and actuals after 4 restarts"
    );
    job.stop();
    job.join().unwrap();
}

#[test]
fn acknowledged_socket_clients_lose_and_double_nothing_across_two_server_kills() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let files: Vec<_> = (1..=3)
        .map(|seed| {
            let path = dir.path().join(format!("trips{seed}.csv"));
            common::generate(&path, 15_000, 3, seed);
            path
        })
        .collect();
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        &listen,
        "--state-dir",
        state.to_str().unwrap(),
        "--checkpoint-interval",
        "0.3",
        "--allowed-lateness",
        "30d",
    ];
    let mut job = start(&args);
    let clients: Vec<KillOnDrop> = files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            KillOnDrop(
                Command::new(env!("CARGO_BIN_EXE_zonecast"))
                    .args(["replay", file.to_str().unwrap(), "--to", &listen, "--ack"])
                    .args(["--ack-id", &format!("client{i}"), "--speed", "40000"])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    for pause in [Duration::from_millis(1500), Duration::from_millis(1200)] {
        std::thread::sleep(pause);
        job.child.0.kill().unwrap();
        job.child.0.wait().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        job = start(&args);
    }
    for mut client in clients {
        let status = client.0.wait().unwrap();
        let mut said = String::new();
        std::io::Read::read_to_string(client.0.stderr.as_mut().unwrap(), &mut said).unwrap();
        assert!(status.success(), "replay --ack failed: {said}");
        assert!(said.contains("every one acknowledged"), "{said}");
    }
    // The union of the three files, aggregated from scratch.
    let table = common::zonecast(&[
        "aggregate",
        "--input",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
        files[2].to_str().unwrap(),
        "--allowed-lateness",
        "30d",
    ]);
    let table = common::parse_table(&String::from_utf8_lossy(&table.stdout));
    let status = get(job.http, "/v1/status").json();
    assert_eq!(status["rows_read"], 45_000, "{status}");
    assert_eq!(status["accepted"], 45_000, "{status}");
    let mut compared = 0;
    for zone in table
        .keys()
        .map(|(_, z)| *z)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let history = get(job.http, &format!("/v1/zones/{zone}/history?hours=96")).json();
        for hour in history["hours"].as_array().unwrap() {
            let label = hour["hour"].as_str().unwrap().replace('T', " ");
            let expected = table.get(&(label.clone(), zone));
            let actual = hour["actual_pickups"].as_i64();
            match (expected, actual) {
                (Some((pickups, _)), Some(actual)) => {
                    assert_eq!(*pickups, actual, "zone {zone} hour {label}");
                    compared += 1;
                }
                (Some(_), None) => panic!("zone {zone} hour {label}: no actual served"),
                _ => {}
            }
        }
    }
    assert!(compared > 1000, "{compared} (zone, hour) counts compared");
    drop(job);
}

#[test]
fn a_restart_with_other_settings_is_refused_naming_the_setting() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trips/generated_small.csv");
    let state = tempfile::tempdir().unwrap();
    let run = |batch_rows: &str| {
        Command::new(env!("CARGO_BIN_EXE_zonecast"))
            .args([
                "run",
                "--input",
                input.to_str().unwrap(),
                "--exit-at-end",
                "--quiet",
            ])
            .args(["--http", "127.0.0.1:0", "--batch-rows", batch_rows])
            .args([
                "--state-dir",
                state.path().to_str().unwrap(),
                "--checkpoint-interval",
                "0",
            ])
            .output()
            .unwrap()
    };
    let first = run("100");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        newest_checkpoint(state.path()).is_some(),
        "a checkpoint was written"
    );
    let second = run("200");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        said.contains("batch rows 100") && said.contains("batch rows 200"),
        "{said}"
    );
    assert!(
        said.contains("hint: restart with the same --batch-rows"),
        "{said}"
    );
}

#[test]
fn a_second_job_on_a_state_folder_in_use_is_refused_until_the_first_is_killed() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let args = ["--listen", "127.0.0.1:0", "--state-dir", state_arg];
    let mut first = start(&args);
    let second = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .arg("run")
        .args(args)
        .args(["--http", "127.0.0.1:0", "--quiet"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(said.contains("in use by another running job"), "{said}");
    assert!(
        said.contains("hint: each running job needs its own --state-dir"),
        "{said}"
    );
    // A killed job's lock goes with its process: the restart takes the folder.
    first.child.0.kill().unwrap();
    first.child.0.wait().unwrap();
    let restarted = start(&args);
    assert_eq!(get(restarted.http, "/v1/status").status, 200);
}

#[test]
fn a_model_swapped_in_before_a_checkpoint_is_served_after_every_later_restart() {
    use zonecast::features::FeatureSpec;
    use zonecast::model::{Baseline, ModelFile};

    let dir = tempfile::tempdir().unwrap();
    let spec = FeatureSpec::new(vec![1, 24], 0);
    let swapped = ModelFile::baseline(Baseline::SameHourLastWeek, spec);
    let versions = |http: SocketAddr| -> std::collections::BTreeSet<String> {
        let list = get(http, "/v1/predictions").json();
        list["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["model_version"].as_str().unwrap().to_string())
            .collect()
    };
    let start_job = || {
        let (handle, http, sender) = pushed_job(dir.path(), |_| {});
        (handle, sender, http)
    };
    let (handle, sender, http) = start_job();
    push_hours(&sender, 473_000, 30);
    wait_status(http, "rows", |s| s["rows_read"] == 600);
    handle.swap_model(&swapped).unwrap();
    push_hours(&sender, 473_030, 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while versions(http) != [swapped.version.clone()].into() {
        assert!(Instant::now() < deadline, "the swap never applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    let applied = served_status(http)["epoch"].as_u64().unwrap();
    wait_status(http, "a checkpoint after the swap", |s| {
        s["checkpoint"]["epoch"].as_u64() >= Some(applied)
    });
    handle.stop();
    handle.join().unwrap();
    for restart in 0..2 {
        let (handle, sender, http) = start_job();
        wait_status(http, "restored rows", |s| {
            s["rows_read"] == 640 + 20 * restart
        });
        assert_eq!(
            versions(http),
            [swapped.version.clone()].into(),
            "restart {restart}"
        );
        push_hours(&sender, 473_032 + restart, 1);
        wait_status(http, "rows after the restart", |s| {
            s["rows_read"] == 660 + 20 * restart
        });
        // Wait for this run's own checkpoint, so the next restart starts from it.
        wait_status(http, "a checkpoint", |s| {
            s["checkpoint"]["written"].as_u64() >= Some(1)
        });
        handle.stop();
        handle.join().unwrap();
    }
}

#[test]
fn a_model_swap_pending_at_the_checkpoint_is_offered_again_on_restart() {
    use zonecast::checkpoint::StateDir;
    use zonecast::features::FeatureSpec;
    use zonecast::model::{Baseline, ModelFile};

    let dir = tempfile::tempdir().unwrap();
    let spec = FeatureSpec::new(vec![1, 24], 0);
    let offered = ModelFile::baseline(Baseline::SameHourLastWeek, spec);
    let start_job = || {
        let (handle, http, sender) = pushed_job(dir.path(), |_| {});
        (handle, sender, http)
    };
    let (handle, sender, http) = start_job();
    push_hours(&sender, 473_000, 30);
    wait_status(http, "a checkpoint of every row", |s| {
        s["rows_read"] == 600 && s["checkpoint"]["written"].as_u64() >= Some(1)
    });
    handle.stop();
    handle.join().unwrap();
    // The job died between offering a swap and applying it: its last checkpoint holds the
    // offered model as pending (what the checkpointer keeps in that window).
    let state = StateDir::open(dir.path()).unwrap();
    let mut checkpoint = state.latest().unwrap().unwrap();
    assert!(checkpoint.pending_model.is_none());
    checkpoint.pending_model = Some(offered.to_bytes());
    state.write(&checkpoint).unwrap();
    let (handle, sender, http) = start_job();
    push_hours(&sender, 473_030, 1);
    wait_status(http, "the pending swap applied", |s| {
        s["rows_read"] == 620 && s["model_version"] == offered.version.as_str()
    });
    handle.stop();
    handle.join().unwrap();
}
