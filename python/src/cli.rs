//! The `zonecast` console command of the Python package: `sys.argv` in, the Rust command
//! line's exit code out — the very same program as the Rust binary (`dataflows/cli`).

use pyo3::prelude::*;

#[path = "../../dataflows/cli/app.rs"]
#[allow(dead_code)]
mod app;

/// Runs the command line (program name first) without the GIL; returns the exit code.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let args = argv.into_iter().map(Into::into).collect();
    py.detach(|| app::main_with(args))
}
