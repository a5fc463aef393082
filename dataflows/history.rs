//! Loading a pickup history for training and evaluation: trip files (aggregated by the same
//! dataflow as the live job) or hourly count tables in, a [`PickupHistory`] out.

use std::path::PathBuf;

use crate::dataflows::aggregate::AggregateJob;
use crate::features::history::PickupHistory;
use crate::features::hourly_input::{history_from_table, read_hourly_into, HourlyColumns};
use crate::jobs::JobError;
use crate::runtime::Cluster;
use crate::schema::ColumnMap;

/// Where a history comes from.
#[derive(Clone, Debug)]
pub enum HistoryInput {
    /// Trip files (CSV or Parquet), aggregated with the aggregate dataflow (default policy).
    Trips {
        /// The files, in replay order.
        paths: Vec<PathBuf>,
        /// Column mapping for non-TLC names.
        columns: ColumnMap,
        /// Workers for the aggregation.
        cluster: Cluster,
    },
    /// Hourly count tables (CSV or Parquet), sparse or dense.
    Hourly {
        /// The tables; counts of the same (zone, hour) in later files replace earlier ones.
        paths: Vec<PathBuf>,
        /// Their column names.
        columns: HourlyColumns,
    },
}

/// Reads the history; returns it with a one-line description of what was read.
pub fn load_history(input: HistoryInput) -> Result<(PickupHistory, String), JobError> {
    match input {
        HistoryInput::Trips {
            paths,
            columns,
            cluster,
        } => {
            let mut job = AggregateJob::files(paths);
            job.columns = columns;
            job.cluster = cluster;
            job.show_progress = true;
            job.publish_updates = false;
            let outcome = job
                .run()?
                .ok_or_else(|| JobError::Failed("aggregation ran on another process".into()))?;
            let r = &outcome.report;
            let line = format!(
                "aggregated {} trips ({} rejected, {} late) into {} (zone, hour) rows",
                r.accepted,
                r.rejected(),
                r.late,
                outcome.table.rows().len()
            );
            Ok((history_from_table(outcome.table.rows()), line))
        }
        HistoryInput::Hourly { paths, columns } => {
            let mut history = PickupHistory::new();
            let mut skipped = 0;
            for path in &paths {
                skipped += read_hourly_into(path, &columns, &mut history)?;
            }
            let line = format!(
                "read {} zones of hourly counts ({skipped} unreadable rows skipped)",
                history.zones().len()
            );
            Ok((history, line))
        }
    }
}
