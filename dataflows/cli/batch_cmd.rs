//! `zonecast batch`: flags in, the forecast dataflow run over bounded files and its results
//! written into a SQLite prediction database, with a summary out.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use zonecast::dataflows::batch::BatchJob;
use zonecast::jobs::Source;
use zonecast::model::ModelFile;
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::store::HourRange;
use zonecast::time::{format_elapsed, format_hour};

use super::model_args::parse_hour;
use super::shared::ProcessArgs;

/// Flags of `zonecast batch`.
#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Trip files (CSV or Parquet, mixed); `-` reads standard input (FIFOs work too).
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Format of every input (default: told from each name; sniffed for `-` and FIFOs).
    #[arg(long, value_enum)]
    format: Option<super::shared::InputFormat>,
    /// The model file (from `zonecast train`).
    #[arg(long)]
    model: PathBuf,
    /// The SQLite database (created if missing).
    #[arg(long)]
    db: PathBuf,
    /// Write forecasts for target hours from this one (`2024-01-15` or `2024-01-15 06:00:00`).
    #[arg(long, value_parser = parse_hour)]
    from: Option<i64>,
    /// ... up to (not including) this one.
    #[arg(long, value_parser = parse_hour)]
    to: Option<i64>,
    /// Only target hours this model version has not scored yet (for an hourly cron job).
    #[arg(long)]
    since_last_run: bool,
    /// How long to wait for another run holding the database's write lock.
    #[arg(long, default_value_t = zonecast::store::DEFAULT_LOCK_TIMEOUT.as_secs())]
    lock_timeout_secs: u64,
    /// Worker threads (per process).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[command(flatten)]
    processes: ProcessArgs,
    /// Rows per epoch.
    #[arg(long, default_value_t = zonecast::dataflows::aggregate::DEFAULT_BATCH_ROWS)]
    batch_rows: u64,
    /// Map a trip field to a column: `FIELD=NAME` (repeatable).
    #[arg(long = "column", value_name = "FIELD=NAME")]
    columns: Vec<ColumnOverride>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: BatchArgs) -> anyhow::Result<()> {
    let model = ModelFile::load(&args.model)?;
    let source =
        Source::files(args.input.clone()).with_format(super::shared::input_format(args.format));
    let mut job = BatchJob::new(source, model, args.db.clone());
    job.columns = ColumnMap::new(args.columns.clone());
    job.cluster = args.processes.cluster(args.workers);
    job.batch_rows = args.batch_rows;
    job.range = HourRange {
        from: args.from,
        to: args.to,
        since_last_run: args.since_last_run,
    };
    job.lock_timeout = Duration::from_secs(args.lock_timeout_secs);
    job.show_progress = !args.quiet;
    let leader = job.cluster.is_leader();
    let shutdown = super::shared::shutdown_on_signals()?;
    let outcome = super::shared::run_until_signal(job.start()?, &shutdown)?;
    if !leader {
        return Ok(());
    }
    for line in outcome.report.summary_lines() {
        eprintln!("{line}");
    }
    let w = &outcome.written;
    eprintln!("run            {}", w.run_id);
    eprintln!(
        "forecasts      {} written ({} new or changed){}",
        w.forecasts,
        w.forecasts_changed,
        w.from
            .map(|h| format!(", target hours from {}", format_hour(h)))
            .unwrap_or_default()
    );
    eprintln!("hourly rows    {}", w.hourly);
    if !w.abandoned.is_empty() {
        let ids: Vec<String> = w.abandoned.iter().map(i64::to_string).collect();
        eprintln!(
            "abandoned      runs {} (their process died before finishing; none of their rows were committed)",
            ids.join(", ")
        );
    }
    eprintln!(
        "wall time      {} dataflow + {} database ({} rows written during the dataflow)",
        format_elapsed(outcome.dataflow),
        format_elapsed(outcome.write),
        w.written_early
    );
    println!("{}", args.db.display());
    Ok(())
}
