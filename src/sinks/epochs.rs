//! Hands over a collection's updates epoch by epoch once each epoch is complete, sorted
//! (record, then diff): gathered on worker 0 ([`SinkEpochs::sink_epochs_named`]) or on the
//! worker that holds each record ([`SinkEpochs::sink_local_epochs_named`]).

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Operator;

/// One epoch's updates: `(record, diff)` pairs.
pub type EpochUpdates<D> = Vec<(D, isize)>;

/// Extension trait: call back with every finished epoch of a collection.
pub trait SinkEpochs<D> {
    /// Routes all updates to worker 0 and calls `on_epoch(epoch, updates)` there, in epoch
    /// order, once the epoch can no longer change; updates are consolidated (those that cancel
    /// are dropped) and sorted by record.
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

    /// Like [`SinkEpochs::sink_epochs_named`], but every worker handles the updates it holds,
    /// in the order they arrived (for collections partitioned by key, each worker sees every
    /// update of its keys).
    fn sink_local_epochs_named<F>(self, name: &str, on_epoch: F)
    where
        F: FnMut(u64, EpochUpdates<D>) + 'static;
}

impl<D> SinkEpochs<D> for VecCollection<'_, u64, D>
where
    D: timely::ExchangeData + Ord + Clone,
{
    fn sink_epochs_named<F>(self, name: &str, on_epoch: F)
    where
        F: FnMut(u64, EpochUpdates<D>) + 'static,
    {
        self.inner
            .sink(Exchange::new(|_| 0), name, by_epoch(true, on_epoch));
    }

    fn sink_local_epochs_named<F>(self, name: &str, on_epoch: F)
    where
        F: FnMut(u64, EpochUpdates<D>) + 'static,
    {
        self.inner.sink(Pipeline, name, by_epoch(false, on_epoch));
    }
}

type Input<'a, D, P> =
    timely::dataflow::operators::generic::InputHandleCore<u64, Vec<(D, u64, isize)>, P>;

/// The sink logic: buffer updates by epoch, release each epoch once the frontier passes it;
/// `sorted`: consolidate and sort them (else they keep their arrival order).
fn by_epoch<D, P, F>(
    sorted: bool,
    mut on_epoch: F,
) -> impl FnMut(
    (
        &mut Input<'_, D, P>,
        &timely::progress::frontier::MutableAntichain<u64>,
    ),
)
where
    D: Ord + Clone + 'static,
    P: timely::communication::Pull<timely::dataflow::channels::Message<u64, Vec<(D, u64, isize)>>>,
    F: FnMut(u64, EpochUpdates<D>),
{
    let mut pending: BTreeMap<u64, Vec<(D, isize)>> = BTreeMap::new();
    move |(input, frontier)| {
        input.for_each(|_cap, data| {
            let mut last: Option<(u64, &mut Vec<(D, isize)>)> = None;
            for (record, time, diff) in data.drain(..) {
                match &mut last {
                    Some((t, updates)) if *t == time => updates.push((record, diff)),
                    _ => {
                        let updates = pending.entry(time).or_default();
                        updates.push((record, diff));
                        last = Some((time, updates));
                    }
                }
            }
        });
        while let Some(entry) = pending.first_entry() {
            if frontier.less_equal(entry.key()) {
                break;
            }
            let epoch = *entry.key();
            let mut updates = entry.remove();
            if sorted {
                // Sorts by record; equal records are merged, so each appears once.
                differential_dataflow::consolidation::consolidate(&mut updates);
            }
            on_epoch(epoch, updates);
        }
    }
}
