//! Errors across the boundary: engine errors in, Python exceptions with the same message out.
//!
//! `ZonecastError` is the base; `InputError` (an input cannot be read), `ModelError` (a model
//! cannot be loaded, trained or used) and `JobError` (a job failed or was stopped) derive from
//! it. Bad arguments raise `ValueError`.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use zonecast::jobs::JobError as EngineJobError;

create_exception!(
    _zonecast,
    ZonecastError,
    PyException,
    "An error of the zonecast engine."
);
create_exception!(
    _zonecast,
    InputError,
    ZonecastError,
    "An input could not be read."
);
create_exception!(
    _zonecast,
    ModelError,
    ZonecastError,
    "A model could not be loaded, trained or used."
);
create_exception!(
    _zonecast,
    JobError,
    ZonecastError,
    "A job failed or was stopped."
);

/// Adds the exception types to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ZonecastError", py.get_type::<ZonecastError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("JobError", py.get_type::<JobError>())?;
    Ok(())
}

/// A job's error as the matching exception.
pub fn job(err: EngineJobError) -> PyErr {
    let message = err.to_string();
    match err {
        EngineJobError::Source(_)
        | EngineJobError::Hourly(_)
        | EngineJobError::Zones(_)
        | EngineJobError::Unbounded => InputError::new_err(message),
        EngineJobError::Model(_) => ModelError::new_err(message),
        _ => JobError::new_err(message),
    }
}

/// A model error as `ModelError`.
pub fn model(err: zonecast::model::ModelError) -> PyErr {
    ModelError::new_err(err.to_string())
}

/// A bad argument.
pub fn value(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}
