//! One function per endpoint: parsed parameters and the shared state in, a complete HTTP
//! response out. Read endpoints answer from the current snapshot (cloning bytes); only the
//! history query reads the live state under a short read lock.

use std::collections::HashMap;

use bytes::Bytes;
use warp::http::{header, Response, StatusCode};

use crate::model::ModelFile;

use super::api::{ErrorBody, History, HistoryHourBody, ModelAccepted};
use super::metrics::{render, JobGauges};
use super::snapshot::Snapshot;
use super::ServerState;

/// The longest history a request may ask for (four weeks).
pub const MAX_HISTORY_HOURS: u32 = 672;
/// History hours when `?hours=` is absent.
pub const DEFAULT_HISTORY_HOURS: u32 = 48;

/// A response with `body` of `content_type`.
pub fn bytes_response(status: StatusCode, content_type: &str, body: Bytes) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .expect("valid response")
}

/// A JSON response stamped with the snapshot's epoch and watermark.
fn snapshot_json(snapshot: &Snapshot, body: Bytes) -> Response<Bytes> {
    let mut response = bytes_response(StatusCode::OK, "application/json", body);
    let headers = response.headers_mut();
    headers.insert("x-zonecast-epoch", snapshot.epoch.into());
    if let Ok(value) = snapshot.as_of.clone().unwrap_or_default().parse() {
        headers.insert("x-zonecast-as-of", value);
    }
    response
}

/// A JSON error: `{"error": code, "message": ...}`.
pub fn error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response<Bytes> {
    let body = ErrorBody {
        error: code,
        message: message.into(),
    };
    bytes_response(
        status,
        "application/json",
        Bytes::from(serde_json::to_vec(&body).expect("error")),
    )
}

/// Parses a zone path segment: 400 when malformed, 404 when not a TLC zone.
fn parse_zone(text: &str) -> Result<u16, Box<Response<Bytes>>> {
    let zone: u16 = text.parse().map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("zone must be a TLC zone id (an integer 1..=265), not {text:?}"),
        ))
    })?;
    if !crate::live::zones::is_tlc_zone(zone) {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("zone {zone} is not a TLC zone: ids run from 1 to 265"),
        )));
    }
    Ok(zone)
}

/// `GET /v1/predictions[?borough=]`.
pub fn predictions(state: &ServerState, query: &HashMap<String, String>) -> Response<Bytes> {
    let snapshot = state.snapshot.load();
    let body = match query.get("borough") {
        Some(borough) => snapshot.list_for_borough(borough),
        None => snapshot.list.clone(),
    };
    snapshot_json(&snapshot, body)
}

/// `GET /v1/predictions/{zone}`.
pub fn prediction(state: &ServerState, zone: &str) -> Response<Bytes> {
    let zone = match parse_zone(zone) {
        Ok(zone) => zone,
        Err(response) => return *response,
    };
    let snapshot = state.snapshot.load();
    match snapshot.zones.get(zone as usize).and_then(Option::as_ref) {
        Some(body) => snapshot_json(&snapshot, body.clone()),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no forecast for zone {zone} yet: the zone has had no trips in the data so far"
            ),
        ),
    }
}

/// `GET /v1/zones/{zone}/history?hours=N`.
pub fn history(
    state: &ServerState,
    zone: &str,
    query: &HashMap<String, String>,
) -> Response<Bytes> {
    let zone = match parse_zone(zone) {
        Ok(zone) => zone,
        Err(response) => return *response,
    };
    let hours = match query.get("hours").map(|h| h.parse::<u32>()) {
        None => DEFAULT_HISTORY_HOURS,
        Some(Ok(h)) if (1..=MAX_HISTORY_HOURS).contains(&h) => h,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("hours must be an integer from 1 to {MAX_HISTORY_HOURS}"),
            )
        }
    };
    let snapshot = state.snapshot.load();
    let body = {
        let live = state.live.read().expect("live state");
        History {
            zone,
            zone_name: live.zones.name(zone),
            borough: live.zones.borough(zone),
            as_of: Snapshot::as_of_of(&live),
            hours: live
                .history(zone, hours)
                .iter()
                .map(HistoryHourBody::from)
                .collect(),
        }
    };
    snapshot_json(
        &snapshot,
        Bytes::from(serde_json::to_vec(&body).expect("history")),
    )
}

/// `GET /v1/evaluation`.
pub fn evaluation(state: &ServerState) -> Response<Bytes> {
    let snapshot = state.snapshot.load();
    snapshot_json(&snapshot, snapshot.evaluation.clone())
}

/// `GET /v1/status`.
pub fn status(state: &ServerState) -> Response<Bytes> {
    let snapshot = state.snapshot.load();
    snapshot_json(&snapshot, snapshot.status.clone())
}

/// `GET /healthz`: the process answers.
pub fn healthz() -> Response<Bytes> {
    bytes_response(
        StatusCode::OK,
        "application/json",
        Bytes::from_static(b"{\"status\":\"ok\"}"),
    )
}

/// `GET /readyz`: forecasts are being served.
pub fn readyz(state: &ServerState) -> Response<Bytes> {
    if state.snapshot.load().ready {
        bytes_response(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(b"{\"status\":\"ready\"}"),
        )
    } else {
        bytes_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            Bytes::from_static(b"{\"status\":\"starting\"}"),
        )
    }
}

/// `GET /metrics`.
pub fn metrics(state: &ServerState) -> Response<Bytes> {
    let snapshot = state.snapshot.load();
    let gauges = JobGauges {
        aggregate_keys: state
            .aggregate_keys
            .load(std::sync::atomic::Ordering::Relaxed),
        sse_clients: state.sse_clients.load(std::sync::atomic::Ordering::Relaxed),
        models_rejected: state.model_handle.as_ref().map_or(0, |h| h.rejected()),
        model_errors: state
            .model_handle
            .as_ref()
            .map_or(0, |h| h.scoring_errors()),
        staleness_seconds: state.staleness_seconds(),
        event_time_lag_seconds: state.event_time_lag_seconds(),
        model_kind: state.model_kind.read().expect("model kind").clone(),
        rejects_log: state
            .rejects_log
            .as_ref()
            .map(|h| (h.written(), h.lost(), h.failing())),
        checkpoint: state.checkpoint_status(),
    };
    bytes_response(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        Bytes::from(render(&snapshot, &state.http, &gauges)),
    )
}

/// `GET /openapi.json`.
pub fn openapi() -> Response<Bytes> {
    bytes_response(
        StatusCode::OK,
        "application/json",
        Bytes::from_static(super::OPENAPI_JSON.as_bytes()),
    )
}

/// `GET /`.
pub fn dashboard() -> Response<Bytes> {
    bytes_response(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from_static(super::DASHBOARD_HTML.as_bytes()),
    )
}

/// Constant-time comparison (the token is a secret).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /v1/admin/model`: a model file's bytes. The route has already checked the token
/// (before reading the body), so `state.admin` is set.
pub fn admin_model(state: &ServerState, body: &[u8]) -> Response<Bytes> {
    let Some(admin) = state.admin.as_ref() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "admin request reached the handler without admin access configured",
        );
    };
    let model = ModelFile::from_bytes(body, std::path::Path::new("(uploaded model)"))
        .and_then(|model| model.check_spec(&admin.spec).map(|_| model));
    match model {
        Ok(model) => {
            tracing::info!(version = %model.version, "model uploaded over HTTP");
            admin.handle.offer(&model);
            let body = ModelAccepted {
                accepted: true,
                model_version: model.version.clone(),
                applies: "at the next epoch",
            };
            bytes_response(
                StatusCode::ACCEPTED,
                "application/json",
                Bytes::from(serde_json::to_vec(&body).expect("accepted")),
            )
        }
        Err(e) => {
            admin.handle.reject(&e);
            error(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
        }
    }
}
