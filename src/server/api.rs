//! The API's JSON types: the live state in, the exact bodies of every endpoint out (see
//! `assets/openapi.json`, which a test checks real responses against).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::live::{Evaluation, HistoryHour, LiveState, ServedForecast, ZoneErrors, ZonePrediction};
use crate::time::{format_iso, format_utc_ms, SECS_PER_HOUR};

/// One zone's forecast.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// Zone id.
    pub zone: u16,
    /// Zone name.
    pub zone_name: String,
    /// Borough.
    pub borough: String,
    /// The hour forecast.
    pub target_hour: String,
    /// Predicted pickups.
    pub predicted_pickups: f64,
    /// Model version.
    pub model_version: String,
    /// A baseline stood in for the model.
    pub fallback: bool,
    /// The watermark the forecast reflects.
    pub as_of: Option<String>,
    /// When it last changed.
    pub updated_at: String,
    /// Corrections so far.
    pub revision: u32,
    /// Pickups in the hour before the target hour, so far.
    pub last_actual: Option<u32>,
}

impl Prediction {
    /// The JSON body of a served prediction.
    pub fn of(p: ZonePrediction) -> Self {
        Prediction {
            zone: p.zone,
            zone_name: p.zone_name,
            borough: p.borough,
            target_hour: format_iso(p.target_hour * SECS_PER_HOUR),
            predicted_pickups: p.predicted_pickups,
            model_version: p.model_version,
            fallback: p.fallback,
            as_of: p.as_of.map(format_iso),
            updated_at: format_utc_ms(p.updated_at_ms),
            revision: p.revision,
            last_actual: p.last_actual,
        }
    }
}

/// One past hour of a zone.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryHourBody {
    /// The hour.
    pub hour: String,
    /// Pickups so far.
    pub actual_pickups: Option<u32>,
    /// The count can no longer change.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The forecast served for the hour.
    pub forecast: Option<f64>,
    /// Its model version.
    pub model_version: Option<String>,
    /// Its corrections.
    pub revision: Option<u32>,
}

impl From<&HistoryHour> for HistoryHourBody {
    fn from(h: &HistoryHour) -> Self {
        HistoryHourBody {
            hour: format_iso(h.hour * SECS_PER_HOUR),
            actual_pickups: h.actual,
            is_final: h.is_final,
            forecast: h.forecast.as_ref().map(ServedForecast::pickups),
            model_version: h.forecast.as_ref().map(|f| f.model_version.to_string()),
            revision: h.forecast.as_ref().map(|f| f.revision),
        }
    }
}

/// `GET /v1/zones/{zone}/history`.
#[derive(Clone, Debug, Serialize)]
pub struct History {
    /// Zone id.
    pub zone: u16,
    /// Zone name.
    pub zone_name: String,
    /// Borough.
    pub borough: String,
    /// The watermark.
    pub as_of: Option<String>,
    /// Oldest first, ending with the hour in progress.
    pub hours: Vec<HistoryHourBody>,
}

/// Baselines' errors on the evaluated hours.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineErrors {
    /// Previous hour.
    pub previous_hour: Option<f64>,
    /// Same hour last week.
    pub same_hour_last_week: Option<f64>,
    /// Four-week same-hour mean.
    pub four_week_mean: Option<f64>,
}

impl From<&ZoneErrors> for BaselineErrors {
    fn from(e: &ZoneErrors) -> Self {
        BaselineErrors {
            previous_hour: e.previous_hour,
            same_hour_last_week: e.same_hour_last_week,
            four_week_mean: e.four_week_mean,
        }
    }
}

/// One zone's online errors.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneEvaluation {
    /// Zone id.
    pub zone: u16,
    /// Zone name.
    pub zone_name: String,
    /// Borough.
    pub borough: String,
    /// Forecasts evaluated.
    pub forecasts_evaluated: u64,
    /// Served forecasts' MAE.
    pub mae: Option<f64>,
    /// Baselines' MAE.
    pub baselines: BaselineErrors,
}

/// `GET /v1/evaluation`.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluationBody {
    /// The watermark.
    pub as_of: Option<String>,
    /// Final hours looked at.
    pub window_hours: u32,
    /// First hour evaluated.
    pub from_hour: Option<String>,
    /// Last hour evaluated.
    pub to_hour: Option<String>,
    /// Forecasts evaluated.
    pub forecasts_evaluated: u64,
    /// Served forecasts' MAE.
    pub mae: Option<f64>,
    /// Baselines' MAE on the same forecasts.
    pub baselines: BaselineErrors,
    /// Per zone.
    pub zones: Vec<ZoneEvaluation>,
}

impl EvaluationBody {
    /// The body for `evaluation` of `state`.
    pub fn of(state: &LiveState, evaluation: &Evaluation) -> Self {
        let hour = |h: Option<i64>| h.map(|h| format_iso(h * SECS_PER_HOUR));
        EvaluationBody {
            as_of: state.watermark.map(format_iso),
            window_hours: evaluation.window_hours,
            from_hour: hour(evaluation.from_hour),
            to_hour: hour(evaluation.to_hour),
            forecasts_evaluated: evaluation.overall.forecasts,
            mae: evaluation.overall.mae,
            baselines: (&evaluation.overall).into(),
            zones: evaluation
                .zones
                .iter()
                .map(|(&zone, e)| ZoneEvaluation {
                    zone,
                    zone_name: state.zones.name(zone),
                    borough: state.zones.borough(zone),
                    forecasts_evaluated: e.forecasts,
                    mae: e.mae,
                    baselines: e.into(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Last epoch applied.
    pub epoch: u64,
    /// The watermark.
    pub as_of: Option<String>,
    /// The model serving now.
    pub model_version: String,
    /// Its kind.
    pub model_kind: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows aggregated.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rows set aside as late.
    pub late: u64,
    /// Rejected rows by reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rows read per second, recently.
    pub events_per_second: f64,
    /// Zones with a forecast.
    pub zones: u64,
    /// Forecasts published.
    pub forecasts_updated: u64,
    /// Forecasts corrected.
    pub forecasts_corrected: u64,
    /// Files and tail have ended.
    pub input_finished: bool,
    /// Forecasts are being served.
    pub ready: bool,
    /// Start time.
    pub started_at: String,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// Model files rejected.
    pub model_swaps_rejected: u64,
    /// The last rejected model's error.
    pub last_model_error: Option<String>,
    /// Scoring batches an external (Python) model failed, served by the baseline instead.
    pub model_errors: u64,
    /// Wall-clock seconds the oldest row read but not yet served has waited (0: all served).
    pub staleness_seconds: f64,
    /// Event-time seconds from the newest pickup served to the newest pickup read.
    pub event_time_lag_seconds: Option<i64>,
    /// The rejects log (`--rejects`): records written and lost, and whether it is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_log: Option<OutputStatus>,
    /// Checkpoints and the write-ahead log (`--state-dir`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointReport>,
}

/// How checkpoints fare (`/v1/status` `checkpoint`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckpointReport {
    /// The state folder.
    pub state_dir: String,
    /// The epoch of the latest checkpoint (written or restored from).
    pub epoch: Option<u64>,
    /// Seconds since it was taken.
    pub age_seconds: Option<f64>,
    /// Its size.
    pub bytes: u64,
    /// Milliseconds encoding and writing it took.
    pub duration_ms: f64,
    /// Checkpoints written since start.
    pub written: u64,
    /// Checkpoints that failed since start.
    pub failed: u64,
    /// Whether the last checkpoint failed (e.g. a full or read-only disk).
    pub failing: bool,
    /// The last failure.
    pub last_error: Option<String>,
    /// Bytes in the write-ahead log.
    pub wal_bytes: u64,
    /// Tail epochs the write-ahead log could not make durable.
    pub wal_failures: u64,
    /// The write-ahead log's last failure (cleared by the next good write).
    pub wal_last_error: Option<String>,
}

/// How an output file fares (`/v1/status` `rejects_log`).
#[derive(Clone, Debug, Serialize)]
pub struct OutputStatus {
    /// The file.
    pub path: String,
    /// Records written.
    pub written: u64,
    /// Records that could not be written (e.g. a full disk).
    pub lost: u64,
    /// Whether the last write failed.
    pub failing: bool,
    /// The last write error.
    pub last_error: Option<String>,
}

/// The `status` event of `/v1/stream`.
#[derive(Clone, Debug, Serialize)]
pub struct StreamStatus {
    /// Last epoch applied.
    pub epoch: u64,
    /// The watermark.
    pub as_of: Option<String>,
    /// Rows read per second, recently.
    pub events_per_second: f64,
    /// Rows read.
    pub rows_read: u64,
    /// Rows aggregated.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rows set aside as late.
    pub late: u64,
    /// Online MAE.
    pub mae: Option<f64>,
}

/// `POST /v1/admin/model` accepted.
#[derive(Clone, Debug, Serialize)]
pub struct ModelAccepted {
    /// Always true.
    pub accepted: bool,
    /// The new model's version.
    pub model_version: String,
    /// When it applies.
    pub applies: &'static str,
}

/// Every error body.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    /// A stable code.
    pub error: &'static str,
    /// What went wrong and what to do.
    pub message: String,
}
