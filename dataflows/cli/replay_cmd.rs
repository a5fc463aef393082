//! `zonecast replay`: a file and an address in, the file's rows sent over TCP out.

use std::path::PathBuf;

use clap::Args;
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::sources::send::send_file;
use zonecast::sources::send_acked::send_file_acked;

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
    /// Acknowledged mode: wait until the job has made every row durable (`run --state-dir`),
    /// reconnecting and resending after a server restart; no row is lost or counted twice.
    #[arg(long)]
    ack: bool,
    /// The client id in acknowledged mode (default: one per replay); rerunning with the same
    /// id resends nothing the job already has.
    #[arg(long, requires = "ack")]
    ack_id: Option<String>,
    /// Give up after this many seconds without an acknowledgement (acknowledged mode).
    #[arg(long, default_value_t = 120.0, requires = "ack")]
    patience: f64,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    if args.ack {
        let id = args.ack_id.clone().unwrap_or_else(|| {
            format!("replay-{}-{}", std::process::id(), zonecast::time::now_ms())
        });
        let summary = send_file_acked(
            &args.file,
            &args.to,
            &id,
            args.speed,
            &ColumnMap::new(args.columns),
            std::time::Duration::from_secs_f64(args.patience.max(0.1)),
        )?;
        eprintln!(
            "sent {} rows from {} to {} as {id}, every one acknowledged, in {} ({} connections, {} rows resent)",
            summary.sent.lines,
            args.file.display(),
            args.to,
            zonecast::time::format_elapsed(started.elapsed()),
            summary.connections,
            summary.resent,
        );
        return Ok(());
    }
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
