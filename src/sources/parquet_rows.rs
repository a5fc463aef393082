//! Parquet rows: a TLC Parquet file in, validated trips (or reasons) with their row numbers out.
//!
//! Reads only the five columns zonecast uses, in row ranges, so a file can be split into
//! epochs that different workers decode in parallel. Column types seen across TLC years are
//! accepted: timestamps of any unit (and INT96), dates, integer or float zone ids, integer,
//! float or decimal amounts, and text versions of all of them (parsed like CSV fields).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::cast;
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::ProjectionMask;

use crate::reject::RejectReason;
use crate::schema::values::{
    check_pickup, check_zone, micros_from_f64, parse_micros, parse_pickup, parse_zone,
};
use crate::schema::{ColumnMap, Resolved};
use crate::sources::SourceError;
use crate::trip::Trip;

/// The last row group a reader decoded, kept for the next range in the same group.
#[derive(Debug, Default)]
pub struct RowGroupCache {
    key: Option<(PathBuf, u64)>,
    rows: Vec<Result<Trip, RejectReason>>,
}

/// An opened Parquet input: its metadata and where the five fields are.
#[derive(Clone)]
pub struct ParquetInput {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    columns: Resolved,
}

impl std::fmt::Debug for ParquetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetInput")
            .field("path", &self.path)
            .field("rows", &self.rows())
            .finish()
    }
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> SourceError {
    SourceError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl ParquetInput {
    /// Opens `path` and resolves its columns (fails if a required column is missing).
    pub fn open(path: &Path, map: &ColumnMap) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
        let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| parquet_error(path, e))?;
        let names: Vec<String> = metadata
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let columns = map.resolve(&path.display().to_string(), &names)?;
        Ok(ParquetInput {
            path: path.to_path_buf(),
            metadata,
            columns,
        })
    }

    /// `(first row, rows)` of each row group.
    pub fn row_groups(&self) -> Vec<(u64, u64)> {
        let mut start = 0;
        self.metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|g| {
                let rows = g.num_rows().max(0) as u64;
                start += rows;
                (start - rows, rows)
            })
            .collect()
    }

    /// Like [`Self::read_rows`], but decodes whole row groups once and serves later ranges of
    /// the same group from `cache` (a worker reads several epochs of one group in a row).
    pub fn read_rows_cached(
        &self,
        cache: &mut RowGroupCache,
        start: u64,
        count: u64,
        emit: &mut dyn FnMut(u64, Result<Trip, RejectReason>),
    ) -> Result<(), SourceError> {
        let end = start + count;
        for (group_start, group_rows) in self.row_groups() {
            let group_end = group_start + group_rows;
            if group_end <= start || group_start >= end {
                continue;
            }
            if cache.key != Some((self.path.clone(), group_start)) {
                cache.rows.clear();
                let rows = &mut cache.rows;
                self.read_rows(group_start, group_rows, &mut |_, r| rows.push(r))?;
                cache.key = Some((self.path.clone(), group_start));
            }
            for row in start.max(group_start)..end.min(group_end) {
                emit(row, cache.rows[(row - group_start) as usize].clone());
            }
        }
        Ok(())
    }

    /// Number of rows in the file.
    pub fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// Decodes rows `start .. start + count` (0-based) and hands each to `emit` with its
    /// 0-based row index, as a trip or a reason.
    pub fn read_rows(
        &self,
        start: u64,
        count: u64,
        emit: &mut dyn FnMut(u64, Result<Trip, RejectReason>),
    ) -> Result<(), SourceError> {
        let meta = self.metadata.metadata();
        let mut groups = Vec::new();
        let mut first_row_of_groups = None;
        let mut offset = 0u64;
        for (index, group) in meta.row_groups().iter().enumerate() {
            let rows = group.num_rows().max(0) as u64;
            if offset + rows > start && offset < start + count {
                groups.push(index);
                first_row_of_groups.get_or_insert(offset);
            }
            offset += rows;
        }
        let Some(first) = first_row_of_groups else {
            return Ok(());
        };
        let selection = RowSelection::from(vec![
            RowSelector::skip((start - first) as usize),
            RowSelector::select(count as usize),
        ]);
        let wanted: Vec<usize> = {
            let c = &self.columns;
            let mut v = vec![c.pickup, c.zone];
            v.extend([c.distance, c.fare, c.total].into_iter().flatten());
            v.sort_unstable();
            v.dedup();
            v
        };
        let file = File::open(&self.path).map_err(|e| SourceError::io(&self.path, e))?;
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), wanted.iter().copied());
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(groups)
                .with_row_selection(selection)
                .with_projection(mask)
                .with_batch_size(8192)
                .build()
                .map_err(|e| parquet_error(&self.path, e))?;
        let mut row = start;
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(&self.path, e))?;
            self.convert(&batch, &wanted, row, emit)?;
            row += batch.num_rows() as u64;
        }
        Ok(())
    }

    fn convert(
        &self,
        batch: &RecordBatch,
        wanted: &[usize],
        first_row: u64,
        emit: &mut dyn FnMut(u64, Result<Trip, RejectReason>),
    ) -> Result<(), SourceError> {
        let column = |index: usize| {
            batch.column(wanted.iter().position(|&w| w == index).expect("projected"))
        };
        let c = &self.columns;
        let pickups = PickupColumn::new(column(c.pickup), &self.path, &c.names[c.pickup])?;
        let zones = ZoneColumn::new(column(c.zone), &self.path, &c.names[c.zone])?;
        let numeric = c.numeric().map(|(_, index)| {
            index
                .map(|i| NumberColumn::new(column(i), &self.path, &c.names[i]))
                .transpose()
        });
        let [d, f, t] = numeric;
        let numeric = [d?, f?, t?];
        for i in 0..batch.num_rows() {
            let trip = (|| {
                let pickup = pickups.get(i)?;
                let zone = zones.get(i)?;
                let mut values = [None; 3];
                for (slot, col) in values.iter_mut().zip(&numeric) {
                    if let Some(col) = col {
                        *slot = col.get(i)?;
                    }
                }
                Ok(Trip::new(pickup, zone, values))
            })();
            emit(first_row + i as u64, trip);
        }
        Ok(())
    }
}

fn unsupported(path: &Path, column: &str, data_type: &DataType) -> SourceError {
    SourceError::UnsupportedColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        data_type: data_type.to_string(),
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn to_text(array: &ArrayRef, path: &Path) -> Result<ArrayRef, SourceError> {
    cast(array, &DataType::Utf8).map_err(|e| parquet_error(path, e))
}

enum PickupColumn {
    /// Naive New York local time (TLC files), as microseconds.
    Micros(ArrayRef),
    /// Instants (a timestamp with a time zone), as UTC microseconds: converted to New York
    /// local time.
    Instants(ArrayRef),
    Text(ArrayRef),
}

impl PickupColumn {
    fn new(array: &ArrayRef, path: &Path, name: &str) -> Result<Self, SourceError> {
        match array.data_type() {
            DataType::Timestamp(unit, Some(_)) => {
                // The stored values are UTC instants whatever the zone named: read them raw.
                let raw = DataType::Timestamp(*unit, None);
                let naive = cast(array, &raw).map_err(|e| parquet_error(path, e))?;
                let target = DataType::Timestamp(TimeUnit::Microsecond, None);
                Ok(PickupColumn::Instants(
                    cast(&naive, &target).map_err(|e| parquet_error(path, e))?,
                ))
            }
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
                let target = DataType::Timestamp(TimeUnit::Microsecond, None);
                Ok(PickupColumn::Micros(
                    cast(array, &target).map_err(|e| parquet_error(path, e))?,
                ))
            }
            t if is_text(t) => Ok(PickupColumn::Text(to_text(array, path)?)),
            t => Err(unsupported(path, name, t)),
        }
    }

    fn get(&self, i: usize) -> Result<i64, RejectReason> {
        match self {
            PickupColumn::Micros(a) if a.is_null(i) => Err(RejectReason::MissingPickup),
            PickupColumn::Micros(a) => check_pickup(
                a.as_primitive::<TimestampMicrosecondType>()
                    .value(i)
                    .div_euclid(1_000_000),
            ),
            PickupColumn::Instants(a) if a.is_null(i) => Err(RejectReason::MissingPickup),
            PickupColumn::Instants(a) => check_pickup(crate::time::utc_to_new_york(
                a.as_primitive::<TimestampMicrosecondType>()
                    .value(i)
                    .div_euclid(1_000_000),
            )),
            PickupColumn::Text(a) if a.is_null(i) => Err(RejectReason::MissingPickup),
            PickupColumn::Text(a) => parse_pickup(a.as_string::<i32>().value(i).as_bytes()),
        }
    }
}

enum ZoneColumn {
    Int(ArrayRef),
    Float(ArrayRef),
    Text(ArrayRef),
}

impl ZoneColumn {
    fn new(array: &ArrayRef, path: &Path, name: &str) -> Result<Self, SourceError> {
        let t = array.data_type();
        let as_type = |dt: &DataType| cast(array, dt).map_err(|e| parquet_error(path, e));
        if t.is_integer() {
            Ok(ZoneColumn::Int(as_type(&DataType::Int64)?))
        } else if t.is_floating()
            || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
        {
            Ok(ZoneColumn::Float(as_type(&DataType::Float64)?))
        } else if is_text(t) {
            Ok(ZoneColumn::Text(to_text(array, path)?))
        } else {
            Err(unsupported(path, name, t))
        }
    }

    fn get(&self, i: usize) -> Result<u16, RejectReason> {
        match self {
            ZoneColumn::Int(a) | ZoneColumn::Float(a) | ZoneColumn::Text(a) if a.is_null(i) => {
                Err(RejectReason::MissingZone)
            }
            ZoneColumn::Int(a) => check_zone(a.as_primitive::<Int64Type>().value(i)),
            ZoneColumn::Float(a) => {
                let v = a.as_primitive::<Float64Type>().value(i);
                if v.fract() != 0.0 || !v.is_finite() {
                    Err(RejectReason::BadZone(v.to_string()))
                } else {
                    check_zone(v as i64)
                }
            }
            ZoneColumn::Text(a) => parse_zone(a.as_string::<i32>().value(i).as_bytes()),
        }
    }
}

struct NumberColumn {
    name: String,
    array: ArrayRef,
    text: bool,
}

impl NumberColumn {
    fn new(array: &ArrayRef, path: &Path, name: &str) -> Result<Self, SourceError> {
        let t = array.data_type();
        let (array, text) = if is_text(t) {
            (to_text(array, path)?, true)
        } else if t.is_numeric() {
            (
                cast(array, &DataType::Float64).map_err(|e| parquet_error(path, e))?,
                false,
            )
        } else {
            return Err(unsupported(path, name, t));
        };
        Ok(NumberColumn {
            name: name.to_string(),
            array,
            text,
        })
    }

    fn get(&self, i: usize) -> Result<Option<i64>, RejectReason> {
        if self.array.is_null(i) {
            return Ok(None);
        }
        if self.text {
            parse_micros(
                self.array.as_string::<i32>().value(i).as_bytes(),
                &self.name,
            )
        } else {
            micros_from_f64(
                self.array.as_primitive::<Float64Type>().value(i),
                &self.name,
            )
            .map(Some)
        }
    }
}
