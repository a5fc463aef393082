//! `zonecast serve`: a prediction database in, the same HTTP API as `zonecast run` out (the
//! latest complete run's forecasts, reloaded when a new run completes).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use zonecast::live::ZoneDirectory;
use zonecast::server::{Publisher, ServerHandle, ServerState};
use zonecast::store::Store;
use zonecast::watermark::WatermarkPolicy;

/// Flags of `zonecast serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The SQLite database written by `zonecast batch`.
    #[arg(long)]
    db: PathBuf,
    /// Serve HTTP here.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// TLC's taxi_zone_lookup.csv for zone names and boroughs.
    #[arg(long)]
    zones: Option<PathBuf>,
    /// Check for a newly completed run this often (seconds).
    #[arg(long, default_value_t = 2)]
    reload_secs: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = crate::shared::shutdown_on_signals()?;
    let zones = Arc::new(ZoneDirectory::discover(args.zones.as_deref())?);
    let policy = WatermarkPolicy::default();
    let store = Store::open_read(&args.db)?;
    let mut run = store.latest_complete_run()?;
    let (live, version, kind) = store.live_state(zones.clone(), policy)?;
    let state = ServerState::new(live, &kind, &version);
    state
        .input_done_epoch
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let mut publisher = Publisher::new(state.clone());
    let server = ServerHandle::start(&args.http, state.clone(), 2)?;
    let http = server.addr;
    eprintln!(
        "zonecast is serving run {} of {} (model {version}):",
        run.unwrap_or(0),
        args.db.display()
    );
    eprintln!("  dashboard    http://{http}/");
    eprintln!("  predictions  curl http://{http}/v1/predictions");
    eprintln!("  metrics      curl http://{http}/metrics");
    eprintln!("press Ctrl-C to stop");
    let every = Duration::from_secs(args.reload_secs.max(1));
    let mut checked = Instant::now();
    while !shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
        if checked.elapsed() < every {
            continue;
        }
        checked = Instant::now();
        let latest = store.latest_complete_run()?;
        if latest != run {
            run = latest;
            let (live, version, kind) = store.live_state(zones.clone(), policy)?;
            tracing::info!(?run, %version, "a newer run completed; reloading");
            publisher.replace(live, &version, &kind);
        } else {
            // Keeps the status (uptime) and its stream events current.
            publisher.publish();
        }
    }
    server.stop();
    Ok(())
}
