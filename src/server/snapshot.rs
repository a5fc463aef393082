//! Pre-serialised snapshots: the live state after a finished epoch in, immutable JSON bodies
//! for every read-mostly endpoint out. Handlers only clone `Bytes` out of the current
//! snapshot, so a reader never sees a half-applied epoch and never blocks the publisher.

use bytes::Bytes;

use std::sync::Arc;

use crate::live::{Counters, LiveState, ZoneDirectory};
use crate::time::format_iso;

use super::api::Prediction;

/// Everything the read endpoints answer, as of one epoch.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The last epoch applied.
    pub epoch: u64,
    /// The watermark as text (`X-Zonecast-As-Of`).
    pub as_of: Option<String>,
    /// Per zone (index = zone id): its current prediction's JSON.
    pub zones: Vec<Option<Bytes>>,
    /// Zone names and boroughs (for `?borough=`).
    pub directory: Arc<ZoneDirectory>,
    /// `GET /v1/predictions` without a filter.
    pub list: Bytes,
    /// `GET /v1/status`.
    pub status: Bytes,
    /// `GET /v1/evaluation`.
    pub evaluation: Bytes,
    /// Forecasts are being served.
    pub ready: bool,
    /// Counters for `/metrics`.
    pub counters: Counters,
    /// Seconds from the watermark to the latest pickup seen.
    pub watermark_lag_seconds: Option<i64>,
    /// The watermark (naive seconds).
    pub watermark: Option<i64>,
    /// Held forecasts.
    pub forecast_count: usize,
    /// Recent rows read per second.
    pub events_per_second: f64,
    /// The serving model's version.
    pub model_version: String,
    /// Online MAE over the last 24 final hours.
    pub mae: Option<f64>,
}

/// The JSON of one prediction.
pub fn prediction_json(state: &LiveState, zone: u16, target: i64) -> Option<Bytes> {
    let body = Prediction::of(state.prediction(zone, target)?);
    Some(Bytes::from(
        serde_json::to_vec(&body).expect("prediction serialises"),
    ))
}

/// The list body for `fragments` (already filtered, sorted by zone).
pub fn list_json<'a>(
    epoch: u64,
    as_of: Option<&str>,
    fragments: impl Iterator<Item = &'a Bytes>,
) -> Bytes {
    let mut body = Vec::with_capacity(64 * 1024);
    body.extend_from_slice(b"{\"epoch\":");
    body.extend_from_slice(epoch.to_string().as_bytes());
    body.extend_from_slice(b",\"as_of\":");
    body.extend_from_slice(serde_json::to_string(&as_of).expect("text").as_bytes());
    let mut count = 0usize;
    let mut items = Vec::with_capacity(64 * 1024);
    for fragment in fragments {
        if count > 0 {
            items.push(b',');
        }
        items.extend_from_slice(fragment);
        count += 1;
    }
    body.extend_from_slice(b",\"count\":");
    body.extend_from_slice(count.to_string().as_bytes());
    body.extend_from_slice(b",\"predictions\":[");
    body.extend_from_slice(&items);
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}

impl Snapshot {
    /// The list body restricted to `borough` (case-insensitive).
    pub fn list_for_borough(&self, borough: &str) -> Bytes {
        let fragments = self
            .zones
            .iter()
            .enumerate()
            .filter(|(zone, _)| self.directory.in_borough(*zone as u16, borough))
            .filter_map(|(_, json)| json.as_ref());
        list_json(self.epoch, self.as_of.as_deref(), fragments)
    }

    /// The watermark text of `state`.
    pub fn as_of_of(state: &LiveState) -> Option<String> {
        state.watermark.map(format_iso)
    }
}
