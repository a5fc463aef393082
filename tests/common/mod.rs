//! Helpers shared by the integration tests: where the real data is, running the CLI, and an
//! independent from-scratch oracle for the hourly aggregates.
#![allow(dead_code)]

pub mod http;
pub mod live;
pub mod openapi;
pub mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder with the real TLC data (`ZONECAST_DATA`, default `../shared/data`).
///
/// In CI (`CI` set) a missing folder fails the test loudly; elsewhere the test is skipped
/// with a printed reason (`None`).
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ZONECAST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("green_tripdata_2024-01.parquet").exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "real TLC data not found in {} (set ZONECAST_DATA); CI must have it",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: real TLC data not found in {} (set ZONECAST_DATA to run this test)",
        dir.display()
    );
    None
}

/// A real data file, or `None` (skip) as in [`data_dir`].
pub fn data_file(name: &str) -> Option<PathBuf> {
    data_dir().map(|d| d.join(name))
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves none.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago (for hostfiles).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the `zonecast` binary with `args`; panics with its output when it fails.
pub fn zonecast(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(args)
        .output()
        .expect("run zonecast");
    assert!(
        output.status.success(),
        "zonecast {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One row of the oracle: pickups and plain f64 sums and counts of the three means.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OracleRow {
    pub pickups: i64,
    pub sums: [f64; 3],
    pub counts: [i64; 3],
}

/// `(zone, hour label) -> row`, the oracle's table.
pub type OracleTable = BTreeMap<(i64, u16), OracleRow>;

/// Adds one trip (pickup in naive seconds) to an oracle table.
pub fn oracle_add(table: &mut OracleTable, pickup: i64, zone: u16, values: [Option<f64>; 3]) {
    let row = table.entry((pickup.div_euclid(3600), zone)).or_default();
    row.pickups += 1;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            row.sums[i] += v;
            row.counts[i] += 1;
        }
    }
}

/// A parsed table: `(hour label, zone) -> (pickups, means)`.
pub type ParsedTable = BTreeMap<(String, u16), (i64, [Option<f64>; 3])>;

/// Parses a table written by `zonecast aggregate`.
pub fn parse_table(text: &str) -> ParsedTable {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("zone,hour,pickups,mean_distance,mean_fare,mean_total")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let mean = |s: &str| {
                if s.is_empty() {
                    None
                } else {
                    Some(s.parse::<f64>().unwrap())
                }
            };
            (
                (f[1].to_string(), f[0].parse().unwrap()),
                (f[2].parse().unwrap(), [mean(f[3]), mean(f[4]), mean(f[5])]),
            )
        })
        .collect()
}

/// Asserts that a written table equals the oracle: counts exactly, means within 1e-6.
pub fn assert_table_matches(text: &str, oracle: &OracleTable) {
    let table = parse_table(text);
    assert_eq!(table.len(), oracle.len(), "number of (zone, hour) rows");
    for ((hour, zone), row) in oracle {
        let label = zonecast::time::format_hour(*hour);
        let (pickups, means) = table
            .get(&(label.clone(), *zone))
            .unwrap_or_else(|| panic!("missing {zone} {label}"));
        assert_eq!(*pickups, row.pickups, "pickups of zone {zone} at {label}");
        for (i, mean) in means.iter().enumerate() {
            let expected = (row.counts[i] > 0).then(|| row.sums[i] / row.counts[i] as f64);
            match (*mean, expected) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                    "mean {i} of zone {zone} at {label}: {a} vs {b}"
                ),
                other => panic!("mean {i} of zone {zone} at {label}: {other:?}"),
            }
        }
    }
}

/// A temporary folder with helpers to write files into it.
pub struct Scratch(pub tempfile::TempDir);

impl Scratch {
    pub fn new() -> Self {
        Scratch(tempfile::tempdir().expect("tempdir"))
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read scratch file")
    }
}

/// Writes `trips` generated trips over `days` with `seed` to `path` (CSV or Parquet).
pub fn generate(path: &Path, trips: u64, days: u32, seed: u64) {
    let config = zonecast::generator::GeneratorConfig {
        trips,
        days,
        seed,
        ..Default::default()
    };
    zonecast::generator::writers::write_trips(
        path,
        zonecast::generator::TripGenerator::new(config),
    )
    .unwrap();
}
