//! Waiting on the engine from Python: a short, GIL-free step in, its result out — with
//! Ctrl-C (and any other Python signal handler) checked between steps.

use pyo3::prelude::*;

/// Calls `step` with the GIL released until it returns `Some`; between calls, runs Python's
/// signal handlers, so `KeyboardInterrupt` surfaces within one step (keep steps ~50 ms).
pub fn until<T: Send>(py: Python<'_>, mut step: impl FnMut() -> Option<T> + Send) -> PyResult<T> {
    loop {
        if let Some(value) = py.detach(&mut step) {
            return Ok(value);
        }
        py.check_signals()?;
    }
}

/// The step length used while waiting.
pub const STEP: std::time::Duration = std::time::Duration::from_millis(50);
