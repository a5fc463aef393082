//! Late data: a trip that arrives after its hour was emitted corrects that hour (a retraction
//! in the update log), and a trip beyond the allowed lateness is set aside as late and
//! changes nothing.

mod common;

use common::{zonecast, Scratch};

const HEADER: &str = "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount\n";

fn base_rows() -> String {
    let mut text = String::from(HEADER);
    for (time, fare) in [
        ("10:05:00", "10.00"),
        ("10:20:00", "12.00"),
        ("10:40:00", "14.00"),
    ] {
        text.push_str(&format!("2024-03-05 {time},5,1.5,{fare},{fare}\n"));
    }
    for time in ["11:05:00", "11:15:00", "11:25:00", "11:35:00"] {
        text.push_str(&format!("2024-03-05 {time},7,2.0,9.00,11.00\n"));
    }
    text
}

fn aggregate(dir: &Scratch, input: &std::path::Path, tag: &str) -> (String, String, String) {
    let out = dir.path(&format!("{tag}.table.csv"));
    let changes = dir.path(&format!("{tag}.changes.csv"));
    let rejects = dir.path(&format!("{tag}.rejects.csv"));
    zonecast(&[
        "aggregate",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--changes",
        changes.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
        "--allowed-lateness",
        "2h",
        "--batch-rows",
        "1",
        "--quiet",
    ]);
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap();
    (read(out), read(changes), read(rejects))
}

#[test]
fn late_trip_corrects_its_hour_with_a_retraction() {
    let dir = Scratch::new();
    let mut text = base_rows();
    text.push_str("2024-03-05 10:50:00,5,1.5,16.00,16.00\n");
    let input = dir.write("late.csv", text);
    let (table, changes, _) = aggregate(&dir, &input, "late");
    assert!(
        table.contains("5,2024-03-05 10:00:00,4,1.5,13,13\n"),
        "{table}"
    );
    let lines: Vec<&str> = changes.lines().collect();
    assert_eq!(
        lines[0],
        "time,zone,hour,pickups,mean_distance,mean_fare,mean_total,diff"
    );
    // The hour was first emitted with 3 trips, and the late trip (epoch 7) retracts it.
    assert!(
        lines.contains(&"2,5,2024-03-05 10:00:00,3,1.5,12,12,1"),
        "{changes}"
    );
    assert!(
        lines.contains(&"7,5,2024-03-05 10:00:00,3,1.5,12,12,-1"),
        "{changes}"
    );
    assert!(
        lines.contains(&"7,5,2024-03-05 10:00:00,4,1.5,13,13,1"),
        "{changes}"
    );
}

#[test]
fn trip_beyond_allowed_lateness_is_late_and_changes_nothing() {
    let dir = Scratch::new();
    let base = dir.write("base.csv", base_rows());
    let mut text = base_rows();
    text.push_str("2024-03-05 08:59:00,5,1.5,99.00,99.00\n");
    let late = dir.write("too_late.csv", text);
    let (table_base, changes_base, _) = aggregate(&dir, &base, "base");
    let (table_late, changes_late, rejects) = aggregate(&dir, &late, "too_late");
    assert_eq!(table_base, table_late);
    assert_eq!(changes_base, changes_late);
    let late_lines: Vec<&str> = rejects.lines().filter(|l| l.contains(",late,")).collect();
    assert_eq!(late_lines.len(), 1, "{rejects}");
    assert!(
        late_lines[0].contains(",9,late,late: pickup 2024-03-05 08:59:00"),
        "{rejects}"
    );
}
