//! Flags and helpers shared by the subcommands: processes, event-time rules, signal handling
//! (a started job runs until it ends or a signal stops it) and socket headers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use zonecast::jobs::{JobAddresses, JobError, JobHandle};
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

/// `--format` of trip inputs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum InputFormat {
    /// Comma-separated text with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// The format `flag` names, if any.
pub fn input_format(flag: Option<InputFormat>) -> Option<zonecast::format::Format> {
    flag.map(|f| match f {
        InputFormat::Csv => zonecast::format::Format::Csv,
        InputFormat::Parquet => zonecast::format::Format::Parquet,
    })
}

/// `--allowed-lateness`, `--max-ahead`, `--watermark-support`.
#[derive(Args, Debug)]
pub struct EventTimeArgs {
    /// Trips older than the watermark minus this are late (`90s`, `2h`, `30d`).
    #[arg(long, default_value_t = WatermarkPolicy::default().allowed_lateness)]
    pub allowed_lateness: Span,
    /// Trips newer than the watermark plus this are rejected as far ahead.
    #[arg(long, default_value_t = WatermarkPolicy::default().max_ahead)]
    pub max_ahead: Span,
    /// Rows an hour needs before it may advance the watermark.
    #[arg(long, default_value_t = WatermarkPolicy::default().min_support)]
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

/// Waits until `handle`'s job is ready, stopping it on SIGINT/SIGTERM. `None` when the job
/// ended first (its error, if any, comes from [`run_until_signal`]).
pub fn wait_ready_or_signal<O: Send + 'static>(
    handle: &JobHandle<O>,
    shutdown: &AtomicBool,
) -> Option<JobAddresses> {
    loop {
        match handle.wait_ready(Duration::from_millis(100)) {
            Ok(addresses) => return Some(addresses),
            Err(JobError::NotReady(_)) if shutdown.load(Ordering::SeqCst) => handle.stop(),
            Err(JobError::NotReady(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Waits for `handle`'s job to end, stopping it on SIGINT/SIGTERM; its outcome or error.
pub fn run_until_signal<O: Send + 'static>(
    handle: JobHandle<O>,
    shutdown: &AtomicBool,
) -> Result<O, JobError> {
    while !handle.is_finished() {
        if shutdown.load(Ordering::SeqCst) {
            handle.stop();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.join()
}

/// Refuses to run when an output path names one of the inputs (it would be overwritten).
pub fn refuse_overwriting_inputs(
    inputs: &[PathBuf],
    outputs: &[(&str, Option<&PathBuf>)],
) -> anyhow::Result<()> {
    let inputs: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for (flag, output) in outputs {
        let Some(output) = output else { continue };
        let Ok(resolved) = std::fs::canonicalize(output) else {
            continue;
        };
        if inputs.contains(&resolved) {
            anyhow::bail!(
                "{flag} {} is one of the inputs: writing it would destroy the input; choose another output path",
                output.display()
            );
        }
    }
    Ok(())
}
