//! The hub's checkpoints: every finished epoch in (before and after the hub applies it), a
//! [`Checkpoint`] of the state after the previous epoch out, at most every interval, written
//! by a thread of its own so that the hub never waits on the disk.
//!
//! A checkpoint after epoch `e` is taken when the next finished epoch arrives: that epoch
//! carries the watermark state after `e`, which the restarted dataflow starts from. The
//! checkpointer keeps the hourly aggregates the restarted operators need (every hour still
//! open, and every hour feature rows still read) and every zone seen.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint::state_dir::SharedCheckpointStatus;
use crate::checkpoint::{Checkpoint, CheckpointSettings, StateDir};
use crate::features::FeatureSpec;
use crate::live::{LiveEpoch, LiveState};
use crate::model::watch::ModelHandle;
use crate::resume::Resume;
use crate::sources::acks::AckBoard;
use crate::sources::wal::WalShared;
use crate::time::{hour_of, now_ms};
use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::{WatermarkPolicy, WatermarkState};

/// What a job's checkpoints need to know.
pub struct CheckpointPlan {
    /// Where to write.
    pub dir: Arc<StateDir>,
    /// The job's settings (stored, checked on restart).
    pub settings: CheckpointSettings,
    /// At most one checkpoint per interval.
    pub interval: Duration,
    /// Lateness rules (which hours are still open).
    pub policy: WatermarkPolicy,
    /// Features (how far back rows read).
    pub spec: FeatureSpec,
    /// Target hours kept by the feature operator.
    pub retention_hours: i64,
    /// The version of the model the job started with.
    pub startup_version: String,
    /// That model's file, when it came from the checkpoint the job restarted from (a model
    /// swapped in before the restart, kept in every later checkpoint).
    pub startup_model: Option<Vec<u8>>,
    /// Swapped-in models.
    pub models: Arc<ModelHandle>,
    /// The tail's log (pruned after each checkpoint).
    pub wal: Option<Arc<WalShared>>,
    /// Where outcomes are reported.
    pub status: SharedCheckpointStatus,
    /// Durable rows of `#ack` socket clients.
    pub acks: Option<Arc<AckBoard>>,
}

/// Takes checkpoints from the hub thread.
pub struct Checkpointer {
    plan: CheckpointPlan,
    reach: i64,
    hourly: BTreeMap<ZoneHour, HourlyStats>,
    zones: BTreeSet<u16>,
    last_epoch: Option<u64>,
    last_state: Option<WatermarkState>,
    /// The last applied epoch read no row (the state after it is the state before it).
    last_was_empty: bool,
    /// The `--rejects` file's length after the last applied epoch.
    rejects_len: Option<u64>,
    /// The epoch of the last checkpoint taken.
    taken: Option<u64>,
    last_at: Instant,
    writer: SyncSender<Checkpoint>,
}

impl Checkpointer {
    /// Starts the writer thread; `restored` is the checkpoint the job restarted from.
    pub fn start(plan: CheckpointPlan, restored: Option<&Checkpoint>) -> Self {
        let (writer, requests) = sync_channel::<Checkpoint>(1);
        let (dir, status, wal) = (plan.dir.clone(), plan.status.clone(), plan.wal.clone());
        std::thread::Builder::new()
            .name("zonecast-checkpoint".into())
            .spawn(move || {
                for checkpoint in requests {
                    write(&dir, &checkpoint, &status, wal.as_deref());
                }
            })
            .expect("spawn the checkpoint thread");
        let offsets = plan.spec.offsets();
        let widest = plan.spec.windows().last().copied().unwrap_or(0) as i64;
        let reach = (*offsets.last().unwrap_or(&0) as i64).max(widest);
        let mut checkpointer = Checkpointer {
            plan,
            reach,
            hourly: BTreeMap::new(),
            zones: BTreeSet::new(),
            last_epoch: None,
            last_state: None,
            last_was_empty: false,
            rejects_len: None,
            taken: None,
            last_at: Instant::now(),
            writer,
        };
        if let Some(restored) = restored {
            let resume = &restored.resume;
            checkpointer.rejects_len = restored.rejects_len;
            checkpointer.hourly = resume.hourly.iter().copied().collect();
            checkpointer.zones = resume.zones.iter().copied().collect();
            checkpointer.last_epoch = Some(resume.epoch);
            checkpointer.last_state = Some(resume.before.clone());
            checkpointer.taken = Some(resume.epoch);
        }
        checkpointer
    }

    /// Before the hub applies `epoch`: checkpoints the state after the previous epoch when
    /// one is due (`live` and `event_seq` are that state's).
    pub fn before_apply(
        &mut self,
        epoch: u64,
        update: &LiveEpoch,
        live: &LiveState,
        event_seq: u64,
    ) {
        if self.last_epoch.is_some_and(|last| epoch > last) {
            let after = update.watermark.clone().or_else(|| self.last_state.clone());
            self.take(after, live, event_seq);
        }
    }

    /// With no epoch arriving: checkpoints the state after the last one when it is due and
    /// that epoch read no row (so the state after it is known).
    pub fn when_idle(&mut self, live: &LiveState, event_seq: u64) {
        if self.last_was_empty {
            self.take(self.last_state.clone(), live, event_seq);
        }
    }

    fn take(&mut self, after: Option<WatermarkState>, live: &LiveState, event_seq: u64) {
        let (Some(last), Some(before), Some(after)) =
            (self.last_epoch, self.last_state.clone(), after)
        else {
            return;
        };
        if self.taken == Some(last) || self.last_at.elapsed() < self.plan.interval {
            return;
        }
        self.last_at = Instant::now();
        self.taken = Some(last);
        self.prune(&before);
        let served = live
            .forecast_zones()
            .filter_map(|zone| live.current(zone))
            .map(|(_, f)| f.model_version.to_string())
            .next();
        let (model, pending_model) = models_to_keep(
            served.as_deref(),
            &self.plan.startup_version,
            self.plan.startup_model.clone(),
            self.plan.models.latest_with_version(),
        );
        let checkpoint = Checkpoint {
            settings: self.plan.settings.clone(),
            resume: Resume {
                epoch: last,
                before,
                after,
                hourly: self.hourly.iter().map(|(k, s)| (*k, *s)).collect(),
                zones: self.zones.iter().copied().collect(),
            },
            live: live.to_saved(),
            event_seq,
            acked: self
                .plan
                .acks
                .as_ref()
                .map(|a| a.counts())
                .unwrap_or_default(),
            model,
            pending_model,
            rejects_len: self.rejects_len,
            taken_at_ms: now_ms(),
        };
        match self.writer.try_send(checkpoint) {
            Ok(()) => {}
            // The previous one is still being written: the next interval takes another.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// After the hub applied `epoch`: keeps its aggregates and its watermark state.
    pub fn after_apply(&mut self, epoch: u64, update: &LiveEpoch) {
        update.apply_hourly_to(&mut self.hourly);
        let zones = update.hourly.iter().filter(|(_, d)| *d > 0);
        let zones = zones.map(|((key, _), _)| key.zone);
        self.zones
            .extend(zones.chain(update.forecasts.iter().map(|(f, _)| f.zone)));
        if let Some(state) = &update.watermark {
            self.last_state = Some(state.clone());
        }
        if update.rejects_len.is_some() {
            self.rejects_len = update.rejects_len;
        }
        self.last_was_empty = update.reports.is_empty() && update.hourly.is_empty();
        self.last_epoch = Some(self.last_epoch.map_or(epoch, |e| e.max(epoch)));
    }

    /// Forgets hours that are closed and that no kept feature row reads any more.
    fn prune(&mut self, before: &WatermarkState) {
        let Some(watermark) = before.watermark else {
            return;
        };
        let features_from = hour_of(watermark) - self.plan.retention_hours.max(1) + 1 - self.reach;
        let open_from = self
            .plan
            .policy
            .closed_before(Some(watermark))
            .unwrap_or(i64::MIN);
        let keep_from = features_from.min(open_from);
        self.hourly = self.hourly.split_off(&ZoneHour {
            hour: keep_from,
            zone: 0,
        });
    }
}

/// The model files a checkpoint keeps: the one in use (`None`: the job's starting model)
/// and one offered but not applied yet. `served` is the version the forecasts carry,
/// `latest` the latest offered model.
fn models_to_keep(
    served: Option<&str>,
    startup_version: &str,
    startup_model: Option<Vec<u8>>,
    latest: Option<(String, Arc<Vec<u8>>)>,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    match latest {
        None => (startup_model, None),
        Some((version, bytes)) if served == Some(version.as_str()) => (Some(bytes.to_vec()), None),
        // Offered, not applied yet: the model in use is still the starting one.
        Some((_, bytes)) if served.is_none_or(|s| s == startup_version) => {
            (startup_model, Some(bytes.to_vec()))
        }
        // An older swap serves and a newer one waits; only the newest is kept.
        Some((_, bytes)) => (Some(bytes.to_vec()), None),
    }
}

fn write(
    dir: &StateDir,
    checkpoint: &Checkpoint,
    status: &SharedCheckpointStatus,
    wal: Option<&WalShared>,
) {
    let started = Instant::now();
    let result = dir.write(checkpoint);
    let mut s = status.lock().expect("checkpoint status");
    match result {
        Ok(bytes) => {
            s.epoch = Some(checkpoint.resume.epoch);
            s.taken_at_ms = Some(checkpoint.taken_at_ms);
            s.bytes = bytes;
            s.duration = started.elapsed();
            s.written += 1;
            s.last_error = None;
            drop(s);
            if let Some(wal) = wal {
                wal.checkpointed(checkpoint.resume.epoch);
            }
        }
        Err(error) => {
            tracing::error!(%error, "checkpoint failed; the job keeps running and retries at the next interval");
            s.failed += 1;
            s.last_error = Some(error.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_offered_but_not_applied_is_kept_as_pending() {
        let offered = Some(("v2".to_string(), Arc::new(vec![2u8])));
        let startup = Some(vec![1u8]);
        // Nothing offered: the starting model.
        assert_eq!(
            models_to_keep(Some("v1"), "v1", startup.clone(), None),
            (startup.clone(), None)
        );
        // Offered, the forecasts still carry the starting version: pending.
        assert_eq!(
            models_to_keep(Some("v1"), "v1", startup.clone(), offered.clone()),
            (startup.clone(), Some(vec![2u8]))
        );
        assert_eq!(
            models_to_keep(None, "v1", None, offered.clone()),
            (None, Some(vec![2u8]))
        );
        // Applied: in use.
        assert_eq!(
            models_to_keep(Some("v2"), "v1", startup, offered),
            (Some(vec![2u8]), None)
        );
    }
}
