//! Flags and helpers shared by the subcommands: processes, event-time rules, signal handling
//! and socket headers.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use zonecast::runtime::Cluster;
use zonecast::time::Span;
use zonecast::watermark::WatermarkPolicy;

/// `--processes`, `--process`, `--hostfile`.
#[derive(Args, Debug)]
pub struct ProcessArgs {
    /// Number of processes (each runs this command with its own --process).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// This process's index (0-based).
    #[arg(long, default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process, process 0 first.
    #[arg(long)]
    pub hostfile: Option<PathBuf>,
}

impl ProcessArgs {
    /// The cluster with `workers` threads per process.
    pub fn cluster(&self, workers: usize) -> Cluster {
        Cluster {
            workers,
            processes: self.processes,
            process: self.process,
            hostfile: self.hostfile.clone(),
        }
    }
}

/// `--allowed-lateness`, `--max-ahead`, `--watermark-support`.
#[derive(Args, Debug)]
pub struct EventTimeArgs {
    /// Trips older than the watermark minus this are late (`90s`, `2h`, `30d`).
    #[arg(long, default_value = "1d")]
    pub allowed_lateness: Span,
    /// Trips newer than the watermark plus this are rejected as far ahead.
    #[arg(long, default_value = "1d")]
    pub max_ahead: Span,
    /// Rows an hour needs before it may advance the watermark.
    #[arg(long, default_value_t = 3)]
    pub watermark_support: u64,
}

impl EventTimeArgs {
    /// The watermark policy.
    pub fn policy(&self) -> WatermarkPolicy {
        WatermarkPolicy {
            allowed_lateness: self.allowed_lateness,
            max_ahead: self.max_ahead,
            min_support: self.watermark_support,
        }
    }
}

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
