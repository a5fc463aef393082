//! Hot swap under a running dataflow: a new model replaces the old one at one epoch on every
//! worker, every current forecast is rescored with the new version, and no update is lost; a
//! corrupt or mismatched file is rejected and the old model keeps serving.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zonecast::dataflows::forecast::{build, ForecastPolicy, ForecastSinks};
use zonecast::features::FeatureSpec;
use zonecast::forecast::ZoneForecast;
use zonecast::model::watch::{ModelHandle, ModelWatcher};
use zonecast::model::{Baseline, ModelFile};
use zonecast::runtime::{run_to_completion, Cluster};
use zonecast::sources::memory::MemoryFeed;
use zonecast::sources::{Batch, FeedPoll, TripFeed};
use zonecast::time::Span;
use zonecast::trip::{RowPos, Trip};
use zonecast::watermark::WatermarkPolicy;

type Updates = Arc<Mutex<BTreeMap<u64, Vec<(ZoneForecast, isize)>>>>;

/// Target hours kept (and rescored) behind the latest target.
const RETENTION: i64 = 48;

/// Releases one epoch every `gap`, so the test can act while the dataflow runs.
struct SlowFeed {
    inner: MemoryFeed,
    gap: Duration,
    next: Instant,
}

impl TripFeed for SlowFeed {
    fn poll(&mut self) -> FeedPoll {
        let now = Instant::now();
        if now < self.next {
            return FeedPoll::Pending(self.next - now);
        }
        self.next = now + self.gap;
        self.inner.poll()
    }
}

fn spec() -> FeatureSpec {
    FeatureSpec::new(vec![1, 2], 0)
}

fn batches() -> Vec<Batch> {
    let base = zonecast::time::days_from_civil(2024, 2, 1) * 86_400;
    (0..120)
        .map(|i| {
            let trips: Vec<(Trip, RowPos)> = (0..9)
                .map(|k| {
                    let pickup = base + i * 1200 + k * 100;
                    let trip = Trip {
                        pickup,
                        zone: 1 + (k % 3) as u16,
                        distance: None,
                        fare: None,
                        total: None,
                    };
                    (
                        trip,
                        RowPos {
                            source: 0,
                            line: (i * 9 + k) as u64,
                        },
                    )
                })
                .collect();
            Batch {
                rows_read: trips.len() as u64,
                trips,
                rejects: vec![],
            }
        })
        .collect()
}

fn run(model: ModelFile, handle: Option<Arc<ModelHandle>>, gap: Duration) -> Updates {
    let updates: Updates = Arc::default();
    let (sink, batches, model) = (updates.clone(), Arc::new(batches()), Arc::new(model));
    let policy = ForecastPolicy {
        watermark: WatermarkPolicy {
            allowed_lateness: Span::from_secs(86_400),
            max_ahead: Span::from_secs(86_400),
            min_support: 1,
        },
        spec: spec(),
        retention_hours: RETENTION,
    };
    Cluster::threads(2)
        .execute(move |worker| {
            let inner = MemoryFeed::new(batches.clone(), worker.index(), worker.peers());
            let feed = Box::new(SlowFeed {
                inner,
                gap,
                next: Instant::now(),
            });
            let sink = sink.clone();
            let sinks = ForecastSinks {
                features: None,
                forecasts: Some(Box::new(move |e, u| {
                    sink.lock().unwrap().insert(e, u);
                })),
                report: Default::default(),
            };
            let (policy, model, handle) = (policy.clone(), model.clone(), handle.clone());
            worker.dataflow::<u64, _, _>(|scope| {
                build(scope, feed, &policy, model, handle, sinks);
            });
            run_to_completion(worker);
        })
        .unwrap();
    updates
}

fn accumulate(
    updates: &BTreeMap<u64, Vec<(ZoneForecast, isize)>>,
    through: u64,
) -> BTreeMap<ZoneForecast, isize> {
    let mut total = BTreeMap::new();
    for (_, epoch) in updates.range(..=through) {
        for (f, d) in epoch {
            *total.entry(f.clone()).or_insert(0) += d;
        }
    }
    total.retain(|_, d| *d != 0);
    total
}

#[test]
fn hot_swap_switches_every_forecast_at_one_epoch_and_loses_no_update() {
    let old = ModelFile::baseline(Baseline::PreviousHour, spec());
    let new = ModelFile::baseline(Baseline::SameHourLastWeek, spec());
    assert_ne!(old.version, new.version);
    let handle = ModelHandle::new();
    let offer = {
        let (handle, new) = (handle.clone(), new.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            handle.offer(&new);
        })
    };
    let updates = run(old.clone(), Some(handle), Duration::from_millis(8));
    offer.join().unwrap();
    let updates = updates.lock().unwrap();
    let swap = *updates
        .iter()
        .find(|(_, u)| {
            u.iter()
                .any(|(f, d)| *d > 0 && *f.model_version == new.version)
        })
        .expect("the new model was applied")
        .0;
    let last = *updates.keys().last().unwrap();
    assert!(
        swap > 0 && swap < last,
        "swap at {swap} of {last}: not mid-run"
    );
    for (epoch, u) in updates.range(..swap) {
        assert!(
            u.iter().all(|(f, _)| *f.model_version == old.version),
            "epoch {epoch} before the swap has new forecasts"
        );
    }
    let before = accumulate(&updates, swap - 1);
    let after = accumulate(&updates, swap);
    assert!(!before.is_empty());
    // Forecasts within the retention window at the swap are all rescored; older ones are final.
    let window = after.keys().map(|f| f.target_hour).max().unwrap() - RETENTION + 1;
    let current = |state: &BTreeMap<ZoneForecast, isize>| -> BTreeMap<ZoneForecast, isize> {
        state
            .iter()
            .filter(|(f, _)| f.target_hour >= window)
            .map(|(f, d)| (f.clone(), *d))
            .collect()
    };
    let stale: Vec<_> = current(&after)
        .into_keys()
        .filter(|f| *f.model_version != new.version)
        .collect();
    assert!(
        stale.is_empty(),
        "forecasts kept the old version after the swap at {swap}: {stale:?}"
    );
    for f in current(&before).keys() {
        assert!(
            after
                .keys()
                .any(|g| (g.zone, g.target_hour, &*g.model_version)
                    == (f.zone, f.target_hour, new.version.as_str())),
            "{f:?} lost in the swap"
        );
    }
    for (epoch, u) in updates.range(swap + 1..) {
        assert!(
            u.iter()
                .all(|(f, d)| *d < 0 || *f.model_version == new.version),
            "epoch {epoch} after the swap scored with the old model"
        );
    }
    // No update lost: the current forecasts equal running the new model from the start.
    let final_state = current(&accumulate(&updates, last));
    let reference = run(new, None, Duration::ZERO);
    let reference = reference.lock().unwrap();
    assert_eq!(
        final_state,
        current(&accumulate(&reference, *reference.keys().last().unwrap()))
    );
}

#[test]
fn watcher_rejects_bad_files_and_offers_good_ones() {
    let dir = common::Scratch::new();
    let path = dir.path("model.bin");
    ModelFile::baseline(Baseline::PreviousHour, spec())
        .save(&path)
        .unwrap();
    let handle = ModelHandle::new();
    let _watcher = ModelWatcher::start(
        path.clone(),
        spec(),
        handle.clone(),
        Duration::from_millis(20),
    );
    let wait_for = |done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "watcher did not react"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    std::thread::sleep(Duration::from_millis(60));
    std::fs::write(&path, b"garbage that is not a model").unwrap();
    wait_for(&|| handle.rejected() == 1);
    assert!(handle.last_error().unwrap().contains("train a model"));
    assert_eq!(handle.generation(), 0);
    ModelFile::baseline(Baseline::FourWeekMean, FeatureSpec::new(vec![1, 3], 0))
        .save(&path)
        .unwrap();
    wait_for(&|| handle.rejected() == 2);
    assert!(
        handle.last_error().unwrap().contains("retrain"),
        "{:?}",
        handle.last_error()
    );
    let good = ModelFile::baseline(Baseline::FourWeekMean, spec());
    std::thread::sleep(Duration::from_millis(30));
    good.save(&path).unwrap();
    wait_for(&|| handle.generation() == 1);
    let offered = ModelFile::from_bytes(&handle.latest().unwrap(), &path).unwrap();
    assert_eq!(offered.version, good.version);
}
