//! `zonecast replay`: a file and an address in, the file's rows sent over TCP out.

use std::path::PathBuf;

use clap::Args;
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::sources::send::send_file;

/// Flags of `zonecast replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The trip file (CSV or Parquet).
    file: PathBuf,
    /// Where a socket source listens, `HOST:PORT`.
    #[arg(long)]
    to: String,
    /// Pace at N x event time (`3600` = one hour of trips per second).
    #[arg(long)]
    speed: Option<f64>,
    /// Map a field to a column: `FIELD=NAME` (repeatable).
    #[arg(long = "column", value_name = "FIELD=NAME")]
    columns: Vec<ColumnOverride>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let summary = send_file(
        &args.file,
        &args.to,
        args.speed,
        &ColumnMap::new(args.columns),
    )?;
    eprintln!(
        "sent {} lines ({} bytes) from {} to {} in {}",
        summary.lines,
        summary.bytes,
        args.file.display(),
        args.to,
        zonecast::time::format_elapsed(started.elapsed())
    );
    Ok(())
}
