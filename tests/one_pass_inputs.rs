//! Inputs that can be read only once: standard input (`--input -`) and FIFOs are read in one
//! pass and give the same table as the file; the format is sniffed or given with `--format`;
//! what cannot work (stdin in two processes, unknown bytes) is refused with what to do.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{free_port, Scratch};

/// Runs `zonecast args` with `stdin` piped in; returns (success, stdout, stderr).
fn zonecast_with_stdin(args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes); // a refusing run may close stdin unread
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn table_of(input: &Path, extra: &[&str]) -> String {
    let mut args = vec!["aggregate", "--quiet", "--batch-rows", "100", "--input"];
    args.push(input.to_str().unwrap());
    args.extend_from_slice(extra);
    let out = common::zonecast(&args);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn standard_input_gives_the_table_of_the_file_csv_and_parquet() {
    let dir = Scratch::new();
    for name in ["trips.csv", "trips.parquet"] {
        let path = dir.path(name);
        common::generate(&path, 3_000, 2, 21);
        let expected = table_of(&path, &[]);
        let (ok, table, stderr) = zonecast_with_stdin(
            &[
                "aggregate",
                "--quiet",
                "--batch-rows",
                "100",
                "--input",
                "-",
            ],
            &std::fs::read(&path).unwrap(),
        );
        assert!(ok, "{name}: {stderr}");
        assert_eq!(table, expected, "{name}");
        assert!(expected.lines().count() > 20);
    }
}

#[test]
fn rejects_from_standard_input_name_stdin_and_keep_their_lines() {
    let dir = Scratch::new();
    let rejects = dir.path("rejects.csv");
    let text = "tpep_pickup_datetime,PULocationID\n2024-01-01 00:10:00,4\nbroken\n";
    let (ok, _, stderr) = zonecast_with_stdin(
        &[
            "aggregate",
            "--quiet",
            "--input",
            "-",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        text.as_bytes(),
    );
    assert!(ok, "{stderr}");
    let rejects = std::fs::read_to_string(rejects).unwrap();
    assert!(rejects.contains("stdin,3,"), "{rejects}");
}

#[test]
fn a_fifo_is_read_once_and_gives_the_table_of_the_file() {
    let dir = Scratch::new();
    let path = dir.path("trips.csv");
    common::generate(&path, 3_000, 2, 22);
    let expected = table_of(&path, &[]);
    let fifo = dir.path("pipe"); // no extension: the format is sniffed
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, bytes) = (fifo.clone(), std::fs::read(&path).unwrap());
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    assert_eq!(table_of(&fifo, &[]), expected);
    writer.join().unwrap();
}

#[test]
fn format_flag_reads_a_file_whose_name_says_nothing() {
    let dir = Scratch::new();
    let path = dir.path("trips.csv");
    common::generate(&path, 1_000, 1, 23);
    let expected = table_of(&path, &[]);
    let odd = dir.path("trips.dat");
    std::fs::copy(&path, &odd).unwrap();
    assert_eq!(table_of(&odd, &["--format", "csv"]), expected);
    let output = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(["aggregate", "--quiet", "--input", odd.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("--format csv"),
        "{stderr}"
    );
}

#[test]
fn unknown_bytes_on_standard_input_ask_for_the_format() {
    let (ok, _, stderr) = zonecast_with_stdin(
        &["aggregate", "--quiet", "--input", "-"],
        b"\x00\x01\x02 binary, not a table",
    );
    assert!(
        !ok && stderr.contains("cannot tell the format of -"),
        "{stderr}"
    );
    assert!(stderr.contains("--format"), "{stderr}");
}

#[test]
fn standard_input_in_two_processes_is_refused_before_reading() {
    let dir = Scratch::new();
    let hosts = dir.write(
        "hosts.txt",
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    );
    let (ok, _, stderr) = zonecast_with_stdin(
        &[
            "aggregate",
            "--quiet",
            "--input",
            "-",
            "--processes",
            "2",
            "--process",
            "0",
            "--hostfile",
            hosts.to_str().unwrap(),
        ],
        b"tpep_pickup_datetime,PULocationID\n",
    );
    assert!(!ok && stderr.contains("can be read only once"), "{stderr}");
    assert!(stderr.contains("--processes 1"), "{stderr}");
}
