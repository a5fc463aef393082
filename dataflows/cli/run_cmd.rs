//! `zonecast run`: flags in, the live job out — sources, dataflow and HTTP server in one
//! process. With no inputs and no model it runs the built-in demo (`DemoJob`: generated
//! history, a never-ending paced generated stream, a model trained at first start).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

use super::shared::{run_until_signal, wait_ready_or_signal, EventTimeArgs, ProcessArgs};
use zonecast::dataflows::aggregate::DEFAULT_BATCH_ROWS;
use zonecast::dataflows::demo::DemoJob;
use zonecast::dataflows::forecast::ForecastPolicy;
use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::jobs::{JobAddresses, SocketSource, Source};
use zonecast::live::ZoneDirectory;
use zonecast::model::{Baseline, ModelFile};
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::server::DEFAULT_HTTP_ADDR;
use zonecast::sources::plan::ReplayOrder;
use zonecast::time::format_elapsed;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    File,
    Sorted,
}

/// Flags of `zonecast run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Trip files (CSV or Parquet, mixed) replayed first; `-` reads standard input (read to
    /// its end first, like a FIFO; for an endless stream use --listen).
    #[arg(long, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Format of every input (default: told from each name; sniffed for `-` and FIFOs).
    #[arg(long, value_enum)]
    format: Option<super::shared::InputFormat>,
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
    /// Close an epoch of paced files, the demo stream or the socket at most this many
    /// milliseconds after its first row (unpaced files keep epochs of --batch-rows rows).
    #[arg(long, default_value_t = SocketSource::DEFAULT_BATCH_INTERVAL.as_millis() as u64)]
    batch_interval_ms: u64,
    /// The model file (from `zonecast train`); watched, and swapped in when it changes.
    /// Without it, the `four_week_mean` baseline serves.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Serve HTTP here.
    #[arg(long, default_value = DEFAULT_HTTP_ADDR)]
    http: String,
    /// Threads for the HTTP server.
    #[arg(long, default_value_t = LiveJob::DEFAULT_HTTP_THREADS)]
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
    #[arg(long, default_value_t = LiveJob::DEFAULT_WORKERS)]
    workers: usize,
    /// Checkpoint into DIR (and log socket rows there before they are used); the same command
    /// with the same DIR restarts where a killed run stopped.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Seconds between checkpoints (with --state-dir).
    #[arg(long, value_name = "SECONDS", default_value_t = LiveJob::DEFAULT_CHECKPOINT_INTERVAL.as_secs_f64())]
    checkpoint_interval: f64,
    #[command(flatten)]
    processes: ProcessArgs,
    #[command(flatten)]
    event_time: EventTimeArgs,
    /// Target hours kept and corrected behind the hour in progress.
    #[arg(long, default_value_t = ForecastPolicy::DEFAULT_RETENTION_HOURS)]
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

fn print_addresses(addresses: &JobAddresses) {
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

impl RunArgs {
    /// Everything but the source and the model.
    fn configure(&self, job: &mut LiveJob, zones: ZoneDirectory) {
        job.policy = ForecastPolicy {
            watermark: self.event_time.policy(),
            spec: job.model.spec.clone(),
            retention_hours: self.retention_hours,
        };
        job.columns = ColumnMap::new(self.columns.clone());
        job.batch_rows = self.batch_rows;
        job.batch_interval = Duration::from_millis(self.batch_interval_ms.max(1));
        job.cluster = self.processes.cluster(self.workers);
        job.http = Some(self.http.clone());
        job.http_threads = self.http_threads;
        job.admin_token = self.admin_token.clone();
        job.zones = Arc::new(zones);
        job.exit_at_end = self.exit_at_end;
        job.rejects = self.rejects.clone();
        job.state_dir = self.state_dir.clone();
        job.checkpoint_interval = Duration::from_secs_f64(self.checkpoint_interval.max(0.0));
    }

    fn source(&self) -> Source {
        let mut source = Source::files(self.input.clone())
            .with_order(match self.order {
                Some(Order::Sorted) => ReplayOrder::Sorted,
                _ => ReplayOrder::File,
            })
            .with_speed(self.speed)
            .with_format(super::shared::input_format(self.format));
        if let Some(addr) = &self.listen {
            source = source.then(Source::Socket(SocketSource {
                addr: addr.clone(),
                header: super::shared::header_columns(self.header.as_ref()),
                batch_interval: Duration::from_millis(self.batch_interval_ms),
                exit_when_idle: None,
                ..SocketSource::new(addr)
            }));
        }
        source
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    super::shared::refuse_overwriting_inputs(&args.input, &[("--rejects", args.rejects.as_ref())])?;
    let shutdown = super::shared::shutdown_on_signals()?;
    let demo = args.input.is_empty() && args.listen.is_none() && args.model.is_none();
    let zones = ZoneDirectory::discover(args.zones.as_deref())?;
    let handle = if demo {
        eprintln!("zonecast demo: no inputs given, so serving forecasts for a generated stream");
        eprintln!("(the first start trains the demo model, a second or two)");
        let mut demo = DemoJob::new();
        demo.speed = args.speed.unwrap_or(DemoJob::DEFAULT_SPEED);
        args.configure(&mut demo.live, zones);
        demo.start()?
    } else {
        if args.input.is_empty() && args.listen.is_none() {
            bail!("give trips to serve with --input FILE... and/or --listen HOST:PORT");
        }
        let model = match &args.model {
            Some(path) => ModelFile::load(path)?,
            None => {
                let baseline = ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::default());
                eprintln!(
                    "no --model given: serving the four_week_mean baseline (each zone's mean pickups in the same hour over the last 4 weeks)"
                );
                eprintln!(
                    "for better forecasts train a model: zonecast train --input TRIPS --out model.bin, then run with --model model.bin"
                );
                baseline
            }
        };
        let mut job = LiveJob::new(model);
        args.configure(&mut job, zones);
        job.source = args.source();
        job.watch_model = args.model.clone();
        job.show_progress = !args.quiet;
        job.start()?
    };
    if let Some(addresses) = wait_ready_or_signal(&handle, &shutdown) {
        print_addresses(&addresses);
    }
    let outcome = run_until_signal(handle, &shutdown)?;
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
