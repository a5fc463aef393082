//! The job's state as JSON for the package: counters, per-epoch updates (changes with a
//! `diff`) and the online evaluation in; `serde_json` values the package parses out (small:
//! at most one row per zone, or one epoch's changes).

use serde_json::{json, Value as Json};
use zonecast::jobs::{JobSnapshot, JobStatus, JobUpdate};
use zonecast::server::api::BaselineErrors;
use zonecast::time::{format_iso, SECS_PER_HOUR};
use zonecast::trip::{HourlyStats, ZoneHour};

pub fn status_json(status: &JobStatus) -> Json {
    json!({
        "epoch": status.epoch,
        "watermark": status.watermark.map(format_iso),
        "rows_read": status.rows_read,
        "accepted": status.accepted,
        "rejected": status.rejected(),
        "rejected_by_reason": status.rejected_by_reason,
        "late": status.late,
        "input_finished": status.input_finished,
    })
}

fn forecast_json(f: &zonecast::forecast::ZoneForecast, diff: isize) -> Json {
    json!({
        "zone": f.zone,
        "target_hour": format_iso(f.target_hour * SECS_PER_HOUR),
        "predicted_pickups": f.milli_pickups as f64 / 1000.0,
        "model_version": f.model_version,
        "fallback": f.fallback,
        "diff": diff,
    })
}

fn hourly_json(key: &ZoneHour, stats: &HourlyStats, diff: isize) -> Json {
    json!({
        "zone": key.zone,
        "hour": format_iso(key.hour * SECS_PER_HOUR),
        "pickups": stats.pickups,
        "mean_distance": stats.distance.mean(),
        "mean_fare": stats.fare.mean(),
        "mean_total": stats.total.mean(),
        "diff": diff,
    })
}

/// One update as JSON: `kind` is `epoch` (changes with a `diff` column), `resync` (the whole
/// state, diff 1) or `lagged` (epochs missed).
pub fn update_json(update: JobUpdate) -> Json {
    match update {
        JobUpdate::Epoch(e) => json!({
            "kind": "epoch",
            "epoch": e.epoch,
            "forecasts": e.forecasts.iter().map(|(f, d)| forecast_json(f, *d)).collect::<Vec<_>>(),
            "hourly": e.hourly.iter().map(|((k, s), d)| hourly_json(k, s, *d)).collect::<Vec<_>>(),
            "status": status_json(&e.status),
        }),
        JobUpdate::Lagged { missed } => json!({ "kind": "lagged", "missed": missed }),
        JobUpdate::Resync(state) => json!({
            "kind": "resync",
            "epoch": state.status.epoch,
            "forecasts": state.forecasts.iter().map(|f| forecast_json(f, 1)).collect::<Vec<_>>(),
            "hourly": state.hourly.iter().map(|(k, s)| hourly_json(k, s, 1)).collect::<Vec<_>>(),
            "status": status_json(&state.status),
        }),
    }
}

/// The online evaluation (the fields of `/v1/evaluation`, zones without names).
pub fn evaluation_json(s: &JobSnapshot) -> Json {
    let e = &s.evaluation;
    let hour = |h: Option<i64>| h.map(|h| format_iso(h * SECS_PER_HOUR));
    let zones: Vec<Json> = e
        .zones
        .iter()
        .map(|(zone, z)| {
            json!({"zone": zone, "forecasts_evaluated": z.forecasts, "mae": z.mae,
                   "baselines": BaselineErrors::from(z)})
        })
        .collect();
    json!({
        "as_of": s.status.watermark.map(format_iso),
        "window_hours": e.window_hours,
        "from_hour": hour(e.from_hour),
        "to_hour": hour(e.to_hour),
        "forecasts_evaluated": e.overall.forecasts,
        "mae": e.overall.mae,
        "baselines": BaselineErrors::from(&e.overall),
        "zones": zones,
    })
}
