//! The publisher: finished epochs in (from worker 0, over a channel), a new [`Snapshot`] and
//! the matching Server-Sent Events out.
//!
//! Driven by the job's hub thread (`jobs::hub`): epochs queued while it was busy are applied
//! together and published once, so a slow publish never holds the dataflow back. Events for an
//! epoch are sent after its snapshot is visible, so a client that reacts to an event by
//! fetching sees at least that epoch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::live::{Evaluation, LiveEpoch, LiveState};
use crate::time::{format_utc_ms, now_ms};

use super::api::{EvaluationBody, Status, StreamStatus};
use super::snapshot::{list_json, prediction_json, Snapshot};
use super::{ServerState, SseMessage};

/// Forecast events kept for clients that reconnect with `Last-Event-ID`.
pub const REPLAY_EVENTS: usize = 8192;

/// Hours the online evaluation looks back over.
pub const EVALUATION_WINDOW_HOURS: u32 = 24;

/// Applies epochs to the shared live state and publishes snapshots.
pub struct Publisher {
    state: Arc<ServerState>,
    zones_json: Vec<Option<Bytes>>,
    seq: u64,
    rates: VecDeque<(Instant, u64)>,
    last_status_event: Option<Instant>,
    evaluated_at: Option<Option<i64>>,
    evaluation_json: Bytes,
    mae: Option<f64>,
    events: Vec<Arc<SseMessage>>,
    model_version: String,
}

impl Publisher {
    /// A publisher for `state` (whose live state may already hold data, e.g. from a database);
    /// publishes a first snapshot at once.
    pub fn new(state: Arc<ServerState>) -> Self {
        let zones = crate::live::zones::MAX_ZONE as usize + 1;
        let model_version = state.snapshot.load().model_version.clone();
        let first_id = state.event_id_base;
        let mut publisher = Publisher {
            state,
            zones_json: vec![None; zones],
            seq: first_id,
            rates: VecDeque::new(),
            last_status_event: None,
            evaluated_at: None,
            evaluation_json: Bytes::new(),
            mae: None,
            events: Vec::new(),
            model_version,
        };
        publisher.render_all_zones();
        publisher.publish();
        publisher
    }

    fn render_zone(&mut self, live: &LiveState, zone: u16) {
        let current = live.current(zone).map(|(t, _)| t);
        self.zones_json[zone as usize] = current.and_then(|t| prediction_json(live, zone, t));
    }

    fn render_all_zones(&mut self) {
        let state = self.state.clone();
        let live = state.live.read().expect("live state");
        let zones: Vec<u16> = live.forecast_zones().collect();
        for zone in zones {
            self.render_zone(&live, zone);
        }
    }

    /// Replaces the whole live state (e.g. a newer database run) and publishes it; stream
    /// clients get a `resync` event.
    pub fn replace(&mut self, live: LiveState, model_version: &str, model_kind: &str) {
        *self.state.live.write().expect("live state") = live;
        *self.state.model_kind.write().expect("model kind") = model_kind.to_string();
        self.model_version = model_version.to_string();
        self.zones_json.iter_mut().for_each(|z| *z = None);
        self.evaluated_at = None;
        self.render_all_zones();
        self.publish();
        let _ = self.state.events.send(Arc::new(SseMessage {
            kind: "resync",
            id: None,
            data: "{\"reason\":\"reloaded\"}".to_string(),
        }));
    }

    /// The id of the last event handed out (a checkpoint keeps it).
    pub fn event_seq(&self) -> u64 {
        self.seq
    }

    /// Applies one finished epoch (not yet visible: see [`Publisher::publish`]).
    pub fn apply(&mut self, epoch: u64, update: LiveEpoch) {
        let state = self.state.clone();
        let mut live = state.live.write().expect("live state");
        let applied = live.apply(epoch, update, now_ms());
        // Zones whose current prediction changed get its JSON straight from their event;
        // only zones whose last actual changed alone are rendered again.
        let mut rendered: Vec<u16> = Vec::new();
        for &(zone, target) in &applied.forecasts {
            let Some(json) = prediction_json(&live, zone, target) else {
                continue;
            };
            if let Some(f) = live.forecast(zone, target) {
                if *f.model_version != *self.model_version {
                    self.model_version = f.model_version.to_string();
                    // A swapped-in model names its own kind from the epoch it serves.
                    let swapped = state.model_handle.as_ref();
                    if let Some(kind) = swapped.and_then(|h| h.kind_of(&self.model_version)) {
                        *state.model_kind.write().expect("model kind") = kind.to_string();
                    }
                }
            }
            if live.current(zone).is_some_and(|(t, _)| t == target) {
                self.zones_json[zone as usize] = Some(json.clone());
                rendered.push(zone);
            }
            self.seq += 1;
            self.events.push(Arc::new(SseMessage {
                kind: "forecast",
                id: Some(self.seq),
                data: String::from_utf8(json.to_vec()).expect("JSON is UTF-8"),
            }));
        }
        rendered.sort_unstable();
        let mut rerender: Vec<u16> = applied
            .actuals
            .iter()
            .filter(|&&(zone, hour)| live.current(zone).is_some_and(|(t, _)| t == hour + 1))
            .map(|&(zone, _)| zone)
            .filter(|zone| rendered.binary_search(zone).is_err())
            .collect();
        rerender.sort_unstable();
        rerender.dedup();
        for zone in rerender {
            self.render_zone(&live, zone);
        }
    }

    fn events_per_second(&mut self, rows_read: u64) -> f64 {
        let now = Instant::now();
        self.rates.push_back((now, rows_read));
        while self.rates.len() > 2 && now - self.rates[0].0 > Duration::from_secs(5) {
            self.rates.pop_front();
        }
        let (t0, r0) = self.rates[0];
        let elapsed = (now - t0).as_secs_f64();
        if elapsed < 0.2 {
            return 0.0;
        }
        (rows_read - r0) as f64 / elapsed
    }

    /// Recomputes the online evaluation (hours before `closed` are final) and publishes it in
    /// a copy of the current snapshot.
    fn evaluate(&mut self, closed: Option<i64>) {
        let state = self.state.clone();
        let live = state.live.read().expect("live state");
        let evaluation = Evaluation::compute(&live, EVALUATION_WINDOW_HOURS);
        self.mae = evaluation.overall.mae;
        let body = EvaluationBody::of(&live, &evaluation);
        drop(live);
        self.evaluation_json = Bytes::from(serde_json::to_vec(&body).expect("evaluation"));
        self.evaluated_at = Some(closed);
        let mut snapshot = Snapshot::clone(&state.snapshot.load());
        snapshot.evaluation = self.evaluation_json.clone();
        snapshot.mae = self.mae;
        state.snapshot.store(Arc::new(snapshot));
    }

    /// Makes everything applied so far visible: a new snapshot, then the queued events.
    pub fn publish(&mut self) {
        let state = self.state.clone();
        let live = state.live.read().expect("live state");
        // The evaluation changes once an hour; it is computed after the events go out, so the
        // hour turn's events do not wait for it.
        let closed = live.closed_before();
        let evaluate = self.evaluated_at != Some(closed);
        let counters = live.counters.clone();
        let events_per_second = self.events_per_second(counters.rows_read);
        let as_of = Snapshot::as_of_of(&live);
        let ready = live.forecast_zones().next().is_some();
        let handle = state.model_handle.as_ref();
        let model_kind = state.model_kind.read().expect("model kind").clone();
        let status = Status {
            epoch: live.epoch,
            as_of: as_of.clone(),
            model_version: self.model_version.clone(),
            model_kind,
            rows_read: counters.rows_read,
            accepted: counters.accepted,
            rejected: counters.rejected(),
            late: counters.late,
            rejected_by_reason: counters.rejected_by_reason.clone(),
            events_per_second,
            zones: live.forecast_zones().count() as u64,
            forecasts_updated: counters.forecasts_updated,
            forecasts_corrected: counters.forecasts_corrected,
            input_finished: live.epoch
                >= state
                    .input_done_epoch
                    .load(std::sync::atomic::Ordering::SeqCst),
            ready,
            started_at: format_utc_ms(state.started_ms),
            uptime_seconds: (now_ms() - state.started_ms) as f64 / 1000.0,
            model_swaps_rejected: handle.map_or(0, |h| h.rejected()),
            last_model_error: handle.and_then(|h| h.last_error()),
            model_errors: handle.map_or(0, |h| h.scoring_errors()),
            staleness_seconds: state.staleness_seconds(),
            event_time_lag_seconds: state.event_time_lag_seconds(),
            rejects_log: state.rejects_log_status(),
            checkpoint: state.checkpoint_status(),
        };
        let snapshot = Snapshot {
            epoch: live.epoch,
            as_of: as_of.clone(),
            zones: self.zones_json.clone(),
            directory: live.zones.clone(),
            list: list_json(
                live.epoch,
                as_of.as_deref(),
                self.zones_json.iter().flatten(),
            ),
            status: Bytes::from(serde_json::to_vec(&status).expect("status")),
            evaluation: self.evaluation_json.clone(),
            ready,
            counters,
            watermark_lag_seconds: live
                .watermark
                .zip(live.latest_pickup)
                .map(|(w, l)| (l - w).max(0)),
            watermark: live.watermark,
            forecast_count: live.forecast_count(),
            events_per_second,
            model_version: self.model_version.clone(),
            mae: self.mae,
        };
        drop(live);
        self.state.snapshot.store(Arc::new(snapshot));
        if !self.events.is_empty() {
            let mut recent = self.state.recent.lock().expect("recent events");
            for event in &self.events {
                if recent.len() == REPLAY_EVENTS {
                    recent.pop_front();
                }
                recent.push_back(event.clone());
            }
        }
        for event in self.events.drain(..) {
            let _ = self.state.events.send(event);
        }
        if evaluate {
            self.evaluate(closed);
        }
        let due = self
            .last_status_event
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(250));
        if due {
            self.last_status_event = Some(Instant::now());
            let status = StreamStatus {
                epoch: status.epoch,
                as_of: status.as_of,
                events_per_second,
                rows_read: status.rows_read,
                accepted: status.accepted,
                rejected: status.rejected,
                late: status.late,
                mae: self.mae,
            };
            let _ = self.state.events.send(Arc::new(SseMessage {
                kind: "status",
                id: None,
                data: serde_json::to_string(&status).expect("status"),
            }));
        }
    }
}
