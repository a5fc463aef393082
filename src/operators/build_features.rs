//! Feature rows, maintained incrementally: the hourly aggregates and the watermark state in, a
//! differential collection of [`FeatureRow`]s out (one per known zone and target hour).
//!
//! When the watermark enters a new hour, every known zone gets a row for it; when an hour's
//! pickups change (a late trip), exactly the rows whose offsets or summed windows reach that
//! hour are retracted and re-emitted. Rows are kept for targets within `retention` hours of the watermark's hour;
//! older rows stay in the collection but are no longer corrected, and their state is released.
//!
//! With [`FeatureEmission::Final`] (the batch job) no row goes out until it is final: each
//! row once, with the value the corrected collection ends with for it, at the epoch its target
//! leaves the retention window (computed before that epoch's changes, which the corrected
//! collection no longer applies to it either) or when the input ends. Downstream then scores
//! each row once instead of once per correction.
//!
//! Input must be the output of `AggregateHourly`; rows are partitioned by zone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use crate::features::history::PickupHistory;
use crate::features::{FeatureRow, FeatureSpec};
use crate::resume::Resume;
use crate::time::hour_of;
use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::{StateLog, WatermarkState};

type Update = (FeatureRow, u64, isize);

/// An epoch's capability and its pickup updates: `(key, pickups, diff)`.
type PendingEpoch = (Capability<u64>, Vec<(ZoneHour, i64, isize)>);

/// Which feature rows flow out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureEmission {
    /// A row as soon as its target hour is current, then a retraction and the new row at each
    /// correction while its target is within the retention (the streaming jobs).
    Corrected,
    /// Each row once, when no later input can change it: the rows the corrected collection
    /// consolidates to, without the versions in between (the batch job).
    Final,
}

/// Extension trait: turn hourly aggregates into feature rows.
pub trait BuildFeatures<'scope>: Sized {
    /// Maintains a feature row for every known zone and every target hour from the watermark's
    /// hour back `retention` hours.
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::ToStream;
    /// use timely::dataflow::operators::generic::operator::empty;
    /// use differential_dataflow::AsCollection;
    /// use zonecast::features::FeatureSpec;
    /// use zonecast::operators::BuildFeatures;
    /// use zonecast::trip::{HourlyStats, ZoneHour};
    ///
    /// timely::example(|scope| {
    ///     let stats = HourlyStats { pickups: 3, ..HourlyStats::default() };
    ///     vec![((ZoneHour { hour: 10, zone: 4 }, stats), 0u64, 1isize)].to_stream(scope).container::<Vec<_>>().as_collection()
    ///         .build_features_named("Features", empty(scope), FeatureSpec::new(vec![1, 24], 1), 48)
    ///         .inspect(|(row, _time, diff)| println!("{row:?} {diff}"));
    /// });
    /// ```
    fn build_features_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        spec: FeatureSpec,
        retention: i64,
    ) -> VecCollection<'scope, u64, FeatureRow> {
        self.build_features_resumed_named(name, states, spec, retention, None)
    }

    /// Like [`BuildFeatures::build_features_named`]; with `resume`, the operator knows the
    /// checkpoint's zones (this worker's) and emits every kept row at the restore epoch, from
    /// the aggregates re-inserted there.
    fn build_features_resumed_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        spec: FeatureSpec,
        retention: i64,
        resume: Option<Arc<Resume>>,
    ) -> VecCollection<'scope, u64, FeatureRow>;

    /// Like [`BuildFeatures::build_features_named`], but each row goes out once, when it is
    /// final ([`FeatureEmission::Final`]).
    fn build_final_features_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        spec: FeatureSpec,
        retention: i64,
    ) -> VecCollection<'scope, u64, FeatureRow>;
}

impl<'scope> BuildFeatures<'scope> for VecCollection<'scope, u64, (ZoneHour, HourlyStats)> {
    fn build_features_resumed_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        spec: FeatureSpec,
        retention: i64,
        resume: Option<Arc<Resume>>,
    ) -> VecCollection<'scope, u64, FeatureRow> {
        let emission = FeatureEmission::Corrected;
        build(self, name, states, spec, retention, resume, emission)
    }

    fn build_final_features_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        spec: FeatureSpec,
        retention: i64,
    ) -> VecCollection<'scope, u64, FeatureRow> {
        build(
            self,
            name,
            states,
            spec,
            retention,
            None,
            FeatureEmission::Final,
        )
    }
}

fn build<'scope>(
    hourly: VecCollection<'scope, u64, (ZoneHour, HourlyStats)>,
    name: &str,
    states: StreamVec<'scope, u64, WatermarkState>,
    spec: FeatureSpec,
    retention: i64,
    resume: Option<Arc<Resume>>,
    emission: FeatureEmission,
) -> VecCollection<'scope, u64, FeatureRow> {
    let (index, peers) = (hourly.inner.scope().index(), hourly.inner.scope().peers());
    let mut builder = OperatorBuilder::new(name.to_owned(), hourly.inner.scope());
    let (rows_out, rows) = builder.new_output();
    let by_zone =
        Exchange::new(|((key, _), _, _): &((ZoneHour, HourlyStats), u64, isize)| key.zone as u64);
    let mut hourly_in = builder.new_input(hourly.inner, by_zone);
    let mut states_in = builder.new_input(states, Pipeline);
    let mut rows_out =
        OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<Update>>>::from(
            rows_out,
        );
    let offsets = spec.offsets();
    let widest = spec.windows().last().copied().unwrap_or(0) as i64;
    let reach = (*offsets.last().unwrap_or(&0) as i64).max(widest);
    let retention = retention.max(1);

    builder.build(move |initial| {
        let mut log = StateLog::default();
        let mut pending: BTreeMap<u64, PendingEpoch> = BTreeMap::new();
        let mut history = PickupHistory::new();
        if let (Some(resume), Some(cap)) = (resume, initial.into_iter().next()) {
            // Every kept row goes out at the restore epoch, even on a worker that gets
            // no aggregate there.
            for zone in resume.zones_of(index, peers) {
                history.add_zone(zone);
            }
            pending.insert(resume.epoch, (cap.delayed(&resume.epoch), Vec::new()));
            if resume.epoch > 0 {
                log.insert(resume.epoch - 1, resume.before.clone());
            }
        }
        // Keyed by (target hour, zone): released rows are a prefix.
        let mut emitted: BTreeMap<(i64, u16), FeatureRow> = BTreeMap::new();
        // Final emission: the rows not out yet, and the latest epoch's capability (for the
        // rows left when the input ends).
        let mut unreleased = UnreleasedRows::default();
        let mut last_cap: Option<Capability<u64>> = None;
        let mut current: Option<i64> = None;
        let mut forgotten_before = i64::MIN;
        move |frontiers| {
            hourly_in.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                let entry = pending
                    .entry(epoch)
                    .or_insert_with(|| (cap.retain_least(0).expect("time"), Vec::new()));
                entry.1.extend(
                    data.drain(..)
                        .map(|((key, stats), _, diff)| (key, stats.pickups, diff)),
                );
            });
            states_in.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                pending
                    .entry(arrival)
                    .or_insert_with(|| (cap.retain_least(0).expect("time"), Vec::new()));
                log.record_arrived(arrival, data.drain(..));
            });
            while let Some(entry) = pending.first_entry() {
                let epoch = *entry.key();
                if frontiers[0].less_equal(&epoch) || frontiers[1].less_equal(&epoch) {
                    break;
                }
                let (cap, updates) = entry.remove();
                let state = log.before(epoch);
                if let Some(first) = state.as_ref().and_then(|s| s.first_hour) {
                    history.pin_first_hour(first);
                }
                let target = state.as_ref().and_then(|s| s.watermark).map(hour_of);
                // The oldest target hour still corrected.
                let low = target.map(|t| t - retention + 1);
                if let (FeatureEmission::Final, Some(low), Some(last)) = (emission, low, current) {
                    // Rows leaving the window now: the corrected collection's last version
                    // of them saw every change up to the previous epoch, none of this one's.
                    let mut out = rows_out.activate();
                    let mut session = out.session(&cap);
                    for (zone, t) in unreleased.release(low, last) {
                        session.give((history.row(&spec, &offsets, zone, t), epoch, 1));
                    }
                }
                let changed = net_pickups(updates);
                // Final emission keys rows by zone start hours, not by the zones new here.
                let new_zones: BTreeSet<u16> = match emission {
                    FeatureEmission::Corrected => changed
                        .iter()
                        .map(|&((z, _), _)| z)
                        .filter(|z| !history.zones().contains(z))
                        .collect(),
                    FeatureEmission::Final => BTreeSet::new(),
                };
                for &((zone, hour), pickups) in &changed {
                    history.set(zone, hour, pickups);
                }
                let (Some(target), Some(low)) = (target, low) else {
                    continue;
                };
                if emission == FeatureEmission::Final {
                    // Rows are computed when final; the keys are each zone's hours since it
                    // became known (a late trip reaches only rows that already have one).
                    unreleased.add_zones(history.zones(), low);
                } else {
                    let mut affected: BTreeSet<(u16, i64)> = BTreeSet::new();
                    for &((zone, hour), _) in &changed {
                        for &o in &offsets {
                            let t = hour + o as i64;
                            if (low..=target).contains(&t) {
                                affected.insert((zone, t));
                            }
                        }
                        // A window of `widest` hours before the target sums this hour for
                        // every target in hour + 1 ..= hour + widest.
                        let reached = (hour + 1).max(low)..=(hour + widest).min(target);
                        affected.extend(reached.map(|t| (zone, t)));
                    }
                    let first_new = current.map_or(low, |c| (c + 1).max(low));
                    for t in first_new..=target {
                        affected.extend(history.zones().iter().map(|&z| (z, t)));
                    }
                    for &zone in &new_zones {
                        affected.extend((low..=target).map(|t| (zone, t)));
                    }
                    let mut out = rows_out.activate();
                    let mut session = out.session(&cap);
                    for (zone, t) in affected {
                        let row = history.row(&spec, &offsets, zone, t);
                        match emitted.get(&(t, zone)) {
                            Some(old) if *old == row => continue,
                            Some(old) => session.give((old.clone(), epoch, -1)),
                            None => {}
                        }
                        session.give((row.clone(), epoch, 1));
                        emitted.insert((t, zone), row);
                    }
                }
                current = Some(current.map_or(target, |c| c.max(target)));
                let keep_from = current.expect("set above") - retention + 1;
                // Once per new hour, not per epoch: forgetting scans the history.
                if keep_from > forgotten_before {
                    emitted = emitted.split_off(&(keep_from, 0));
                    history.forget_before(keep_from - reach);
                    forgotten_before = keep_from;
                }
                if emission == FeatureEmission::Final {
                    last_cap = Some(cap);
                }
            }
            let ended = frontiers.iter().all(|f| f.is_empty()) && pending.is_empty();
            if let (true, Some(cap), Some(last)) = (ended, last_cap.take(), current) {
                // The input is over: every row not out yet is final as it stands.
                let mut out = rows_out.activate();
                let mut session = out.session(&cap);
                for (zone, t) in unreleased.release(last + 1, last) {
                    session.give((history.row(&spec, &offsets, zone, t), *cap.time(), 1));
                }
            }
        }
    });
    rows.as_collection()
}

/// An epoch's net pickups per (zone, hour), in key order: an insertion carries the new
/// count (the last one, if several), a key only retracted has none left.
fn net_pickups(mut updates: Vec<(ZoneHour, i64, isize)>) -> Vec<((u16, i64), u32)> {
    updates.sort_by_key(|(key, _, _)| (key.zone, key.hour));
    let mut net: Vec<((u16, i64), u32)> = Vec::with_capacity(updates.len() / 2 + 1);
    for (key, pickups, diff) in updates {
        let key = (key.zone, key.hour);
        if net.last().is_none_or(|(last, _)| *last != key) {
            net.push((key, 0));
        }
        if diff > 0 {
            net.last_mut().expect("pushed").1 = pickups.max(0) as u32;
        }
    }
    net
}

/// Final emission's rows not out yet: every zone known has a row for each target hour from
/// the window's start when it became known up to the latest target hour (the keys the
/// corrected collection ends with).
#[derive(Debug)]
struct UnreleasedRows {
    /// Each zone's first target hour.
    starts: BTreeMap<u16, i64>,
    /// The rows of targets before this are out.
    released_before: i64,
}

impl Default for UnreleasedRows {
    fn default() -> Self {
        UnreleasedRows {
            starts: BTreeMap::new(),
            released_before: i64::MIN,
        }
    }
}

impl UnreleasedRows {
    /// Zones not known before get rows from target hour `low` on.
    fn add_zones(&mut self, zones: &BTreeSet<u16>, low: i64) {
        for &zone in zones {
            self.starts.entry(zone).or_insert(low);
        }
    }

    /// Releases the rows of targets before `before` (and at most `last`, the latest target
    /// hour): their `(zone, target hour)`, by target hour, then zone.
    fn release(&mut self, before: i64, last: i64) -> Vec<(u16, i64)> {
        let Some(&first) = self.starts.values().min() else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        for t in first.max(self.released_before)..before.min(last + 1) {
            let known = self.starts.iter().filter(|&(_, &start)| start <= t);
            keys.extend(known.map(|(&zone, _)| (zone, t)));
        }
        self.released_before = self.released_before.max(before);
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_pickups_keeps_each_keys_insertion_and_zeroes_pure_retractions() {
        let at = |zone, hour| ZoneHour { zone, hour };
        let updates = vec![
            (at(2, 10), 5, -1),
            (at(1, 11), 3, 1),
            (at(2, 10), 7, 1),
            (at(1, 9), 4, -1),
            (at(3, 1), 2, 1),
            (at(3, 1), 6, 1),
        ];
        assert_eq!(
            net_pickups(updates),
            vec![((1, 9), 0), ((1, 11), 3), ((2, 10), 7), ((3, 1), 6)]
        );
        assert!(net_pickups(Vec::new()).is_empty());
    }
}
