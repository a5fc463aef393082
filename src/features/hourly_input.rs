//! Hourly count tables: a CSV or Parquet file of (zone, hour, count) rows in, a
//! [`PickupHistory`] out. Sparse or dense; zeros may be present or absent.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::features::history::PickupHistory;
use crate::format::Format;
use crate::schema::csv_line::{
    line_reader, line_terminator, split_header, split_names, strip_line_end,
};
use crate::schema::values::parse_zone;
use crate::time::{hour_of, parse_local};
use crate::trip::{HourlyStats, ZoneHour};

/// Errors reading an hourly count table. Each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum HourlyInputError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A column the table needs is not there.
    #[error("{path} has no column {column:?} (it has {found}); name the table's zone, hour and count columns")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// The columns found.
        found: String,
    },
    /// The Parquet reader failed, or a column cannot be read as a zone, hour or count.
    #[error("cannot read hourly table {path}: {message}; check that it is a complete file with integer zone and count columns and a timestamp or text hour column")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        message: String,
    },
    /// The name says neither CSV nor Parquet.
    #[error(transparent)]
    UnknownFormat(#[from] crate::format::UnknownFormat),
}

/// Column names of an hourly table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourlyColumns {
    /// Zone id column.
    pub zone: String,
    /// Hour column (timestamp or `YYYY-MM-DD HH:MM:SS` text).
    pub hour: String,
    /// Count column.
    pub count: String,
}

impl Default for HourlyColumns {
    /// zonecast's own table: `zone`, `hour`, `pickups`.
    fn default() -> Self {
        HourlyColumns {
            zone: "zone".into(),
            hour: "hour".into(),
            count: "pickups".into(),
        }
    }
}

fn bad(path: &Path, message: String) -> HourlyInputError {
    HourlyInputError::Unreadable {
        path: path.to_path_buf(),
        message,
    }
}

fn missing(path: &Path, column: &str, found: String) -> HourlyInputError {
    HourlyInputError::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        found,
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> HourlyInputError + '_ {
    move |source| HourlyInputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads an hourly table into a new history. Rows with an unreadable zone, hour or count are
/// skipped and counted (returned as the second value).
pub fn read_hourly(
    path: &Path,
    columns: &HourlyColumns,
) -> Result<(PickupHistory, u64), HourlyInputError> {
    let mut history = PickupHistory::new();
    let skipped = read_hourly_into(path, columns, &mut history)?;
    Ok((history, skipped))
}

/// Reads an hourly table into `history` (its counts replace those already there); returns the
/// number of unreadable rows skipped.
pub fn read_hourly_into(
    path: &Path,
    columns: &HourlyColumns,
    history: &mut PickupHistory,
) -> Result<u64, HourlyInputError> {
    let mut skipped = 0u64;
    match Format::of(path)? {
        Format::Csv => {
            let text = std::fs::read(path).map_err(io(path))?;
            let line_end = line_terminator(&text);
            let mut lines = text.split(|&b| b == line_end);
            let header = split_header(lines.next().unwrap_or_default());
            let find = |name: &str| {
                header
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(name))
                    .ok_or_else(|| missing(path, name, header.join(", ")))
            };
            let (z, h, c) = (
                find(&columns.zone)?,
                find(&columns.hour)?,
                find(&columns.count)?,
            );
            let mut reader = line_reader();
            for line in lines {
                let fields = split_names(&mut reader, line);
                if fields.len() <= z.max(h).max(c) {
                    skipped += u64::from(!strip_line_end(line).is_empty());
                    continue;
                }
                let zone = parse_zone(fields[z].as_bytes()).ok();
                let hour = parse_local(fields[h].as_bytes()).map(hour_of);
                let count = fields[c]
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v >= 0.0 && v.fract() == 0.0);
                match (zone, hour, count) {
                    (Some(zone), Some(hour), Some(count)) => history.set(zone, hour, count as u32),
                    _ => skipped += 1,
                }
            }
        }
        Format::Parquet => {
            let file = std::fs::File::open(path).map_err(io(path))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| bad(path, e.to_string()))?
                .build()
                .map_err(|e| bad(path, e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| bad(path, e.to_string()))?;
                let column = |name: &str| {
                    batch
                        .schema()
                        .fields()
                        .iter()
                        .position(|f| f.name().eq_ignore_ascii_case(name))
                        .map(|i| batch.column(i).clone())
                        .ok_or_else(|| {
                            let found: Vec<String> = batch
                                .schema()
                                .fields()
                                .iter()
                                .map(|f| f.name().clone())
                                .collect();
                            missing(path, name, found.join(", "))
                        })
                };
                let cast = |a: &arrow_array::ArrayRef, t: &DataType| {
                    arrow_cast::cast(a, t).map_err(|e| bad(path, e.to_string()))
                };
                let zone = cast(&column(&columns.zone)?, &DataType::Int64)?;
                let hour_col = column(&columns.hour)?;
                let hour = if matches!(hour_col.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
                    cast(
                        &cast(&hour_col, &DataType::Timestamp(TimeUnit::Second, None))?,
                        &DataType::Timestamp(TimeUnit::Microsecond, None),
                    )?
                } else {
                    cast(&hour_col, &DataType::Timestamp(TimeUnit::Microsecond, None))?
                };
                let count = cast(&column(&columns.count)?, &DataType::Int64)?;
                let (zone, hour, count) = (
                    zone.as_primitive::<Int64Type>(),
                    hour.as_primitive::<TimestampMicrosecondType>(),
                    count.as_primitive::<Int64Type>(),
                );
                for i in 0..batch.num_rows() {
                    if zone.is_null(i) || hour.is_null(i) || count.is_null(i) || count.value(i) < 0
                    {
                        skipped += 1;
                        continue;
                    }
                    match crate::schema::values::check_zone(zone.value(i)) {
                        Ok(z) => history.set(
                            z,
                            hour_of(hour.value(i).div_euclid(1_000_000)),
                            count.value(i) as u32,
                        ),
                        Err(_) => skipped += 1,
                    }
                }
            }
        }
    }
    Ok(skipped)
}

/// A history from the rows of a finished hourly table (trip files aggregated by the same
/// dataflow; pass the sorted table's `rows()`).
pub fn history_from_table(rows: &[(ZoneHour, HourlyStats)]) -> PickupHistory {
    PickupHistory::from_counts(
        rows.iter()
            .map(|(k, s)| (k.zone, k.hour, s.pickups.max(0) as u32)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_table_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hourly.csv");
        let text = concat!(
            "\u{feff}\"zone\", hour ,pickups\r\n",
            "7,2019-06-01 00:00:00,3\r\n",
            "\"8\",\"2019-06-01 01:00:00\", 4 \n",
            "9,\"2019-06-01 02:00:00,5\n",
            "\n",
            "10,2019-06-01 03:00:00\n",
            "11,2019-06-01 04:00:00,x\n",
            "12,2019-06-01 05:00:00,6",
        );
        std::fs::write(&path, text).unwrap();
        let (history, skipped) = read_hourly(&path, &HourlyColumns::default()).unwrap();
        // The open quote, the short row and the bad count are skipped; the blank line is not
        // counted; the line after the open quote is read.
        assert_eq!(skipped, 3);
        let hour = hour_of(crate::time::parse_naive(b"2019-06-01 00:00:00").unwrap());
        let got: Vec<_> = [(7, 0), (8, 1), (12, 5)]
            .iter()
            .map(|&(zone, offset)| history.get(zone, hour + offset))
            .collect();
        assert_eq!(got, [Some(3), Some(4), Some(6)]);
        assert_eq!(
            history.zones().iter().copied().collect::<Vec<_>>(),
            [7, 8, 12]
        );
    }
}
