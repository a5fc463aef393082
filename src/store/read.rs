//! Reading the prediction database back: runs, stored forecasts, and the latest complete run
//! as a [`LiveState`] for `zonecast serve`.

use std::sync::Arc;

use rusqlite::OptionalExtension;

use super::{parse_hour, parse_utc_ms, ForecastRow, Store, StoreError};
use crate::live::{LiveState, ServedForecast, ZoneDirectory};
use crate::time::parse_naive;
use crate::watermark::WatermarkPolicy;

/// Runs by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Committed runs.
    pub complete: u64,
    /// Runs that failed with an error (recorded).
    pub failed: u64,
    /// Runs still running (or whose death no later run has noticed yet).
    pub running: u64,
    /// Runs whose process died before finishing, found by a later run.
    pub abandoned: u64,
}

/// The latest complete run's record, as read back for serving.
struct LatestRun {
    version: String,
    kind: String,
    watermark: Option<String>,
    rows_read: Option<i64>,
    accepted: Option<i64>,
    late: Option<i64>,
    rejected_by_reason: Option<String>,
}

impl Store {
    /// The latest complete run's id, if any.
    pub fn latest_complete_run(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(run_id) FROM runs WHERE status = 'complete'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.error(e))
    }

    /// Counts runs by status.
    pub fn run_counts(&self) -> Result<RunCounts, StoreError> {
        let count = |status: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(
                    "SELECT count(*) FROM runs WHERE status = ?1",
                    [status],
                    |r| r.get(0),
                )
                .map_err(|e| self.error(e))
        };
        Ok(RunCounts {
            complete: count("complete")?,
            failed: count("failed")?,
            running: count("running")?,
            abandoned: count("abandoned")?,
        })
    }

    /// Every forecast row `(zone, target hour, predicted pickups, model version, fallback)`,
    /// sorted.
    pub fn forecasts(&self) -> Result<Vec<ForecastRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT zone, target_hour, predicted_pickups, model_version, fallback FROM forecasts ORDER BY model_version, zone, target_hour")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |r| {
                let hour: String = r.get(1)?;
                Ok((
                    r.get(0)?,
                    parse_hour(&hour).unwrap_or(i64::MIN),
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// The serving state of the latest complete run: its model version's forecasts, every
    /// hourly count, its watermark and counters.
    pub fn live_state(
        &self,
        zones: Arc<ZoneDirectory>,
        policy: WatermarkPolicy,
    ) -> Result<(LiveState, String, String), StoreError> {
        let run: Option<LatestRun> = self
            .conn
            .query_row(
                "SELECT model_version, model_kind, watermark, rows_read, accepted, late, rejected_by_reason
                 FROM runs WHERE status = 'complete' ORDER BY run_id DESC LIMIT 1",
                [],
                |r| {
                    Ok(LatestRun {
                        version: r.get(0)?,
                        kind: r.get(1)?,
                        watermark: r.get(2)?,
                        rows_read: r.get(3)?,
                        accepted: r.get(4)?,
                        late: r.get(5)?,
                        rejected_by_reason: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let Some(LatestRun {
            version,
            kind,
            watermark,
            rows_read,
            accepted,
            late,
            rejected_by_reason: by_reason,
        }) = run
        else {
            return Err(StoreError::Empty(self.path.clone()));
        };
        let mut live = LiveState::new(zones, policy);
        live.watermark = watermark
            .as_deref()
            .and_then(|w| parse_naive(w.replace('T', " ").as_bytes()));
        live.latest_pickup = live.watermark;
        live.counters.rows_read = rows_read.unwrap_or(0) as u64;
        live.counters.accepted = accepted.unwrap_or(0) as u64;
        live.counters.late = late.unwrap_or(0) as u64;
        live.counters.rejected_by_reason = by_reason
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let model: Arc<str> = Arc::from(version.as_str());
        let mut statement = self
            .conn
            .prepare("SELECT zone, target_hour, predicted_pickups, fallback, created_at FROM forecasts WHERE model_version = ?1")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([&version], |r| {
                Ok((
                    r.get::<_, u16>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(|e| self.error(e))?;
        for row in rows {
            let (zone, hour, pickups, fallback, created) = row.map_err(|e| self.error(e))?;
            let Some(hour) = parse_hour(&hour) else {
                continue;
            };
            live.insert_forecast(
                zone,
                hour,
                ServedForecast {
                    milli_pickups: (pickups * 1000.0).round() as i64,
                    model_version: model.clone(),
                    fallback,
                    revision: 0,
                    as_of: live.watermark,
                    updated_at_ms: parse_utc_ms(&created).unwrap_or(0),
                },
            );
        }
        let mut statement = self
            .conn
            .prepare("SELECT zone, hour, pickups FROM hourly")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, u16>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })
            .map_err(|e| self.error(e))?;
        for row in rows {
            let (zone, hour, pickups) = row.map_err(|e| self.error(e))?;
            if let Some(hour) = parse_hour(&hour) {
                live.insert_actual(zone, hour, pickups);
            }
        }
        Ok((live, version, kind))
    }
}
