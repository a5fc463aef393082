//! Flags shared by `train` and `evaluate`: where the pickup history comes from.

use std::path::PathBuf;

use clap::Args;
use zonecast::dataflows::history::HistoryInput;
use zonecast::features::hourly_input::HourlyColumns;
use zonecast::runtime::Cluster;
use zonecast::schema::{ColumnMap, ColumnOverride};

/// Input flags for `train` and `evaluate`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Trip files (CSV or Parquet), or hourly count tables with --hourly.
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// The inputs are hourly count tables, not trips.
    #[arg(long)]
    pub hourly: bool,
    /// With --hourly: the zone column.
    #[arg(long, default_value = "zone")]
    pub zone_col: String,
    /// With --hourly: the hour column (timestamp or `YYYY-MM-DD HH:MM:SS`).
    #[arg(long, default_value = "hour")]
    pub hour_col: String,
    /// With --hourly: the count column.
    #[arg(long, default_value = "pickups")]
    pub count_col: String,
    /// Map a trip field to a column: `FIELD=NAME` (repeatable).
    #[arg(long = "column", value_name = "FIELD=NAME")]
    pub columns: Vec<ColumnOverride>,
    /// Worker threads for aggregating trip files.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

impl HistoryArgs {
    /// The library's description of the input.
    pub fn input(&self) -> HistoryInput {
        if self.hourly {
            HistoryInput::Hourly {
                paths: self.input.clone(),
                columns: HourlyColumns {
                    zone: self.zone_col.clone(),
                    hour: self.hour_col.clone(),
                    count: self.count_col.clone(),
                },
            }
        } else {
            HistoryInput::Trips {
                paths: self.input.clone(),
                columns: ColumnMap::new(self.columns.clone()),
                cluster: Cluster::threads(self.workers),
            }
        }
    }
}

/// Parses `2024-03-01 00:00:00` or `2024-03-01` into an hour bucket.
pub fn parse_hour(text: &str) -> Result<i64, String> {
    zonecast::time::parse_naive(text.as_bytes())
        .map(zonecast::time::hour_of)
        .ok_or_else(|| format!("{text:?} is not a time: write 2024-03-01 00:00:00 or 2024-03-01"))
}
