//! Flag helpers shared by the subcommands: signal handling and socket headers.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

/// A flag set by SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone())
            .context("cannot install signal handlers")?;
    }
    Ok(shutdown)
}

/// `--header a,b,c` as column names.
pub fn header_columns(header: Option<&String>) -> Option<Vec<String>> {
    header.map(|h| h.split(',').map(|c| c.trim().to_string()).collect())
}
