//! Per-zone hourly aggregates: on-time trips in, a differential collection of
//! `(ZoneHour, HourlyStats)` out.
//!
//! Each epoch, every (zone, hour) that received trips is updated: the old statistics are
//! retracted (`-1`) and the new ones inserted (`+1`), so the accumulated collection always
//! equals a from-scratch aggregation of the trips accepted so far. Unlike a differential
//! `reduce`, state for hours that can no longer change (older than the watermark minus the
//! allowed lateness) is dropped, so memory stays bounded on an endless stream; the
//! collection keeps those rows, they just never change again.
//!
//! Trips must arrive partitioned by [`ZoneHour::route`] (each key on one worker).

use std::collections::BTreeMap;
use std::sync::Arc;

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use crate::resume::Resume;
use crate::trip::{HourlyStats, Trip, ZoneHour, ZoneHourMap};
use crate::watermark::{StateLog, WatermarkPolicy, WatermarkState};

type Update = ((ZoneHour, HourlyStats), u64, isize);

/// Extension trait: maintain per-(zone, hour) statistics of a trip stream.
pub trait AggregateHourly<'scope>: Sized {
    /// Aggregates trips into hourly statistics, with retractions when an hour changes.
    ///
    /// `states` (the lateness classifier's end-of-epoch watermark states, broadcast and fed
    /// back one epoch later) decide when an hour's state can be released; `policy` must be the
    /// one the trips were classified with.
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::ToStream;
    /// use zonecast::operators::AggregateHourly;
    /// use timely::dataflow::operators::generic::operator::empty;
    /// use zonecast::watermark::WatermarkPolicy;
    /// use zonecast::trip::Trip;
    ///
    /// timely::example(|scope| {
    ///     let trip = |zone| Trip { pickup: 3600, zone, distance: Some(2_000_000), fare: None, total: None };
    ///     vec![trip(7), trip(7), trip(9)].to_stream(scope).container::<Vec<_>>()
    ///         .aggregate_hourly_named("Hourly", empty(scope), WatermarkPolicy::default())
    ///         .inspect(|((key, stats), _time, diff)| println!("{key:?} {} {diff}", stats.pickups));
    /// });
    /// ```
    fn aggregate_hourly_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        policy: WatermarkPolicy,
    ) -> VecCollection<'scope, u64, (ZoneHour, HourlyStats)> {
        self.aggregate_hourly_gauged_named(name, states, policy, StateGauge::default(), None)
    }

    /// Like [`AggregateHourly::aggregate_hourly_named`], and reports how many (zone, hour)
    /// keys this worker holds in `gauge` (current and peak). With `resume`, the operator starts
    /// from a checkpoint's aggregates (this worker's keys), inserted at the restore epoch.
    fn aggregate_hourly_gauged_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        policy: WatermarkPolicy,
        gauge: StateGauge,
        resume: Option<Arc<Resume>>,
    ) -> VecCollection<'scope, u64, (ZoneHour, HourlyStats)>;
}

/// The number of (zone, hour) keys an aggregate holds on one worker: `(current, peak)`.
pub type StateGauge = std::rc::Rc<std::cell::Cell<(usize, usize)>>;

impl<'scope> AggregateHourly<'scope> for StreamVec<'scope, u64, Trip> {
    fn aggregate_hourly_gauged_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        policy: WatermarkPolicy,
        gauge: StateGauge,
        resume: Option<Arc<Resume>>,
    ) -> VecCollection<'scope, u64, (ZoneHour, HourlyStats)> {
        let (index, peers) = (self.scope().index(), self.scope().peers());
        let mut builder = OperatorBuilder::new(name.to_owned(), self.scope());
        let (updates_out, updates) = builder.new_output();
        let mut trips_in = builder.new_input(self, Pipeline);
        let mut states_in = builder.new_input(states, Pipeline);
        let mut updates_out = OutputBuilder::<
            _,
            timely::container::CapacityContainerBuilder<Vec<Update>>,
        >::from(updates_out);

        builder.build(move |initial| {
            let mut log = StateLog::default();
            let mut deltas: BTreeMap<u64, (Capability<u64>, ZoneHourMap<HourlyStats>)> =
                BTreeMap::new();
            let mut state: ZoneHourMap<HourlyStats> = ZoneHourMap::default();
            let mut released_before = i64::MIN;
            if let (Some(resume), Some(cap)) = (resume, initial.into_iter().next()) {
                // The checkpoint's aggregates, inserted at the restore epoch as one delta.
                let seed = resume.hourly_of(index, peers).into_iter().collect();
                deltas.insert(resume.epoch, (cap.delayed(&resume.epoch), seed));
                if resume.epoch > 0 {
                    log.insert(resume.epoch - 1, resume.before.clone());
                }
            }
            move |frontiers| {
                trips_in.for_each(|cap, data| {
                    let Some(&epoch) = cap.least() else { return };
                    let (_, delta) = deltas.entry(epoch).or_insert_with(|| {
                        (cap.retain_least(0).expect("time"), ZoneHourMap::default())
                    });
                    for trip in data.drain(..) {
                        delta
                            .entry(trip.zone_hour())
                            .or_default()
                            .add_trip(&trip, 1);
                    }
                });
                states_in.for_each(|cap, data| {
                    let Some(&arrival) = cap.least() else { return };
                    log.record_arrived(arrival, data.drain(..));
                });
                while let Some(&next) = deltas.keys().next() {
                    if frontiers[0].less_equal(&next) || frontiers[1].less_equal(&next) {
                        break;
                    }
                    if let Some((cap, delta)) = deltas.remove(&next) {
                        let mut out = updates_out.activate();
                        let mut session = out.session(&cap);
                        for (key, change) in delta {
                            let entry = state.entry(key).or_default();
                            if !entry.is_empty() {
                                session.give(((key, *entry), next, -1));
                            }
                            entry.merge(&change);
                            session.give(((key, *entry), next, 1));
                        }
                    }
                    // Every later on-time trip is newer than the watermark before this epoch
                    // minus the allowed lateness: hours before that are final.
                    let bound = log
                        .before(next)
                        .and_then(|s| policy.closed_before(s.watermark));
                    if let Some(bound) = bound {
                        if bound > released_before {
                            state.retain(|key, _| key.hour >= bound);
                            released_before = bound;
                        }
                    }
                    let (_, peak) = gauge.get();
                    gauge.set((state.len(), peak.max(state.len())));
                }
            }
        });
        updates.as_collection()
    }
}
