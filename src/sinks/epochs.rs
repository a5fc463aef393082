//! Gathers a collection's updates on worker 0 and hands over each epoch once it is complete,
//! sorted (record, then diff: retractions before insertions).

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;

/// One epoch's updates: `(record, diff)` pairs, sorted.
pub type EpochUpdates<D> = Vec<(D, isize)>;

/// Extension trait: call back with every finished epoch of a collection.
pub trait SinkEpochs<D> {
    /// Routes all updates to worker 0 and calls `on_epoch(epoch, updates)` there, in epoch
    /// order, once the epoch can no longer change. Updates that cancel are dropped.
    ///
    /// # Examples
    /// ```
    /// use differential_dataflow::input::Input;
    /// use zonecast::sinks::SinkEpochs;
    ///
    /// timely::example(|scope| {
    ///     let (_input, numbers) = scope.new_collection_from(vec![3u32, 1, 2]);
    ///     numbers.sink_epochs_named("Print", |epoch, updates| println!("{epoch}: {updates:?}"));
    /// });
    /// ```
    fn sink_epochs_named<F>(self, name: &str, on_epoch: F)
    where
        F: FnMut(u64, EpochUpdates<D>) + 'static;
}

impl<D> SinkEpochs<D> for VecCollection<'_, u64, D>
where
    D: timely::ExchangeData + Ord + Clone,
{
    fn sink_epochs_named<F>(self, name: &str, mut on_epoch: F)
    where
        F: FnMut(u64, EpochUpdates<D>) + 'static,
    {
        let mut pending: BTreeMap<u64, Vec<(D, isize)>> = BTreeMap::new();
        self.inner
            .sink(Exchange::new(|_| 0), name, move |(input, frontier)| {
                input.for_each(|_cap, data| {
                    for (record, time, diff) in data.drain(..) {
                        pending.entry(time).or_default().push((record, diff));
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let epoch = *entry.key();
                    let mut updates = entry.remove();
                    differential_dataflow::consolidation::consolidate(&mut updates);
                    updates.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
                    on_epoch(epoch, updates);
                }
            });
    }
}
