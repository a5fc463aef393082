//! Writers for generated trips: trips in, TLC yellow CSV or Parquet files out.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::format::Format;
use crate::generator::{GeneratedTrip, GeneratorError};
use crate::time::format_naive;
use crate::trip::format_micros;

/// The TLC yellow header, as written by the generator.
pub const YELLOW_HEADER: &str = "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount,congestion_surcharge,airport_fee";

fn money(v: i64) -> String {
    let s = format_micros(v as i128);
    match s.split_once('.') {
        Some((_, frac)) if frac.len() == 1 => format!("{s}0"),
        Some(_) => s,
        None => format!("{s}.00"),
    }
}

/// One CSV line (no newline) in [`YELLOW_HEADER`] order.
pub fn yellow_csv_line(t: &GeneratedTrip) -> String {
    format!(
        "{},{},{},{},{},{},N,{},{},{},{},{},{},{},{},{},{},{},{}",
        t.vendor,
        format_naive(t.pickup),
        format_naive(t.dropoff),
        t.passengers,
        money(t.distance),
        t.ratecode,
        t.pickup_zone,
        t.dropoff_zone,
        t.payment,
        money(t.fare),
        money(t.extra),
        money(t.mta_tax),
        money(t.tip),
        money(t.tolls),
        money(t.improvement),
        money(t.total),
        money(t.congestion),
        money(t.airport_fee)
    )
}

/// Writes trips to `path` as CSV or Parquet (by extension). Returns the number written.
pub fn write_trips(
    path: &Path,
    trips: impl Iterator<Item = GeneratedTrip>,
) -> Result<u64, GeneratorError> {
    match Format::of(path)? {
        Format::Csv => write_csv(path, trips),
        Format::Parquet => write_parquet(path, trips),
    }
}

fn write_csv(
    path: &Path,
    trips: impl Iterator<Item = GeneratedTrip>,
) -> Result<u64, GeneratorError> {
    let io = |e| GeneratorError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    writeln!(out, "{YELLOW_HEADER}").map_err(io)?;
    let mut n = 0;
    for trip in trips {
        writeln!(out, "{}", yellow_csv_line(&trip)).map_err(io)?;
        n += 1;
    }
    out.flush().map_err(io)?;
    Ok(n)
}

fn yellow_schema() -> Arc<Schema> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut fields = vec![
        Field::new("VendorID", DataType::Int32, true),
        Field::new("tpep_pickup_datetime", ts.clone(), true),
        Field::new("tpep_dropoff_datetime", ts, true),
        Field::new("passenger_count", DataType::Int64, true),
        Field::new("trip_distance", DataType::Float64, true),
        Field::new("RatecodeID", DataType::Int64, true),
        Field::new("store_and_fwd_flag", DataType::Utf8, true),
        Field::new("PULocationID", DataType::Int32, true),
        Field::new("DOLocationID", DataType::Int32, true),
        Field::new("payment_type", DataType::Int64, true),
    ];
    for name in [
        "fare_amount",
        "extra",
        "mta_tax",
        "tip_amount",
        "tolls_amount",
        "improvement_surcharge",
        "total_amount",
        "congestion_surcharge",
        "airport_fee",
    ] {
        fields.push(Field::new(name, DataType::Float64, true));
    }
    Arc::new(Schema::new(fields))
}

fn write_parquet(
    path: &Path,
    trips: impl Iterator<Item = GeneratedTrip>,
) -> Result<u64, GeneratorError> {
    let fail = |e: &dyn std::fmt::Display| GeneratorError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let schema = yellow_schema();
    let file = File::create(path).map_err(|e| GeneratorError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| fail(&e))?;
    let mut chunk = Vec::with_capacity(65_536);
    let mut n = 0u64;
    let mut trips = trips.peekable();
    while trips.peek().is_some() {
        chunk.clear();
        chunk.extend(trips.by_ref().take(65_536));
        n += chunk.len() as u64;
        let batch = RecordBatch::try_new(schema.clone(), columns(&chunk)).map_err(|e| fail(&e))?;
        writer.write(&batch).map_err(|e| fail(&e))?;
    }
    writer.close().map_err(|e| fail(&e))?;
    Ok(n)
}

fn columns(chunk: &[GeneratedTrip]) -> Vec<ArrayRef> {
    let int32 = |f: &dyn Fn(&GeneratedTrip) -> i32| -> ArrayRef {
        let mut b = Int32Builder::with_capacity(chunk.len());
        chunk.iter().for_each(|t| b.append_value(f(t)));
        Arc::new(b.finish())
    };
    let int64 = |f: &dyn Fn(&GeneratedTrip) -> i64| -> ArrayRef {
        let mut b = Int64Builder::with_capacity(chunk.len());
        chunk.iter().for_each(|t| b.append_value(f(t)));
        Arc::new(b.finish())
    };
    let time = |f: &dyn Fn(&GeneratedTrip) -> i64| -> ArrayRef {
        let mut b = TimestampMicrosecondBuilder::with_capacity(chunk.len());
        chunk.iter().for_each(|t| b.append_value(f(t) * 1_000_000));
        Arc::new(b.finish())
    };
    let float = |f: &dyn Fn(&GeneratedTrip) -> i64| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(chunk.len());
        chunk.iter().for_each(|t| b.append_value(f(t) as f64 / 1e6));
        Arc::new(b.finish())
    };
    let mut flag = StringBuilder::with_capacity(chunk.len(), chunk.len());
    chunk.iter().for_each(|_| flag.append_value("N"));
    vec![
        int32(&|t| t.vendor as i32),
        time(&|t| t.pickup),
        time(&|t| t.dropoff),
        int64(&|t| t.passengers as i64),
        float(&|t| t.distance),
        int64(&|t| t.ratecode as i64),
        Arc::new(flag.finish()),
        int32(&|t| t.pickup_zone as i32),
        int32(&|t| t.dropoff_zone as i32),
        int64(&|t| t.payment as i64),
        float(&|t| t.fare),
        float(&|t| t.extra),
        float(&|t| t.mta_tax),
        float(&|t| t.tip),
        float(&|t| t.tolls),
        float(&|t| t.improvement),
        float(&|t| t.total),
        float(&|t| t.congestion),
        float(&|t| t.airport_fee),
    ]
}
