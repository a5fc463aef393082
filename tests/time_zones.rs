//! Timestamps with a zone or an offset are converted to New York local time (the TLC
//! convention), never shifted silently: CSV `Z`, `+hh:mm` and `-hh:mm`, and Parquet
//! timestamps with a time zone, land in the same hour as the naive local time they denote.

mod common;

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use common::Scratch;
use zonecast::dataflows::aggregate::AggregateJob;
use zonecast::time::{hour_of, parse_naive};

/// (zone, hour, pickups) of the aggregate of `path`.
fn hours(path: &std::path::Path) -> Vec<(u16, i64, u64)> {
    let mut job = AggregateJob::files(vec![path.to_path_buf()]);
    // Winter and summer rows in one file.
    job.policy.max_ahead = zonecast::time::Span::from_secs(366 * 86_400);
    let outcome = job.run().unwrap().unwrap();
    assert_eq!(outcome.report.rejected(), 0, "{:?}", outcome.report);
    outcome
        .table
        .rows()
        .iter()
        .map(|(k, s)| (k.zone, k.hour, s.pickups as u64))
        .collect()
}

fn local_hour(text: &str) -> i64 {
    hour_of(parse_naive(text.as_bytes()).unwrap())
}

#[test]
fn csv_pickups_with_z_or_an_offset_are_converted_to_new_york_time() {
    let dir = Scratch::new();
    // Every row is 08:30 New York time: in January (EST, UTC-5) and in July (EDT, UTC-4).
    let csv = "tpep_pickup_datetime,PULocationID\n\
               2024-01-15 08:30:00,10\n\
               2024-01-15T13:30:00Z,10\n\
               2024-01-15 13:30:00+00:00,10\n\
               2024-01-15 08:30:00-05:00,10\n\
               2024-01-15T14:30:00+0100,10\n\
               2024-07-15 08:30:00,20\n\
               2024-07-15T12:30:00Z,20\n\
               2024-07-15 08:30:00-04:00,20\n";
    let path = dir.write("offsets.csv", csv);
    assert_eq!(
        hours(&path),
        vec![
            (10, local_hour("2024-01-15 08:00:00"), 5),
            (20, local_hour("2024-07-15 08:00:00"), 3)
        ]
    );
}

#[test]
fn csv_pickups_with_a_malformed_offset_are_rejected_with_a_reason() {
    let dir = Scratch::new();
    let path = dir.write(
        "bad.csv",
        "tpep_pickup_datetime,PULocationID\n2024-01-15 08:30:00+25:00,10\n2024-01-15 08:30:00,10\n",
    );
    let outcome = AggregateJob::files(vec![path]).run().unwrap().unwrap();
    assert_eq!(outcome.report.rejected(), 1);
    assert_eq!(outcome.report.accepted, 1);
    let reason = zonecast::report::rejected_reason(&outcome.report.rejects[0]);
    assert!(reason.contains("+25:00"), "{reason}");
}

#[test]
fn tz_aware_parquet_pickups_are_converted_to_new_york_time() {
    let dir = Scratch::new();
    // The instants of 08:30 New York time on a winter and a summer day, stored as UTC.
    let instants = [
        parse_naive(b"2024-01-15 13:30:00").unwrap(),
        parse_naive(b"2024-07-15 12:30:00").unwrap(),
    ];
    for zone in ["America/New_York", "UTC", "+02:00"] {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("tpep_pickup_datetime", ts, true),
            Field::new("PULocationID", DataType::Int64, true),
        ]));
        let micros = TimestampMicrosecondArray::from(
            instants.iter().map(|s| s * 1_000_000).collect::<Vec<_>>(),
        )
        .with_timezone(zone);
        let columns: Vec<ArrayRef> = vec![Arc::new(micros), Arc::new(Int64Array::from(vec![7, 7]))];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let path = dir.path(&format!(
            "tz-{}.parquet",
            zone.replace(['/', ':', '+'], "_")
        ));
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema,
            None,
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        assert_eq!(
            hours(&path),
            vec![
                (7, local_hour("2024-01-15 08:00:00"), 1),
                (7, local_hour("2024-07-15 08:00:00"), 1)
            ],
            "time zone {zone}"
        );
    }
}
