//! `zonecast._zonecast`, the extension module: Python values in, engine jobs, tables and
//! models out. Each file wraps one area and only converts types; the jobs, operators and
//! models are the engine's (`zonecast` crate), and the Python package (`python/zonecast/`)
//! puts the user-facing API on top.
//!
//! Rules kept everywhere: the GIL is released while the engine works or is waited on
//! ([`wait::until`] polls for Ctrl-C), Python is never called while a Rust lock is held,
//! and tables cross as little-endian column buffers (one per column), never row by row.

mod aggregate;
mod batch;
mod buffers;
mod cli;
mod errors;
mod external;
mod features;
mod generate;
mod handle;
mod history;
mod json;
mod live;
mod model;
mod trips;
mod wait;

use pyo3::prelude::*;

#[pymodule]
fn _zonecast(m: &Bound<'_, PyModule>) -> PyResult<()> {
    zonecast::logging::log_to_stderr();
    errors::register(m)?;
    m.add_class::<trips::TripBatch>()?;
    m.add_class::<model::Model>()?;
    m.add_class::<external::ExternalModel>()?;
    m.add_class::<features::Features>()?;
    m.add_class::<handle::Run>()?;
    m.add_function(wrap_pyfunction!(generate::generate, m)?)?;
    m.add_function(wrap_pyfunction!(aggregate::aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(features::features, m)?)?;
    m.add_function(wrap_pyfunction!(model::train, m)?)?;
    m.add_function(wrap_pyfunction!(model::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(live::start_live, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch, m)?)?;
    m.add_function(wrap_pyfunction!(batch::start_serve, m)?)?;
    m.add_function(wrap_pyfunction!(cli::cli_main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
