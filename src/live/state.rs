//! The serving state: finished epochs in ([`super::LiveEpoch`]), queries out: the current
//! forecast per zone with its revision count, actual pickups beside the forecast served for
//! each past hour, and run counters.
//!
//! A forecast's *revision* counts how often the forecast for that (zone, target hour) changed
//! after it was first published (late trips, model swaps). Forecasts and actuals are kept for
//! `retention_hours` behind the latest target hour, enough for a four-week baseline.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::reject::Reject;
use crate::report::Report;
use crate::time::hour_of;
use crate::watermark::WatermarkPolicy;

use super::zones::ZoneDirectory;
use super::LiveEpoch;

/// A forecast as served.
#[derive(Clone, Debug, PartialEq)]
pub struct ServedForecast {
    /// Predicted pickups in thousandths.
    pub milli_pickups: i64,
    /// The model file's version.
    pub model_version: Arc<str>,
    /// A baseline stood in for the model.
    pub fallback: bool,
    /// How many times it was corrected after first being served.
    pub revision: u32,
    /// The watermark (naive seconds) when it last changed.
    pub as_of: Option<i64>,
    /// Wall clock (Unix milliseconds) when it last changed.
    pub updated_at_ms: i64,
}

impl ServedForecast {
    /// Predicted pickups.
    pub fn pickups(&self) -> f64 {
        self.milli_pickups as f64 / 1000.0
    }
}

/// Row outcomes and forecast changes since start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Rows read.
    pub rows_read: u64,
    /// Rows aggregated.
    pub accepted: u64,
    /// Rows set aside as late.
    pub late: u64,
    /// Rejected rows by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Forecasts published (new or changed).
    pub forecasts_updated: u64,
    /// Forecasts changed after being first published.
    pub forecasts_corrected: u64,
    /// Epochs applied.
    pub epochs: u64,
}

impl Counters {
    /// All rejected rows.
    pub fn rejected(&self) -> u64 {
        self.rejected_by_reason.values().sum()
    }
}

/// One past hour of a zone: what happened beside what was forecast.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryHour {
    /// The hour bucket.
    pub hour: i64,
    /// Pickups so far (`None`: before the data starts).
    pub actual: Option<u32>,
    /// The hour can no longer change.
    pub is_final: bool,
    /// The forecast last served for that hour.
    pub forecast: Option<ServedForecast>,
}

/// What one epoch changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// (zone, target hour) forecasts that are new or changed, in order.
    pub forecasts: Vec<(u16, i64)>,
    /// (zone, hour) counts that changed.
    pub actuals: Vec<(u16, i64)>,
}

/// Everything the server answers from, updated one finished epoch at a time.
#[derive(Clone, Debug)]
pub struct LiveState {
    /// Names and boroughs.
    pub zones: Arc<ZoneDirectory>,
    /// Lateness rules (which hours are final).
    pub policy: WatermarkPolicy,
    /// The last epoch applied.
    pub epoch: u64,
    /// The watermark (naive seconds).
    pub watermark: Option<i64>,
    /// The latest pickup seen (naive seconds).
    pub latest_pickup: Option<i64>,
    /// Counters since start.
    pub counters: Counters,
    /// The most recent rejected rows (at most [`RECENT_REJECTS`]).
    pub recent_rejects: VecDeque<Reject>,
    first_hour: Option<i64>,
    forecasts: BTreeMap<(u16, i64), ServedForecast>,
    latest_target: BTreeMap<u16, i64>,
    actuals: BTreeMap<(u16, i64), u32>,
    known_zones: BTreeSet<u16>,
    /// Zones with a forecast or an actual, by hour: forgetting an hour touches only its keys.
    by_hour: BTreeMap<i64, BTreeSet<u16>>,
    retention_hours: i64,
    forgotten_before: i64,
}

/// A [`LiveState`]'s data as a checkpoint keeps it (without the zone directory and the
/// policy, which come from the job).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedLive {
    epoch: u64,
    watermark: Option<i64>,
    latest_pickup: Option<i64>,
    counters: Counters,
    recent_rejects: Vec<Reject>,
    first_hour: Option<i64>,
    /// `((zone, hour), (milli, version, fallback, revision, as_of, updated_at_ms))`.
    #[allow(clippy::type_complexity)]
    forecasts: Vec<((u16, i64), (i64, String, bool, u32, Option<i64>, i64))>,
    latest_target: Vec<(u16, i64)>,
    actuals: Vec<((u16, i64), u32)>,
    known_zones: Vec<u16>,
    retention_hours: i64,
    forgotten_before: i64,
}

impl SavedLive {
    /// Rows read through the checkpoint's epoch.
    pub fn rows_read(&self) -> u64 {
        self.counters.rows_read
    }
}

/// How many rejected rows [`LiveState::recent_rejects`] keeps.
pub const RECENT_REJECTS: usize = 100;

/// Hours of forecasts and actuals kept: four weeks for the baselines, plus two days.
pub const DEFAULT_RETENTION_HOURS: i64 = 4 * 168 + 48;

impl LiveState {
    /// An empty state.
    pub fn new(zones: Arc<ZoneDirectory>, policy: WatermarkPolicy) -> Self {
        LiveState {
            zones,
            policy,
            epoch: 0,
            watermark: None,
            latest_pickup: None,
            counters: Counters::default(),
            recent_rejects: VecDeque::new(),
            first_hour: None,
            forecasts: BTreeMap::new(),
            latest_target: BTreeMap::new(),
            actuals: BTreeMap::new(),
            known_zones: BTreeSet::new(),
            by_hour: BTreeMap::new(),
            retention_hours: DEFAULT_RETENTION_HOURS,
            forgotten_before: i64::MIN,
        }
    }

    /// Applies one finished epoch at wall clock `now_ms`; says which forecasts and counts
    /// changed.
    pub fn apply(&mut self, epoch: u64, update: LiveEpoch, now_ms: i64) -> Applied {
        self.epoch = self.epoch.max(epoch);
        self.counters.epochs += 1;
        if let Some(state) = update.watermark {
            if state.watermark.is_some() && state.watermark >= self.watermark {
                self.watermark = state.watermark;
            }
            if let Some(latest) = state.hours.iter().map(|h| h.2).max() {
                self.latest_pickup = Some(self.latest_pickup.map_or(latest, |l| l.max(latest)));
            }
            if self.first_hour.is_none() {
                self.first_hour = state.first_hour;
            }
        }
        for report in update.reports {
            self.count(report);
        }
        let mut actuals = Vec::new();
        for ((key, stats), diff) in update.hourly {
            if diff > 0 {
                actuals.push((key.zone, key.hour));
                self.actuals
                    .insert((key.zone, key.hour), stats.pickups as u32);
                self.by_hour.entry(key.hour).or_default().insert(key.zone);
                self.known_zones.insert(key.zone);
                self.first_hour = Some(self.first_hour.map_or(key.hour, |f| f.min(key.hour)));
            } else if self.actuals.get(&(key.zone, key.hour)) == Some(&(stats.pickups as u32)) {
                self.actuals.remove(&(key.zone, key.hour));
            }
        }
        let forecasts = self.apply_forecasts(update.forecasts, now_ms);
        self.forget_old();
        Applied { forecasts, actuals }
    }

    fn count(&mut self, report: Report) {
        let c = &mut self.counters;
        match report {
            Report::Read(n) => c.rows_read += n,
            Report::Accepted(n) => c.accepted += n,
            Report::Late { .. } => c.late += 1,
            Report::Rejected(reject) => {
                *c.rejected_by_reason
                    .entry(reject.reason.code().to_string())
                    .or_default() += 1;
                if self.recent_rejects.len() == RECENT_REJECTS {
                    self.recent_rejects.pop_front();
                }
                self.recent_rejects.push_back(reject);
            }
        }
    }

    fn apply_forecasts(
        &mut self,
        updates: Vec<(crate::forecast::ZoneForecast, isize)>,
        now_ms: i64,
    ) -> Vec<(u16, i64)> {
        let mut retracted: BTreeSet<(u16, i64)> = BTreeSet::new();
        let mut inserted: BTreeMap<(u16, i64), crate::forecast::ZoneForecast> = BTreeMap::new();
        for (forecast, diff) in updates {
            let key = (forecast.zone, forecast.target_hour);
            if diff < 0 {
                retracted.insert(key);
            } else {
                inserted.insert(key, forecast);
            }
        }
        for key in &retracted {
            if !inserted.contains_key(key) {
                self.forecasts.remove(key);
            }
        }
        let mut changed = Vec::with_capacity(inserted.len());
        for (key, forecast) in inserted {
            let served = ServedForecast {
                milli_pickups: forecast.milli_pickups,
                model_version: forecast.model_version.clone(),
                fallback: forecast.fallback,
                revision: 0,
                as_of: self.watermark,
                updated_at_ms: now_ms,
            };
            self.counters.forecasts_updated += 1;
            match self.forecasts.get_mut(&key) {
                Some(old) => {
                    let revision = old.revision + 1;
                    *old = ServedForecast { revision, ..served };
                    self.counters.forecasts_corrected += 1;
                }
                None => {
                    self.forecasts.insert(key, served);
                    self.by_hour.entry(key.1).or_default().insert(key.0);
                }
            }
            let latest = self.latest_target.entry(key.0).or_insert(key.1);
            *latest = (*latest).max(key.1);
            self.known_zones.insert(key.0);
            changed.push(key);
        }
        changed
    }

    fn forget_old(&mut self) {
        let Some(latest) = self.latest_target.values().max().copied() else {
            return;
        };
        let keep_from = latest - self.retention_hours;
        // Once per new hour, not per epoch.
        if self.forgotten_before >= keep_from {
            return;
        }
        self.forgotten_before = keep_from;
        let kept = self.by_hour.split_off(&keep_from);
        for (hour, zones) in std::mem::replace(&mut self.by_hour, kept) {
            for zone in zones {
                self.forecasts.remove(&(zone, hour));
                self.actuals.remove(&(zone, hour));
            }
        }
    }

    /// Keeps forecasts and actuals this many hours behind the latest target hour (default
    /// [`DEFAULT_RETENTION_HOURS`]).
    pub fn set_retention_hours(&mut self, hours: i64) {
        self.retention_hours = hours.max(1);
    }

    /// Every held forecast, by (zone, target hour).
    pub fn forecasts(&self) -> impl Iterator<Item = (&(u16, i64), &ServedForecast)> + '_ {
        self.forecasts.iter()
    }

    /// The hour in progress: the latest target hour forecast for any zone.
    pub fn latest_target(&self) -> Option<i64> {
        self.latest_target.values().max().copied()
    }

    /// The zone's current forecast: its latest target hour.
    pub fn current(&self, zone: u16) -> Option<(i64, &ServedForecast)> {
        let target = *self.latest_target.get(&zone)?;
        self.forecasts.get(&(zone, target)).map(|f| (target, f))
    }

    /// Zones with a current forecast, ascending.
    pub fn forecast_zones(&self) -> impl Iterator<Item = u16> + '_ {
        self.latest_target.keys().copied()
    }

    /// Zones seen in the data or the forecasts.
    pub fn known_zones(&self) -> &BTreeSet<u16> {
        &self.known_zones
    }

    /// The forecast served for `(zone, hour)`.
    pub fn forecast(&self, zone: u16, hour: i64) -> Option<&ServedForecast> {
        self.forecasts.get(&(zone, hour))
    }

    /// Held forecasts (every zone and target hour).
    pub fn forecast_count(&self) -> usize {
        self.forecasts.len()
    }

    /// Pickups in `(zone, hour)` so far: 0 for an hour of the data without trips, `None`
    /// before the data starts or after the latest hour.
    pub fn actual(&self, zone: u16, hour: i64) -> Option<u32> {
        if let Some(n) = self.actuals.get(&(zone, hour)) {
            return Some(*n);
        }
        let first = self.first_hour?;
        let last = self.watermark.map(hour_of)?;
        (hour >= first && hour <= last && self.known_zones.contains(&zone)).then_some(0)
    }

    /// Hours before this one can no longer change.
    pub fn closed_before(&self) -> Option<i64> {
        self.policy.closed_before(self.watermark)
    }

    /// Whether `hour`'s count is final.
    pub fn is_final(&self, hour: i64) -> bool {
        self.closed_before().is_some_and(|closed| hour < closed)
    }

    /// The last `hours` hours of `zone` ending with the hour in progress, oldest first.
    pub fn history(&self, zone: u16, hours: u32) -> Vec<HistoryHour> {
        let Some(end) = self.latest_target() else {
            return Vec::new();
        };
        (end + 1 - hours as i64..=end)
            .map(|hour| HistoryHour {
                hour,
                actual: self.actual(zone, hour),
                is_final: self.is_final(hour),
                forecast: self.forecast(zone, hour).cloned(),
            })
            .collect()
    }

    /// The state's data, for a checkpoint.
    pub fn to_saved(&self) -> SavedLive {
        SavedLive {
            epoch: self.epoch,
            watermark: self.watermark,
            latest_pickup: self.latest_pickup,
            counters: self.counters.clone(),
            recent_rejects: self.recent_rejects.iter().cloned().collect(),
            first_hour: self.first_hour,
            forecasts: self
                .forecasts
                .iter()
                .map(|(key, f)| {
                    let f = f.clone();
                    let version = f.model_version.to_string();
                    (
                        *key,
                        (
                            f.milli_pickups,
                            version,
                            f.fallback,
                            f.revision,
                            f.as_of,
                            f.updated_at_ms,
                        ),
                    )
                })
                .collect(),
            latest_target: self.latest_target.iter().map(|(k, v)| (*k, *v)).collect(),
            actuals: self.actuals.iter().map(|(k, v)| (*k, *v)).collect(),
            known_zones: self.known_zones.iter().copied().collect(),
            retention_hours: self.retention_hours,
            forgotten_before: self.forgotten_before,
        }
    }

    /// Replaces the state's data with a checkpoint's (zones and policy stay).
    pub fn restore(&mut self, saved: SavedLive) {
        let mut versions: BTreeMap<String, Arc<str>> = BTreeMap::new();
        self.epoch = saved.epoch;
        self.watermark = saved.watermark;
        self.latest_pickup = saved.latest_pickup;
        self.counters = saved.counters;
        self.recent_rejects = saved.recent_rejects.into();
        self.first_hour = saved.first_hour;
        self.forecasts.clear();
        self.latest_target.clear();
        self.by_hour.clear();
        for ((zone, hour), (milli, version, fallback, revision, as_of, at)) in saved.forecasts {
            let model_version = versions
                .entry(version)
                .or_insert_with_key(|v| Arc::from(v.as_str()))
                .clone();
            let forecast = ServedForecast {
                milli_pickups: milli,
                model_version,
                fallback,
                revision,
                as_of,
                updated_at_ms: at,
            };
            self.forecasts.insert((zone, hour), forecast);
            self.by_hour.entry(hour).or_default().insert(zone);
        }
        self.latest_target = saved.latest_target.into_iter().collect();
        self.actuals = saved.actuals.into_iter().collect();
        for &(zone, hour) in self.actuals.keys() {
            self.by_hour.entry(hour).or_default().insert(zone);
        }
        self.known_zones = saved.known_zones.into_iter().collect();
        self.retention_hours = saved.retention_hours;
        self.forgotten_before = saved.forgotten_before;
    }

    /// Restores a forecast (for state read back from a database).
    pub fn insert_forecast(&mut self, zone: u16, target_hour: i64, forecast: ServedForecast) {
        self.forecasts.insert((zone, target_hour), forecast);
        let latest = self.latest_target.entry(zone).or_insert(target_hour);
        *latest = (*latest).max(target_hour);
        self.known_zones.insert(zone);
    }

    /// Restores an hour's final count (for state read back from a database).
    pub fn insert_actual(&mut self, zone: u16, hour: i64, pickups: u32) {
        self.actuals.insert((zone, hour), pickups);
        self.known_zones.insert(zone);
        self.first_hour = Some(self.first_hour.map_or(hour, |f| f.min(hour)));
    }
}
