//! `zonecast run` as real processes: two processes of two workers (only process 0 serves HTTP)
//! serve exactly the forecasts one process serves for the real green-taxi month, and both stop
//! cleanly on SIGTERM.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::http::get;
use common::process::{http_addr, spawn_command, two_process_hostfile};
use serde_json::Value;
use zonecast::features::FeatureSpec;
use zonecast::model::{Baseline, ModelFile};

/// Starts `zonecast` with `args`; its stderr lines arrive on the receiver.
fn spawn(args: &[String]) -> (Child, Receiver<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zonecast"));
    command.args(args);
    spawn_command(command)
}

/// Starts `zonecast args` from bash after `limits` (e.g. `ulimit -n 512`), so the limits
/// apply to zonecast alone; its stderr lines arrive on the receiver.
fn spawn_limited(limits: &str, args: &[&str]) -> (Child, Receiver<String>) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{limits}; exec '{}' {}",
        env!("CARGO_BIN_EXE_zonecast"),
        quoted.join(" ")
    );
    let mut command = Command::new("bash");
    command.args(["-c", &script]);
    spawn_command(command)
}

/// Every zone's prediction once the input is fully reflected (wall-clock field removed).
fn final_predictions(addr: SocketAddr) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = get(addr, "/v1/status").json();
        if status["input_finished"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "input never finished: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut list = get(addr, "/v1/predictions").json();
    let mut predictions = list["predictions"].as_array_mut().unwrap().clone();
    for p in &mut predictions {
        p.as_object_mut().unwrap().remove("updated_at");
    }
    predictions
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_processes_serve_the_forecasts_one_process_serves() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let model_path = scratch.path().join("model.bin");
    let spec = FeatureSpec::new(FeatureSpec::parse_lags("1-6,24,168").unwrap(), 1);
    ModelFile::baseline(Baseline::FourWeekMean, spec)
        .save(&model_path)
        .unwrap();
    let base: Vec<String> = [
        "run",
        "--input",
        dir.join("green_tripdata_2024-01.parquet").to_str().unwrap(),
        "--model",
        model_path.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    let (mut one, lines) = spawn(&base);
    let single = final_predictions(http_addr(&lines));
    terminate(&mut one);
    assert!(single.len() > 200, "{} zones", single.len());

    let hosts = two_process_hostfile(scratch.path());
    let cluster = |index: &str| {
        let mut args = base.clone();
        args.extend(
            [
                "--processes",
                "2",
                "--process",
                index,
                "--hostfile",
                hosts.to_str().unwrap(),
            ]
            .map(String::from),
        );
        args
    };
    let (mut follower, follower_lines) = spawn(&cluster("1"));
    let (mut leader, leader_lines) = spawn(&cluster("0"));
    let two = final_predictions(http_addr(&leader_lines));
    assert_eq!(single, two, "2 processes serve what 1 process serves");
    terminate(&mut leader);
    let deadline = Instant::now() + Duration::from_secs(60);
    while follower.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "process 1 did not stop with process 0"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(follower.wait().unwrap().success());
    assert!(
        follower_lines.try_iter().all(|l| !l.contains("dashboard")),
        "only process 0 serves HTTP"
    );
}

#[test]
fn run_without_a_model_serves_the_baseline_and_says_so() {
    let input =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trips/generated_small.csv");
    let args: Vec<String> = [
        "run",
        "--input",
        input.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    let (mut child, lines) = spawn(&args);
    let mut said: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !said.iter().any(|l| l.trim().starts_with("dashboard")) {
        assert!(Instant::now() < deadline, "no address printed: {said:?}");
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
            said.push(line);
        }
    }
    let (tx, replay) = channel();
    for line in &said {
        tx.send(line.clone()).unwrap();
    }
    let addr = http_addr(&replay);
    let predictions = final_predictions(addr);
    let baseline = ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::default());
    assert!(!predictions.is_empty());
    assert!(predictions
        .iter()
        .all(|p| p["model_version"] == baseline.version.as_str()));
    let status = get(addr, "/v1/status").json();
    assert_eq!(status["model_kind"], "four_week_mean");
    let metrics = get(addr, "/metrics").text();
    assert!(metrics.contains("kind=\"four_week_mean\""), "{metrics}");
    terminate(&mut child);
    assert!(
        said.iter()
            .any(|l| l.contains("no --model given: serving the four_week_mean baseline")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|l| l.contains("zonecast train")),
        "{said:?}"
    );
}

/// A rejects log that hits the file size limit mid-run (as on a full disk): the job keeps
/// serving, says so on stderr, in `/v1/status` and `/metrics`, counts every record it could not
/// write, and leaves whole lines only in the file.
#[test]
fn a_rejects_log_that_cannot_be_written_degrades_loudly_and_keeps_serving() {
    let dir = common::Scratch::new();
    let mut text = String::from("tpep_pickup_datetime,PULocationID\n");
    for i in 0..400 {
        let zone = if i % 4 == 3 { 999 } else { 1 + i % 9 };
        text.push_str(&format!(
            "2024-01-01 {:02}:{:02}:00,{zone}\n",
            i / 60,
            i % 60
        ));
    }
    let input = dir.write("trips.csv", text);
    let rejects = dir.path("rejects.csv");
    let (mut child, lines) = spawn_limited(
        "trap '' XFSZ; ulimit -f 2",
        &[
            "run",
            "--input",
            input.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--batch-rows",
            "10",
            "--http",
            "127.0.0.1:0",
            "--quiet",
        ],
    );
    let (said_tx, said) = channel();
    let (addr_tx, addr_lines) = channel();
    std::thread::spawn(move || {
        for line in lines {
            let _ = said_tx.send(line.clone());
            let _ = addr_tx.send(line);
        }
    });
    let addr = http_addr(&addr_lines);
    final_predictions(addr);
    let status = get(addr, "/v1/status").json();
    let log = &status["rejects_log"];
    let (written, lost) = (
        log["written"].as_u64().unwrap(),
        log["lost"].as_u64().unwrap(),
    );
    assert_eq!(log["failing"], true, "{status}");
    assert!(written > 0 && lost > 0, "{status}");
    assert_eq!(written + lost, 100, "{status}");
    assert_eq!(status["rejected"], 100);
    assert!(
        log["last_error"].as_str().unwrap().contains("too large"),
        "{status}"
    );
    let metrics = get(addr, "/metrics").text();
    assert!(
        metrics.contains(&format!("zonecast_rejects_log_lost_total {lost}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("zonecast_rejects_log_failing 1"),
        "{metrics}"
    );
    terminate(&mut child);
    let file = std::fs::read_to_string(&rejects).unwrap();
    assert!(file.ends_with('\n'));
    assert_eq!(file.lines().count() as u64, written + 1, "whole lines only");
    let said: Vec<String> = said.try_iter().collect();
    assert!(
        said.iter()
            .any(|l| l.contains("cannot write the rejects log")),
        "{said:?}"
    );
}

/// The status line of `GET path` on a fresh connection, or why there was none (never hangs
/// longer than `timeout`).
fn status_line(addr: SocketAddr, path: &str, timeout: Duration) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return "connect failed".into();
    };
    stream.set_read_timeout(Some(timeout)).unwrap();
    let _ = stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    text.lines().next().unwrap_or("no answer").to_string()
}

/// 700 silent connections against a server whose descriptor limit is 512: the cap answers
/// `/healthz` at once with 503 (never a hang), the server survives, logs no flood, and once
/// the header timeout closes the silent connections `/healthz` answers 200.
#[test]
fn seven_hundred_silent_connections_under_a_512_descriptor_limit_do_not_hang_healthz() {
    let input =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trips/generated_small.csv");
    let (mut child, lines) = spawn_limited(
        "ulimit -n 512",
        &[
            "run",
            "--input",
            input.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--quiet",
        ],
    );
    let addr = http_addr(&lines);
    let silent: Vec<std::net::TcpStream> = (0..700)
        .filter_map(|_| std::net::TcpStream::connect(addr).ok())
        .collect();
    assert!(silent.len() >= 600, "only {} connected", silent.len());
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let line = status_line(addr, "/healthz", Duration::from_secs(5));
    assert!(line.contains(" 503") || line.contains(" 200"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{line} after {:?}",
        started.elapsed()
    );
    // The header timeout (10 s) closes the silent connections; then the server answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = status_line(addr, "/healthz", Duration::from_secs(5));
        if line.contains(" 200") {
            break;
        }
        assert!(Instant::now() < deadline, "{line}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(child.try_wait().unwrap().is_none(), "the server is alive");
    drop(silent);
    terminate(&mut child);
    let errors = lines.try_iter().filter(|l| l.contains("ERROR")).count();
    assert!(errors <= 2, "{errors} error lines");
}
