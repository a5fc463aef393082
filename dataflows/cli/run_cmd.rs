//! `zonecast run`: flags in, the live job out — sources, dataflow and HTTP server in one
//! process. With no inputs and no model it runs the built-in demo (generated history, a
//! never-ending paced generated stream, a model trained at first start).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::shared::{EventTimeArgs, ProcessArgs};
use zonecast::dataflows::aggregate::DEFAULT_BATCH_ROWS;
use zonecast::dataflows::forecast::ForecastPolicy;
use zonecast::dataflows::live::{LiveAddresses, LiveInputs, LiveJob};
use zonecast::live::ZoneDirectory;
use zonecast::model::ModelFile;
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::sources::plan::ReplayOrder;
use zonecast::sources::socket::SocketOptions;
use zonecast::time::format_elapsed;

use crate::demo_cmd;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    File,
    Sorted,
}

/// Flags of `zonecast run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Trip files (CSV or Parquet, mixed) replayed first.
    #[arg(long, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Replay order of the files.
    #[arg(long, value_enum)]
    order: Option<Order>,
    /// Replay files (or the demo stream) at this many x event time (default: files as fast as
    /// possible; the demo at 300x, an hour every 12 s).
    #[arg(long)]
    speed: Option<f64>,
    /// Then listen for CSV trip lines on this address (e.g. 127.0.0.1:9000).
    #[arg(long)]
    listen: Option<String>,
    /// Header for socket clients that send rows only.
    #[arg(long)]
    header: Option<String>,
    /// Close a socket epoch at least this often, in milliseconds.
    #[arg(long, default_value_t = 2)]
    batch_interval_ms: u64,
    /// The model file (from `zonecast train`); watched, and swapped in when it changes.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Serve HTTP here.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Threads for the HTTP server.
    #[arg(long, default_value_t = 2)]
    http_threads: usize,
    /// Enable `POST /v1/admin/model` with this bearer token (or ZONECAST_ADMIN_TOKEN).
    #[arg(long, env = "ZONECAST_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Stop when finite inputs end (default: keep serving the final forecasts until stopped).
    #[arg(long)]
    exit_at_end: bool,
    /// TLC's taxi_zone_lookup.csv for zone names and boroughs (default: found beside the data).
    #[arg(long)]
    zones: Option<PathBuf>,
    /// Write rejected and late rows here as they come.
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Worker threads per process.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[command(flatten)]
    processes: ProcessArgs,
    #[command(flatten)]
    event_time: EventTimeArgs,
    /// Target hours kept and corrected behind the hour in progress.
    #[arg(long, default_value_t = 48)]
    retention_hours: i64,
    /// Rows per epoch (files) or at most per epoch (socket).
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS)]
    batch_rows: u64,
    /// Map a trip field to a column: `FIELD=NAME` (repeatable).
    #[arg(long = "column", value_name = "FIELD=NAME")]
    columns: Vec<ColumnOverride>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn print_addresses(addresses: &LiveAddresses) {
    if let Some(http) = addresses.http {
        eprintln!();
        eprintln!("zonecast is serving forecasts:");
        eprintln!("  dashboard    http://{http}/");
        eprintln!("  predictions  curl http://{http}/v1/predictions");
        eprintln!("  one zone     curl http://{http}/v1/predictions/132");
        eprintln!("  live events  curl -N http://{http}/v1/stream");
        eprintln!("  metrics      curl http://{http}/metrics");
        eprintln!("  API          http://{http}/openapi.json");
    }
    if let Some(socket) = addresses.socket {
        eprintln!("  trips in     zonecast replay FILE --to {socket}");
    }
    eprintln!("press Ctrl-C to stop");
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let shutdown = crate::shared::shutdown_on_signals()?;
    let demo = args.input.is_empty() && args.listen.is_none() && args.model.is_none();
    let columns = ColumnMap::new(args.columns.clone());
    let mut inputs = LiveInputs {
        files: args.input.clone(),
        order: match args.order {
            Some(Order::Sorted) => ReplayOrder::Sorted,
            _ => ReplayOrder::File,
        },
        speed: args.speed,
        ..LiveInputs::default()
    };
    let model = if demo {
        eprintln!("zonecast demo: no inputs given, so serving forecasts for a generated stream");
        let generated = demo_cmd::generated_input(args.speed.unwrap_or(300.0));
        let model = demo_cmd::model(&PathBuf::from("zonecast-demo"), &generated)?;
        inputs.speed = None;
        inputs.generated = Some(generated);
        model
    } else {
        let Some(path) = &args.model else {
            bail!("--model is required with --input or --listen: train one with `zonecast train --input TRIPS --out model.bin`");
        };
        if args.input.is_empty() && args.listen.is_none() {
            bail!("give trips to serve with --input FILE... and/or --listen HOST:PORT");
        }
        ModelFile::load(path)?
    };
    if let Some(addr) = &args.listen {
        inputs.socket = Some((
            addr.clone(),
            SocketOptions {
                columns: columns.clone(),
                header: crate::shared::header_columns(args.header.as_ref()),
                batch_interval: Duration::from_millis(args.batch_interval_ms.max(1)),
                shutdown: shutdown.clone(),
                ..SocketOptions::default()
            },
        ));
    }
    let watermark = args.event_time.policy();
    let zones = ZoneDirectory::discover(args.zones.as_deref())?;
    let mut job = LiveJob::new(model, &args.http);
    job.policy = ForecastPolicy {
        watermark,
        spec: job.model.spec.clone(),
        retention_hours: args.retention_hours.max(2),
    };
    job.inputs = inputs;
    job.columns = columns;
    job.watch_model = args.model.clone();
    job.batch_rows = args.batch_rows;
    job.cluster = args.processes.cluster(args.workers);
    job.http_threads = args.http_threads;
    job.admin_token = args.admin_token.clone();
    job.zones = Arc::new(zones);
    job.exit_at_end = args.exit_at_end;
    job.rejects = args.rejects.clone();
    job.shutdown = shutdown;
    job.show_progress = !args.quiet && !demo;
    job.on_ready = Some(Box::new(print_addresses));
    let outcome = job.run()?;
    if let Some(state) = outcome.state {
        let snapshot = state.snapshot.load();
        let c = &snapshot.counters;
        eprintln!(
            "stopped after {}: {} rows read, {} accepted, {} rejected, {} late; {} forecasts published ({} corrections)",
            format_elapsed(outcome.elapsed),
            c.rows_read,
            c.accepted,
            c.rejected(),
            c.late,
            c.forecasts_updated,
            c.forecasts_corrected
        );
    }
    Ok(())
}
