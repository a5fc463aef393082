//! The hub of a running job: finished epochs from worker 0 in (over an unbounded channel, so
//! the dataflow never waits); the live state, the HTTP snapshots (when the job serves) and
//! every subscriber's updates out, all from this one thread.
//!
//! Epochs queued while the hub was busy are applied together and published once (at least
//! every 100 ms); with nothing arriving it republishes every 250 ms so rates stay current.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::forecast::ZoneForecast;
use crate::jobs::checkpointer::Checkpointer;
use crate::jobs::subscription::{EpochUpdate, JobState, JobStatus, Subscribers, Subscription};
use crate::live::{Evaluation, HistoryHour, LiveEpoch, LiveState, ZonePrediction};
use crate::server::Publisher;
use crate::sources::input_clock::InputClock;
use crate::time::{hour_of, now_ms};
use crate::trip::{HourlyStats, ZoneHour};

/// Hours the snapshot's online evaluation looks back over (as the server's).
const EVALUATION_WINDOW_HOURS: u32 = crate::server::EVALUATION_WINDOW_HOURS;

/// The served state of a job at one epoch, without HTTP.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobSnapshot {
    /// Counters, epoch and watermark.
    pub status: JobStatus,
    /// The current forecast of every zone (the hour in progress), by zone.
    pub predictions: Vec<ZonePrediction>,
    /// Online MAE over the last final hours, next to the baselines.
    pub evaluation: Evaluation,
}

#[derive(Default)]
struct Consolidated {
    /// By (target hour, zone): forgetting old hours splits the map instead of scanning it.
    forecasts: BTreeMap<(i64, u16), ZoneForecast>,
    hourly: BTreeMap<ZoneHour, HourlyStats>,
    status: JobStatus,
    subscribers: Subscribers,
    finished: bool,
    kept_from: i64,
}

impl Consolidated {
    fn apply(&mut self, update: &LiveEpoch) {
        for (forecast, _) in update.forecasts.iter().filter(|(_, d)| *d < 0) {
            let key = (forecast.target_hour, forecast.zone);
            if self.forecasts.get(&key) == Some(forecast) {
                self.forecasts.remove(&key);
            }
        }
        for (forecast, _) in update.forecasts.iter().filter(|(_, d)| *d > 0) {
            let key = (forecast.target_hour, forecast.zone);
            self.forecasts.insert(key, forecast.clone());
        }
        update.apply_hourly_to(&mut self.hourly);
    }

    /// Forgets what lies more than `hours` behind the watermark's hour.
    fn prune(&mut self, hours: i64) {
        if let Some(watermark) = self.status.watermark {
            let keep_from = hour_of(watermark) - hours;
            if keep_from <= self.kept_from {
                return;
            }
            self.kept_from = keep_from;
            self.forecasts = self.forecasts.split_off(&(keep_from, 0));
            self.hourly = self.hourly.split_off(&ZoneHour {
                hour: keep_from,
                zone: 0,
            });
        }
    }
}

fn state_of(
    forecasts: &BTreeMap<(i64, u16), ZoneForecast>,
    hourly: &BTreeMap<ZoneHour, HourlyStats>,
    status: &JobStatus,
) -> Arc<JobState> {
    let mut sorted: Vec<ZoneForecast> = forecasts.values().cloned().collect();
    sorted.sort();
    Arc::new(JobState {
        forecasts: sorted,
        hourly: hourly.iter().map(|(k, s)| (*k, *s)).collect(),
        status: status.clone(),
    })
}

/// What the handle and the hub thread share.
pub struct HubShared {
    live: Arc<RwLock<LiveState>>,
    consolidated: Mutex<Consolidated>,
    done_epoch: Arc<AtomicU64>,
    retention: Option<i64>,
    clock: Arc<InputClock>,
    checkpointer: Mutex<Option<Checkpointer>>,
    /// The restore epoch of a restarted job (`u64::MAX`: none): applied to the subscribers'
    /// view only, as the live state already holds it.
    restored: AtomicU64,
}

impl HubShared {
    /// A hub over `live` (the state the server, if any, reads too). `retention`: hours behind
    /// the watermark that subscribers' state keeps (`None`: everything).
    pub fn new(live: Arc<RwLock<LiveState>>, retention: Option<i64>) -> Arc<Self> {
        Arc::new(HubShared {
            live,
            consolidated: Mutex::default(),
            done_epoch: Arc::new(AtomicU64::new(u64::MAX)),
            retention,
            clock: InputClock::new(),
            checkpointer: Mutex::new(None),
            restored: AtomicU64::new(u64::MAX),
        })
    }

    /// Takes checkpoints with `checkpointer` from now on; `restored`: the epoch the job
    /// restarted from (its live state already holds it).
    pub fn checkpoint_with(&self, checkpointer: Checkpointer, restored: Option<u64>) {
        *self.checkpointer.lock().expect("checkpointer") = Some(checkpointer);
        self.restored
            .store(restored.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// What the feeds have handed out and the hub not yet applied (give it to the source).
    pub fn input_clock(&self) -> &Arc<InputClock> {
        &self.clock
    }

    /// The live state (shared with the HTTP server).
    pub fn live(&self) -> &Arc<RwLock<LiveState>> {
        &self.live
    }

    /// The marker the job's source lowers once every input epoch is known (give it to the
    /// prepared source as its `done_epoch`).
    pub fn done_epoch(&self) -> &Arc<AtomicU64> {
        &self.done_epoch
    }

    /// A new subscription starting from the current state.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let mut consolidated = self.consolidated.lock().expect("hub");
        let c = &*consolidated;
        let state = state_of(&c.forecasts, &c.hourly, &c.status);
        let finished = consolidated.finished;
        let subscription = consolidated.subscribers.add(capacity, state);
        if finished {
            consolidated.subscribers.close();
        }
        subscription
    }

    /// The served state now.
    pub fn snapshot(&self) -> JobSnapshot {
        let live = self.live.read().expect("live state");
        JobSnapshot {
            status: self.status_of(&live),
            predictions: live.predictions(),
            evaluation: Evaluation::compute(&live, EVALUATION_WINDOW_HOURS),
        }
    }

    /// The last `hours` hours of `zone`: actuals beside the forecasts served for them.
    pub fn history(&self, zone: u16, hours: u32) -> Vec<HistoryHour> {
        self.live.read().expect("live state").history(zone, hours)
    }

    fn status_of(&self, live: &LiveState) -> JobStatus {
        let c = &live.counters;
        JobStatus {
            epoch: (c.epochs > 0).then_some(live.epoch),
            watermark: live.watermark,
            rows_read: c.rows_read,
            accepted: c.accepted,
            rejected_by_reason: c.rejected_by_reason.clone(),
            late: c.late,
            input_finished: c.epochs > 0
                && live.epoch + 1 >= self.done_epoch.load(Ordering::SeqCst),
        }
    }

    fn apply(&self, epoch: u64, update: LiveEpoch, publisher: Option<&mut Publisher>) {
        let mut checkpointer = self.checkpointer.lock().expect("checkpointer");
        if let Some(checkpointer) = checkpointer.as_mut() {
            let seq = publisher.as_ref().map_or(0, |p| p.event_seq());
            let live = self.live.read().expect("live state");
            checkpointer.before_apply(epoch, &update, &live, seq);
            drop(live);
            checkpointer.after_apply(epoch, &update);
        }
        drop(checkpointer);
        let restored = epoch == self.restored.load(Ordering::SeqCst);
        let mut guard = self.consolidated.lock().expect("hub");
        let c = &mut *guard;
        c.apply(&update);
        // The changes are copied only for subscribers with room for them.
        let offered = c.subscribers.any_room();
        if !offered {
            c.subscribers.skip();
        }
        let changes = offered.then(|| (update.forecasts.clone(), update.hourly.clone()));
        match publisher {
            _ if restored => {}
            Some(publisher) => publisher.apply(epoch, update),
            None => {
                let mut live = self.live.write().expect("live state");
                live.apply(epoch, update, now_ms());
            }
        }
        self.clock.reflected(epoch);
        c.status = self.status_of(&self.live.read().expect("live state"));
        if let Some(hours) = self.retention {
            c.prune(hours);
        }
        let Some((forecasts, hourly)) = changes else {
            return;
        };
        let update = Arc::new(EpochUpdate {
            epoch,
            forecasts,
            hourly,
            status: c.status.clone(),
        });
        let Consolidated {
            forecasts,
            hourly,
            status,
            subscribers,
            ..
        } = c;
        subscribers.send(update, || state_of(forecasts, hourly, status));
    }

    /// No epoch arrived for a while: a due checkpoint may still be taken.
    fn idle(&self, publisher: Option<&Publisher>) {
        let mut checkpointer = self.checkpointer.lock().expect("checkpointer");
        if let Some(checkpointer) = checkpointer.as_mut() {
            let seq = publisher.map_or(0, |p| p.event_seq());
            checkpointer.when_idle(&self.live.read().expect("live state"), seq);
        }
    }

    fn finish(&self) {
        let mut consolidated = self.consolidated.lock().expect("hub");
        consolidated.finished = true;
        consolidated.subscribers.close();
    }
}

/// Runs the hub on its own thread until every sender of `epochs` is gone.
pub fn spawn_hub(
    shared: Arc<HubShared>,
    mut publisher: Option<Publisher>,
    epochs: Receiver<(u64, LiveEpoch)>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("zonecast-hub".into())
        .spawn(move || {
            loop {
                match epochs.recv_timeout(Duration::from_millis(250)) {
                    Ok((epoch, update)) => {
                        let started = Instant::now();
                        shared.apply(epoch, update, publisher.as_mut());
                        while started.elapsed() < Duration::from_millis(100) {
                            match epochs.try_recv() {
                                Ok((epoch, update)) => {
                                    shared.apply(epoch, update, publisher.as_mut())
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => shared.idle(publisher.as_ref()),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if let Some(publisher) = publisher.as_mut() {
                    publisher.publish();
                }
            }
            if let Some(publisher) = publisher.as_mut() {
                publisher.publish();
            }
            shared.finish();
        })
        .expect("spawn the hub thread")
}
