//! `zonecast aggregate`: flags in, the hourly table, rejects, update log and a summary out.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::shared::{run_until_signal, wait_ready_or_signal, EventTimeArgs, ProcessArgs};
use zonecast::dataflows::aggregate::{AggregateJob, AggregateOutputs, DEFAULT_BATCH_ROWS};
use zonecast::jobs::{SocketSource, Source};
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::sources::plan::ReplayOrder;
use zonecast::time::{format_elapsed, Span};

/// Replay order for file inputs.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    /// As the rows stand in the files (real disorder).
    File,
    /// Sorted by pickup time.
    Sorted,
}

/// Flags of `zonecast aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {
    /// Trip files (CSV or Parquet, mixed), replayed in the order given; `-` reads standard
    /// input (FIFOs work too: both are read to their end first).
    #[arg(long, num_args = 1.., required_unless_present = "listen", conflicts_with = "listen")]
    input: Vec<PathBuf>,
    /// Format of every input (default: told from each name; sniffed for `-` and FIFOs).
    #[arg(long, value_enum)]
    format: Option<super::shared::InputFormat>,
    /// Listen for CSV lines on `HOST:PORT` instead of reading files (port 0 picks one).
    #[arg(long)]
    listen: Option<String>,
    /// Write the hourly table here (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write rejected and late rows here (`source,line,kind,reason`).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Write the update log here (`time,zone,hour,...,diff`).
    #[arg(long)]
    changes: Option<PathBuf>,
    /// Worker threads per process.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[command(flatten)]
    processes: ProcessArgs,
    #[command(flatten)]
    event_time: EventTimeArgs,
    /// Rows per epoch (the unit of event-time progress and of output updates).
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS)]
    batch_rows: u64,
    /// Replay order for files.
    #[arg(long, value_enum, default_value = "file")]
    order: Order,
    /// Pace file replay at N x event time (`3600` = one hour of trips per second).
    #[arg(long)]
    speed: Option<f64>,
    /// Map a field to a column: `FIELD=NAME` (repeatable), e.g. `pickup_datetime=pickup_time`.
    #[arg(long = "column", value_name = "FIELD=NAME")]
    columns: Vec<ColumnOverride>,
    /// With --listen: the CSV header clients would send, when they send rows only.
    #[arg(long)]
    header: Option<String>,
    /// With --listen: stop this long after the last client disconnects (`5s`, or seconds).
    #[arg(long, value_parser = parse_idle)]
    exit_when_idle: Option<Span>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn parse_idle(text: &str) -> Result<Span, String> {
    match text.parse::<i64>() {
        Ok(secs) if secs >= 0 => Ok(Span::from_secs(secs)),
        _ => text.parse::<Span>().map_err(|e| e.to_string()),
    }
}

pub fn run(args: AggregateArgs) -> anyhow::Result<()> {
    super::shared::refuse_overwriting_inputs(
        &args.input,
        &[
            ("--out", args.out.as_ref()),
            ("--rejects", args.rejects.as_ref()),
            ("--changes", args.changes.as_ref()),
        ],
    )?;
    let shutdown = super::shared::shutdown_on_signals()?;
    let source = match &args.listen {
        Some(addr) => Source::Socket(SocketSource {
            addr: addr.clone(),
            header: super::shared::header_columns(args.header.as_ref()),
            batch_interval: SocketSource::DEFAULT_BATCH_INTERVAL,
            exit_when_idle: args
                .exit_when_idle
                .map(|s| Duration::from_secs(s.secs() as u64)),
            ..SocketSource::new(addr)
        }),
        None => Source::files(args.input.clone())
            .with_order(match args.order {
                Order::File => ReplayOrder::File,
                Order::Sorted => ReplayOrder::Sorted,
            })
            .with_speed(args.speed)
            .with_format(super::shared::input_format(args.format)),
    };
    let job = AggregateJob {
        source,
        columns: ColumnMap::new(args.columns.clone()),
        policy: args.event_time.policy(),
        batch_rows: args.batch_rows,
        cluster: args.processes.cluster(args.workers),
        outputs: AggregateOutputs {
            table: args.out.clone(),
            changes: args.changes.clone(),
            rejects: args.rejects.clone(),
        },
        show_progress: !args.quiet,
        publish_updates: false,
    };
    let handle = job.start()?;
    if let Some(addr) = wait_ready_or_signal(&handle, &shutdown).and_then(|a| a.socket) {
        eprintln!("listening for CSV trip lines on {addr} (send a header line, then rows; e.g. zonecast replay FILE --to {addr})");
    }
    let Some(outcome) = run_until_signal(handle, &shutdown)? else {
        eprintln!(
            "process {} finished (results are written by process 0)",
            args.processes.process
        );
        return Ok(());
    };
    if args.out.is_none() {
        print!("{}", outcome.table.to_csv());
    }
    let report = &outcome.report;
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    for line in report.summary_lines() {
        eprintln!("{line}");
    }
    eprintln!("hourly rows    {}", outcome.table.rows().len());
    eprintln!(
        "state (peak)   {} (zone, hour) keys",
        outcome.peak_state_keys
    );
    eprintln!("wall time      {}", format_elapsed(outcome.elapsed));
    eprintln!("events/s       {:.0}", report.rows_read as f64 / secs);
    if let Some(path) = &args.out {
        eprintln!("table          {}", path.display());
    }
    Ok(())
}
