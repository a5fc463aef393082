//! `generate`: generator settings in, a seeded synthetic TLC trip file (CSV or Parquet) out.

use std::path::PathBuf;

use pyo3::prelude::*;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::time::parse_naive;

use crate::errors;

/// Writes `trips` synthetic trips over `days` days from `start`; returns the number written.
#[pyfunction]
#[pyo3(signature = (path, trips, days, seed, start))]
pub fn generate(
    py: Python<'_>,
    path: PathBuf,
    trips: u64,
    days: u32,
    seed: u64,
    start: &str,
) -> PyResult<u64> {
    let start = parse_naive(start.as_bytes())
        .ok_or_else(|| errors::value(format!("start={start:?} is not a date: write 2024-01-01")))?;
    let config = GeneratorConfig {
        trips,
        days,
        seed,
        start,
        ..GeneratorConfig::default()
    };
    py.detach(|| write_trips(&path, TripGenerator::new(config)))
        .map_err(|e| errors::InputError::new_err(format!("cannot write {}: {e}", path.display())))
}
