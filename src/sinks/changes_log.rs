//! The update log: every change of the hourly collection as `(record, time, diff)` lines.
//!
//! Format: `time,zone,hour,pickups,mean_distance,mean_fare,mean_total,diff`, where `time` is
//! the epoch. A late trip that corrects an hour shows up as a `-1` line with the old values
//! followed by a `+1` line with the new ones.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::time::format_hour;
use crate::trip::{push_hourly_row, HourlyStats, ZoneHour, HOURLY_HEADER};

/// Header of the changes file.
pub fn changes_header() -> String {
    format!("time,{HOURLY_HEADER},diff")
}

/// Appends epochs of updates to a CSV file.
#[derive(Debug)]
pub struct ChangesLog {
    out: BufWriter<File>,
}

impl ChangesLog {
    /// Creates (truncates) the file and writes the header.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "{}", changes_header())?;
        Ok(ChangesLog { out })
    }

    /// Writes one epoch's updates.
    pub fn write_epoch(
        &mut self,
        epoch: u64,
        updates: &[((ZoneHour, HourlyStats), isize)],
    ) -> std::io::Result<()> {
        let mut line = String::with_capacity(96);
        let mut label = (i64::MIN, String::new());
        for ((key, stats), diff) in updates {
            if label.0 != key.hour {
                label = (key.hour, format_hour(key.hour));
            }
            line.clear();
            push_hourly_row(&mut line, key, &label.1, stats);
            writeln!(self.out, "{epoch},{line},{diff}")?;
        }
        Ok(())
    }

    /// Flushes buffered lines.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
