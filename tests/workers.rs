//! Scale-out: the table, the rejects file and the update log are byte-identical with 1, 2 and
//! 4 worker threads and with 2 processes, on the real green file (with its real lateness) and
//! on generated CSV mixed with Parquet.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{data_file, zonecast, Scratch};

/// Runs aggregate with extra args; returns (table, rejects, changes).
fn outputs(dir: &Scratch, inputs: &[&Path], tag: &str, extra: &[&str]) -> [String; 3] {
    let names = ["table", "rejects", "changes"].map(|k| dir.path(&format!("{tag}.{k}.csv")));
    let mut args: Vec<String> = vec!["aggregate".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    for (flag, path) in ["--out", "--rejects", "--changes"].iter().zip(&names) {
        args.push(flag.to_string());
        args.push(path.display().to_string());
    }
    args.extend([
        "--quiet".to_string(),
        "--batch-rows".to_string(),
        "2000".to_string(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    zonecast(&args);
    names.map(|p| std::fs::read_to_string(p).unwrap())
}

/// Runs the same job as two processes of two workers each; returns process 0's outputs.
fn two_processes(dir: &Scratch, inputs: &[&Path], tag: &str) -> [String; 3] {
    let hosts = dir.write(
        &format!("{tag}.hosts"),
        format!(
            "127.0.0.1:{}\n127.0.0.1:{}\n",
            common::free_port(),
            common::free_port()
        ),
    );
    let mut args: Vec<String> = vec!["aggregate".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(
        [
            "--quiet",
            "--batch-rows",
            "2000",
            "--workers",
            "2",
            "--processes",
            "2",
            "--hostfile",
        ]
        .map(String::from),
    );
    args.push(hosts.display().to_string());
    let follower = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(&args)
        .args(["--process", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let extra = [
        "--workers",
        "2",
        "--processes",
        "2",
        "--process",
        "0",
        "--hostfile",
        hosts.to_str().unwrap(),
    ];
    let result = outputs(dir, inputs, tag, &extra);
    let follower = follower.wait_with_output().unwrap();
    assert!(
        follower.status.success(),
        "process 1 failed: {}",
        String::from_utf8_lossy(&follower.stderr)
    );
    result
}

fn assert_identical(inputs: &[&Path], dir: &Scratch) {
    let one = outputs(dir, inputs, "w1", &["--workers", "1"]);
    assert!(
        one[0].lines().count() > 100,
        "table too small to mean anything"
    );
    for workers in ["2", "4"] {
        let many = outputs(dir, inputs, &format!("w{workers}"), &["--workers", workers]);
        for (k, name) in ["table", "rejects", "changes"].iter().enumerate() {
            assert!(
                one[k] == many[k],
                "{name} differs between 1 and {workers} workers"
            );
        }
    }
    let procs = two_processes(dir, inputs, "p2");
    for (k, name) in ["table", "rejects", "changes"].iter().enumerate() {
        assert!(
            one[k] == procs[k],
            "{name} differs between 1 worker and 2 processes"
        );
    }
}

#[test]
fn green_parquet_is_identical_on_1_2_4_workers_and_2_processes() {
    let Some(path) = data_file("green_tripdata_2024-01.parquet") else {
        return;
    };
    let dir = Scratch::new();
    assert_identical(&[&path], &dir);
}

#[test]
fn generated_csv_and_parquet_mixed_are_identical_on_every_layout() {
    let dir = Scratch::new();
    let csv = dir.path("a.csv");
    let parquet = dir.path("b.parquet");
    for (path, seed) in [(&csv, "11"), (&parquet, "12")] {
        zonecast(&[
            "generate",
            "--out",
            path.to_str().unwrap(),
            "--trips",
            "30000",
            "--days",
            "5",
            "--seed",
            seed,
        ]);
    }
    assert_identical(&[&csv, &parquet, &csv], &dir);
}

#[test]
fn csv_and_parquet_of_the_same_trips_give_the_same_table() {
    let dir = Scratch::new();
    let csv = dir.path("same.csv");
    let parquet = dir.path("same.parquet");
    for path in [&csv, &parquet] {
        common::generate(path, 20000, 3, 5);
    }
    let a = outputs(&dir, &[&csv], "csv", &[]);
    let b = outputs(&dir, &[&parquet], "parquet", &[]);
    assert_eq!(a[0], b[0]);
}
