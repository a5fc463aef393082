//! `zonecast serve`: flags in, the serve job (`ServeJob`) out — a prediction database served
//! over the same HTTP API as `zonecast run`, reloaded when a new run completes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use zonecast::dataflows::serve::ServeJob;
use zonecast::live::ZoneDirectory;
use zonecast::server::DEFAULT_HTTP_ADDR;

use super::shared::{run_until_signal, wait_ready_or_signal};

/// Flags of `zonecast serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The SQLite database written by `zonecast batch`.
    #[arg(long)]
    db: PathBuf,
    /// Serve HTTP here.
    #[arg(long, default_value = DEFAULT_HTTP_ADDR)]
    http: String,
    /// TLC's taxi_zone_lookup.csv for zone names and boroughs.
    #[arg(long)]
    zones: Option<PathBuf>,
    /// Check for a newly completed run this often (seconds).
    #[arg(long, default_value_t = ServeJob::DEFAULT_RELOAD.as_secs())]
    reload_secs: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = super::shared::shutdown_on_signals()?;
    let mut job = ServeJob::new(&args.db);
    job.http = Some(args.http.clone());
    job.zones = Arc::new(ZoneDirectory::discover(args.zones.as_deref())?);
    job.reload_every = Duration::from_secs(args.reload_secs);
    let handle = job.start()?;
    if let Some(addresses) = wait_ready_or_signal(&handle, &shutdown) {
        let status = handle.snapshot().map(|s| s.status).unwrap_or_default();
        eprintln!(
            "zonecast is serving {} ({} rows read by its latest run):",
            args.db.display(),
            status.rows_read
        );
        if let Some(http) = addresses.http {
            eprintln!("  dashboard    http://{http}/");
            eprintln!("  predictions  curl http://{http}/v1/predictions");
            eprintln!("  metrics      curl http://{http}/metrics");
        }
        eprintln!("press Ctrl-C to stop");
    }
    run_until_signal(handle, &shutdown)?;
    Ok(())
}
