//! Bad input never crashes and never silently disappears: every row read is accepted,
//! rejected with a reason, or late, and the good rows around bad ones are all processed.

mod common;

use common::{data_file, zonecast, Scratch};
use zonecast::dataflows::aggregate::AggregateJob;

fn check_accounting(path: &std::path::Path, dir: &Scratch) -> zonecast::report::RunReport {
    let rejects = dir.path("rejects.csv");
    let mut job = AggregateJob::files(vec![path.to_path_buf()]);
    job.outputs.rejects = Some(rejects.clone());
    let outcome = job.run().unwrap().unwrap();
    let report = outcome.report;
    assert!(report.balanced(), "{report:?}");
    let text = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len() as u64, report.rejected() + report.late);
    for line in &lines {
        let reason = line.splitn(4, ',').nth(3).unwrap_or("");
        assert!(reason.len() > 5, "reject without a reason: {line}");
    }
    report
}

#[test]
fn real_yellow_csvs_are_fully_accounted_for() {
    for name in [
        "yellow_tripdata_2019-06_head1000.csv",
        "yellow_tripdata_2021_sample1000.csv",
    ] {
        let Some(path) = data_file(name) else { return };
        let dir = Scratch::new();
        let report = check_accounting(&path, &dir);
        assert_eq!(report.rows_read, 1000, "{name}");
    }
}

#[test]
fn broken_rows_are_rejected_and_their_neighbours_kept() {
    let dir = Scratch::new();
    let mut text =
        b"VendorID,tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount\n"
            .to_vec();
    let good = |i: u32| {
        format!(
            "1,2024-01-01 00:{:02}:00,{},1.0,5.0,6.0\n",
            i % 60,
            1 + i % 200
        )
    };
    let good_rows = std::cell::Cell::new(0u64);
    let push_good = |text: &mut Vec<u8>, i: u32| {
        text.extend_from_slice(good(i).as_bytes());
        good_rows.set(good_rows.get() + 1);
    };
    push_good(&mut text, 0);
    text.extend_from_slice(b"1,2024-01-01 00:01:00,12,abc,5.0,6.0\n"); // bad number
    push_good(&mut text, 1);
    text.extend_from_slice(b"1,2024-01-01 00:02:00,12\n"); // short row
    push_good(&mut text, 2);
    text.extend_from_slice(&[0xff, 0xfe, 0x00, b'"', 0x01, b',', 0x9c, b'\n']); // binary garbage with a stray quote
    push_good(&mut text, 3);
    text.extend_from_slice(
        format!("1,2024-01-01 00:03:00,12,{},5,6\n", "9".repeat(200_000)).as_bytes(),
    ); // huge line
    push_good(&mut text, 4);
    text.extend_from_slice(b"1,\"2024-01-01 00:04:00,12,1,5,6\n"); // unbalanced quote
    push_good(&mut text, 5);
    text.extend_from_slice(b"1,2024-01-01 00:05:00,0,1,5,6\n"); // zone out of range
    text.extend_from_slice(b"1,2024-01-01 00:05:00,,1,5,6\n"); // missing zone
    text.extend_from_slice(b"1,2024-01-01 00:05:00,12.5,1,5,6\n"); // zone not an integer
    text.extend_from_slice(b"1,,12,1,5,6\n"); // missing pickup
    text.extend_from_slice(b"1,2024-13-01 00:05:00,12,1,5,6\n"); // bad pickup
    text.extend_from_slice(b"1,1999-01-01 00:05:00,12,1,5,6\n"); // implausible pickup
    text.extend_from_slice(b"1,2024-01-01 00:06:00,12,1,5,6,7\n"); // long row
    text.extend_from_slice(b"1,2024-01-01 00:06:00,12,1,nan,6\n"); // not a number
    text.extend_from_slice(b"1,2024-01-01 00:06:00,12,1,1e15,6\n"); // out of range
    text.extend_from_slice(b"1,2024-01-01 00:07:00,12,,,\n"); // empty numbers: null, accepted
    good_rows.set(good_rows.get() + 1);
    for i in 6..50 {
        push_good(&mut text, i);
    }
    let path = dir.write("broken.csv", &text);
    let report = check_accounting(&path, &dir);
    assert_eq!(report.accepted, good_rows.get());
    assert_eq!(report.rejected(), 14, "{:?}", report.rejected_by_reason);
    for code in [
        "bad_number",
        "wrong_field_count",
        "line_too_long",
        "bad_quoting",
        "zone_out_of_range",
        "missing_zone",
        "bad_zone",
        "missing_pickup",
        "bad_pickup",
        "pickup_out_of_range",
        "number_out_of_range",
    ] {
        assert!(
            report.rejected_by_reason.contains_key(code),
            "no {code}: {:?}",
            report.rejected_by_reason
        );
    }
    // Positions point at the right lines (header is line 1).
    let rejects = dir.read("rejects.csv");
    assert!(
        rejects.contains(",3,rejected,\"bad_number: trip_distance \"\"abc\"\" is not a number\""),
        "{rejects}"
    );
    assert!(
        rejects.contains(",5,rejected,\"wrong_field_count: row has 3 fields"),
        "{rejects}"
    );
}

#[test]
fn a_file_of_garbage_does_not_crash_the_cli() {
    let dir = Scratch::new();
    let mut garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    garbage.splice(0..0, b"tpep_pickup_datetime,PULocationID\n".iter().copied());
    let path = dir.write("garbage.csv", &garbage);
    let out = dir.path("out.csv");
    let output = zonecast(&[
        "aggregate",
        "--input",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("rows read"), "{summary}");
    assert_eq!(
        dir.read("out.csv").lines().next(),
        Some("zone,hour,pickups,mean_distance,mean_fare,mean_total")
    );
}

#[test]
fn missing_columns_and_files_give_clear_errors() {
    let dir = Scratch::new();
    let path = dir.write(
        "nozone.csv",
        "tpep_pickup_datetime,fare_amount\n2024-01-01 00:00:00,5\n",
    );
    let err = AggregateJob::files(vec![path])
        .run()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("map the column explicitly (pickup_zone=NAME)"),
        "{err}"
    );
    let err = AggregateJob::files(vec![dir.path("absent.csv")])
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.csv"), "{err}");
    let path = dir.write("trips.json", "{}");
    let err = AggregateJob::files(vec![path])
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("*.csv or *.parquet"), "{err}");
    let path = dir.write("bad.parquet", "not parquet at all");
    let err = AggregateJob::files(vec![path])
        .run()
        .unwrap_err()
        .to_string();
    assert!(err.contains("Parquet"), "{err}");
}

/// Runs `aggregate` on `path`; returns (exit success, stderr).
fn aggregate_cli(path: &std::path::Path, dir: &Scratch) -> (bool, String) {
    let out = dir.path("out.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(["aggregate", "--input", path.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_gzip_file_is_refused_with_what_to_do() {
    let dir = Scratch::new();
    let path = dir.write("trips.csv", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
    let (ok, stderr) = aggregate_cli(&path, &dir);
    assert!(
        !ok && stderr.contains("gzip-compressed: decompress it first"),
        "{stderr}"
    );
}

#[test]
fn cr_only_line_endings_are_read_like_newlines() {
    let dir = Scratch::new();
    let mut mac = String::from("tpep_pickup_datetime,PULocationID\r");
    let mut unix = String::from("tpep_pickup_datetime,PULocationID\n");
    for i in 0..300 {
        let line = format!("2024-01-01 {:02}:{:02}:00,{}", i / 60, i % 60, 1 + i % 7);
        mac.push_str(&line);
        mac.push('\r');
        unix.push_str(&line);
        unix.push('\n');
        if i == 150 {
            mac.push_str("bad row\r\r"); // a bad row and a blank line keep their numbers
            unix.push_str("bad row\n\n");
        }
    }
    let mac = dir.write("mac.csv", mac);
    let unix = dir.write("unix.csv", unix);
    let table = |input: &std::path::Path, name: &str| {
        let out = dir.path(&format!("{name}.hourly.csv"));
        let rejects = dir.path(&format!("{name}.rejects.csv"));
        let run = zonecast(&[
            "aggregate",
            "--input",
            input.to_str().unwrap(),
            "--batch-rows",
            "7",
            "--out",
            out.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let rejects = std::fs::read_to_string(rejects).unwrap().replace(name, "X");
        (std::fs::read_to_string(out).unwrap(), rejects)
    };
    let (mac_table, mac_rejects) = table(&mac, "mac");
    let (unix_table, unix_rejects) = table(&unix, "unix");
    assert_eq!(mac_table, unix_table);
    assert_eq!(mac_rejects, unix_rejects);
    assert!(mac_rejects.contains(",153,"), "{mac_rejects}");
    assert_eq!(mac_table.lines().count(), 1 + 5 * 7);
    // CRLF files are read too.
    let path = dir.write(
        "dos.csv",
        "tpep_pickup_datetime,PULocationID\r\n2024-01-01 00:10:00,4\r\n",
    );
    let (ok, stderr) = aggregate_cli(&path, &dir);
    assert!(ok, "{stderr}");
}

#[test]
fn a_huge_one_line_file_gives_a_short_error() {
    let dir = Scratch::new();
    let path = dir.write("one-line.csv", vec![b'a'; 3 << 20]);
    let (ok, stderr) = aggregate_cli(&path, &dir);
    assert!(
        !ok && stderr.contains("no line break in its first MiB"),
        "{stderr:.300}"
    );
    assert!(stderr.len() < 2_000, "{} bytes of error", stderr.len());
    // A long header without the columns is echoed cut short.
    let mut header = vec![b'c'; 100_000];
    header.extend_from_slice(b"\n1,2\n");
    let path = dir.write("wide.csv", header);
    let (ok, stderr) = aggregate_cli(&path, &dir);
    assert!(
        !ok && stderr.len() < 2_000,
        "{} bytes of error",
        stderr.len()
    );
}

#[test]
fn echoed_input_escapes_terminal_control_bytes() {
    let dir = Scratch::new();
    let path = dir.write(
        "escape.csv",
        "tpep_pickup_datetime,PULocationID\n\x1b[2J\x1b[31mboom,4\n2024-01-01 00:10:00,4\n",
    );
    let rejects = dir.path("rejects.csv");
    let mut job = AggregateJob::files(vec![path]);
    job.outputs.rejects = Some(rejects.clone());
    let outcome = job.run().unwrap().unwrap();
    assert_eq!((outcome.report.rejected(), outcome.report.accepted), (1, 1));
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("\\u{1b}[2J"), "{text:?}");
}

#[test]
fn an_output_that_names_an_input_is_refused_and_the_input_kept() {
    let dir = Scratch::new();
    let text = "tpep_pickup_datetime,PULocationID\n2024-01-01 00:10:00,4\n";
    let path = dir.write("trips.csv", text);
    for flag in ["--out", "--rejects", "--changes"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_zonecast"))
            .args(["aggregate", "--input", path.to_str().unwrap(), "--quiet"])
            .args([flag, path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flag}");
        assert!(stderr.contains("is one of the inputs"), "{stderr}");
        assert_eq!(dir.read("trips.csv"), text, "{flag} left the input intact");
    }
    // The table is written whole through a temporary file: nothing else is left beside it.
    let (ok, stderr) = aggregate_cli(&path, &dir);
    assert!(ok, "{stderr}");
    let names: Vec<String> = std::fs::read_dir(dir.path("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}
