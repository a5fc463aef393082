//! Trips from Python: column buffers of a DataFrame or Arrow table in (built by
//! `zonecast._frames`), the engine's [`TripRow`]s out — validated later by the same checks as
//! file rows, so a bad value becomes a counted reject with its row number.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zonecast::sources::trip_row::{TripRow, Value};

use crate::buffers::from_bytes;
use crate::errors;

/// One column: typed numbers with a validity mask, or texts (`None` for null).
enum Column {
    Ints(Vec<i64>, Vec<u8>),
    Floats(Vec<f64>),
    Timestamps(Vec<i64>, Vec<u8>),
    Texts(Vec<Option<String>>),
    Missing,
}

impl Column {
    fn value(&self, i: usize) -> Value {
        match self {
            Column::Ints(v, valid) if valid[i] != 0 => Value::Int(v[i]),
            Column::Floats(v) if !v[i].is_nan() => Value::Float(v[i]),
            Column::Timestamps(v, valid) if valid[i] != 0 => Value::Timestamp(v[i]),
            Column::Texts(v) => v[i].clone().map_or(Value::Null, Value::Text),
            _ => Value::Null,
        }
    }
}

/// Trip rows in columns, ready to push into a job or to use as an input.
#[pyclass(module = "zonecast._zonecast", frozen)]
pub struct TripBatch {
    rows: Vec<TripRow>,
}

fn column(
    kind: &str,
    data: Option<&[u8]>,
    valid: Option<&[u8]>,
    texts: Option<Vec<Option<String>>>,
    n: usize,
) -> PyResult<Column> {
    let bad = |what: &str| errors::value(format!("column buffer {what} does not hold {n} values"));
    let mask = |valid: Option<&[u8]>| -> PyResult<Vec<u8>> {
        let mask = valid.map_or_else(|| vec![1; n], <[u8]>::to_vec);
        if mask.len() == n {
            Ok(mask)
        } else {
            Err(bad("mask"))
        }
    };
    let column = match kind {
        "int" => Column::Ints(
            from_bytes(data.unwrap_or_default()).ok_or_else(|| bad("int"))?,
            mask(valid)?,
        ),
        "float" => {
            Column::Floats(from_bytes(data.unwrap_or_default()).ok_or_else(|| bad("float"))?)
        }
        "timestamp" => Column::Timestamps(
            from_bytes(data.unwrap_or_default()).ok_or_else(|| bad("timestamp"))?,
            mask(valid)?,
        ),
        "text" => Column::Texts(texts.unwrap_or_default()),
        "missing" => return Ok(Column::Missing),
        other => return Err(errors::value(format!("unknown column kind {other:?}"))),
    };
    let len = match &column {
        Column::Ints(v, _) | Column::Timestamps(v, _) => v.len(),
        Column::Floats(v) => v.len(),
        Column::Texts(v) => v.len(),
        Column::Missing => n,
    };
    if len == n {
        Ok(column)
    } else {
        Err(bad(kind))
    }
}

type ColumnArgs<'py> = (
    String,
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    Option<Vec<Option<String>>>,
);

#[pymethods]
impl TripBatch {
    /// `columns`: the five trip fields in order (pickup time, zone, distance, fare, total), each
    /// `(kind, data, valid, texts)` with kind `int`, `float`, `timestamp` (naive seconds),
    /// `text` or `missing`.
    #[new]
    fn new(n: usize, columns: Vec<ColumnArgs<'_>>) -> PyResult<Self> {
        if columns.len() != 5 {
            return Err(errors::value("a trip batch has five columns"));
        }
        let columns = columns
            .into_iter()
            .map(|(kind, data, valid, texts)| {
                column(
                    &kind,
                    data.as_ref().map(|b| b.as_bytes()),
                    valid.as_ref().map(|b| b.as_bytes()),
                    texts,
                    n,
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        let rows = (0..n)
            .map(|i| TripRow {
                pickup_datetime: columns[0].value(i),
                pickup_zone: columns[1].value(i),
                trip_distance: columns[2].value(i),
                fare_amount: columns[3].value(i),
                total_amount: columns[4].value(i),
            })
            .collect();
        Ok(TripBatch { rows })
    }

    fn __len__(&self) -> usize {
        self.rows.len()
    }
}

impl TripBatch {
    /// The rows (copied: a batch can be used more than once).
    pub fn rows(&self) -> Vec<TripRow> {
        self.rows.clone()
    }
}
