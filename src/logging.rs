//! Where the engine's logs go: `tracing` events in, lines on standard error out, filtered by
//! `ZONECAST_LOG` (e.g. `info`, `zonecast=debug`; default `warn`). The binary and the Python
//! extension both call [`log_to_stderr`]; a program with its own subscriber need not.

/// Installs the stderr subscriber (once; later calls, or a subscriber already set, are kept).
/// Colours only when standard error is a terminal.
pub fn log_to_stderr() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZONECAST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
