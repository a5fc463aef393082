//! Run reports: per-row outcomes in, the counts and set-aside rows of a job out.
//!
//! Every row read ends in exactly one of: accepted, rejected (with a [`crate::reject::RejectReason`]) or late.
//! Sources emit `Read` and `Rejected`; the lateness classifier emits `Accepted`, `Late` and
//! far-ahead rejections. A [`RunReport`] adds them up so that `read == accepted + rejected + late`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::reject::Reject;
use crate::time::format_naive;
use crate::trip::RowPos;

/// One outcome event, as it flows through the dataflow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Report {
    /// This many rows were read.
    Read(u64),
    /// This many rows were accepted into the aggregates.
    Accepted(u64),
    /// A row was rejected.
    Rejected(Reject),
    /// A row was older than the watermark minus the allowed lateness.
    Late {
        /// Where the row was.
        pos: RowPos,
        /// Its pickup time.
        pickup: i64,
        /// The watermark it was judged against.
        watermark: i64,
    },
}

/// A row set aside as late.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LateRow {
    /// Where the row was.
    pub pos: RowPos,
    /// Its pickup time.
    pub pickup: i64,
    /// The watermark it was judged against.
    pub watermark: i64,
}

/// The counts and set-aside rows of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Rows read (CSV data lines that are not blank, Parquet rows, socket lines after the header).
    pub rows_read: u64,
    /// Rows aggregated.
    pub accepted: u64,
    /// Rows rejected, by [`crate::reject::RejectReason::code`].
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Rows set aside as late.
    pub late: u64,
    /// Every rejected row.
    pub rejects: Vec<Reject>,
    /// Every late row.
    pub late_rows: Vec<LateRow>,
}

impl RunReport {
    /// Adds one outcome event.
    pub fn add(&mut self, report: Report) {
        match report {
            Report::Read(n) => self.rows_read += n,
            Report::Accepted(n) => self.accepted += n,
            Report::Rejected(reject) => {
                *self
                    .rejected_by_reason
                    .entry(reject.reason.code())
                    .or_default() += 1;
                self.rejects.push(reject);
            }
            Report::Late {
                pos,
                pickup,
                watermark,
            } => {
                self.late += 1;
                self.late_rows.push(LateRow {
                    pos,
                    pickup,
                    watermark,
                });
            }
        }
    }

    /// Total rejected rows.
    pub fn rejected(&self) -> u64 {
        self.rejected_by_reason.values().sum()
    }

    /// Whether every row read is accounted for.
    pub fn balanced(&self) -> bool {
        self.rows_read == self.accepted + self.rejected() + self.late
    }

    /// Writes the rejects file: `source,line,kind,reason`, one line per rejected or late row,
    /// sorted by source and line. `names` maps source indexes to names.
    pub fn write_rejects(&self, path: &Path, names: &[String]) -> std::io::Result<()> {
        let mut rows: Vec<(RowPos, &'static str, String)> = self
            .rejects
            .iter()
            .map(|r| (r.pos, "rejected", rejected_reason(r)))
            .chain(
                self.late_rows
                    .iter()
                    .map(|l| (l.pos, "late", late_reason(l.pickup, l.watermark))),
            )
            .collect();
        rows.sort();
        crate::sinks::atomic_file::write_atomically(path, |out| {
            writeln!(out, "{REJECTS_HEADER}")?;
            for (pos, kind, reason) in rows {
                writeln!(
                    out,
                    "{}",
                    rejects_line(
                        names.get(pos.source as usize).map_or("?", String::as_str),
                        pos,
                        kind,
                        &reason
                    )
                )?;
            }
            Ok(())
        })
    }

    /// A human summary: rows read, accepted, rejected by reason, late.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("rows read      {}", self.rows_read),
            format!("accepted       {}", self.accepted),
            format!("rejected       {}", self.rejected()),
        ];
        for (code, n) in &self.rejected_by_reason {
            lines.push(format!("  {code:<22} {n}"));
        }
        lines.push(format!("late           {}", self.late));
        lines
    }
}

/// The header of a rejects file.
pub const REJECTS_HEADER: &str = "source,line,kind,reason";

/// The reason column of a rejected row.
pub fn rejected_reason(reject: &Reject) -> String {
    format!("{}: {}", reject.reason.code(), reject.reason)
}

/// The reason column of a late row.
pub fn late_reason(pickup: i64, watermark: i64) -> String {
    format!(
        "late: pickup {} is older than the watermark {} minus the allowed lateness",
        format_naive(pickup),
        format_naive(watermark)
    )
}

/// One line of a rejects file, for a row of the source `name`.
pub fn rejects_line(name: &str, pos: RowPos, kind: &str, reason: &str) -> String {
    format!(
        "{},{},{kind},{}",
        csv_quote(name),
        pos.line,
        csv_quote(reason)
    )
}

/// Quotes a CSV field when it needs it.
pub fn csv_quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}
