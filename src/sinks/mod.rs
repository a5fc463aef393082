//! Sinks: dataflow outputs in, tables, logs and reports out.
//!
//! The sink operators gather everything on worker 0 (of process 0), hand completed epochs to
//! callbacks in a deterministic order, and are the only place besides sources that does I/O.
//!
//! - [`epochs`]: `SinkEpochs` operator — collection updates grouped by finished epoch.
//! - [`reports`]: `SinkReports` operator — outcome events into a shared [`crate::report::RunReport`].
//! - [`final_rows`]: `SinkFinal` operator — a table's rows handed over as they become final.
//! - [`hourly_table`]: the accumulated hourly table and its CSV form.
//! - [`live`]: `SinkLive` operator — everything the server needs, one finished epoch at a time.
//! - [`changes_log`]: the update log `(record, time, diff)` as CSV.
//! - [`rejects_log`]: a live job's rejected and late rows appended to CSV, with its health.

pub mod atomic_file;
pub mod changes_log;
pub mod epochs;
pub mod final_rows;
pub mod hourly_table;
pub mod live;
pub mod rejects_log;
pub mod reports;

pub use epochs::SinkEpochs;
pub use reports::SinkReports;
