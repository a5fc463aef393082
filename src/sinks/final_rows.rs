//! Releases a collection's rows once they are final: its updates and the watermark states in;
//! after each finished epoch, the rows of a table that no later input can change out, to a
//! callback (the batch job hands them to its database writer while the dataflow still runs).
//!
//! A row is final once its hour is before a bound computed from the watermark the epoch
//! started from (the state every operator of the epoch judged by): for hourly aggregates, the
//! hour every later on-time trip is newer than. An update that arrives for a released hour is
//! a broken invariant, and panics.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::StreamVec;

use crate::watermark::{StateLog, WatermarkState};

/// Hours the bound must advance by before rows are released again.
const RELEASE_STEP_HOURS: i64 = 12;

/// A table that accumulates updates and gives up the rows of hours that became final.
pub trait FinalTable {
    /// The collection's record.
    type Update;
    /// A released row.
    type Row;
    /// Applies one epoch's updates (in the order they arrived).
    fn apply(&mut self, updates: Vec<(Self::Update, isize)>);
    /// The hour an update belongs to.
    fn hour(update: &Self::Update) -> i64;
    /// Removes and returns the rows of hours before `hour`.
    fn release_before(&mut self, hour: i64) -> Vec<Self::Row>;
}

/// Extension trait: apply a collection to a [`FinalTable`] and hand over its final rows.
pub trait SinkFinal<'scope, D> {
    /// Applies every finished epoch's updates to `table`, then calls `on_final` with the rows
    /// of hours before `open_from(watermark)` (the watermark before that epoch, `None` before
    /// there is one; a few hours at a time, as releasing scans the table). With `gather`
    /// all updates go to worker 0; else each worker keeps the updates it holds (right for a
    /// collection partitioned by the table's key). Rows still held at the end stay in `table`.
    ///
    /// # Examples
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use differential_dataflow::input::Input;
    /// use timely::dataflow::operators::generic::operator::empty;
    /// use zonecast::sinks::final_rows::SinkFinal;
    /// use zonecast::sinks::hourly_table::HourlyTable;
    /// use zonecast::trip::{HourlyStats, ZoneHour};
    ///
    /// let released = Arc::new(AtomicUsize::new(0));
    /// let count = released.clone();
    /// timely::example(move |scope| {
    ///     let table = Rc::new(RefCell::new(HourlyTable::default()));
    ///     let row = (ZoneHour { hour: 5, zone: 1 }, HourlyStats::default());
    ///     let (_input, rows) = scope.new_collection_from(vec![row]);
    ///     let open_from = |w: Option<i64>| w.map(|w| w / 3600);
    ///     rows.sink_final_named("Final", empty(scope), false, table, open_from, move |rows| {
    ///         count.fetch_add(rows.len(), Ordering::Relaxed);
    ///     });
    /// });
    /// // No watermark, so nothing became final: the row is still in the table.
    /// assert_eq!(released.load(Ordering::Relaxed), 0);
    /// ```
    fn sink_final_named<T, B, F>(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        gather: bool,
        table: Rc<RefCell<T>>,
        open_from: B,
        on_final: F,
    ) where
        T: FinalTable<Update = D> + 'static,
        B: Fn(Option<i64>) -> Option<i64> + 'static,
        F: FnMut(Vec<T::Row>) + 'static;
}

impl<'scope, D> SinkFinal<'scope, D> for VecCollection<'scope, u64, D>
where
    D: timely::ExchangeData,
{
    fn sink_final_named<T, B, F>(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        gather: bool,
        table: Rc<RefCell<T>>,
        open_from: B,
        on_final: F,
    ) where
        T: FinalTable<Update = D> + 'static,
        B: Fn(Option<i64>) -> Option<i64> + 'static,
        F: FnMut(Vec<T::Row>) + 'static,
    {
        let release = Release {
            table,
            open_from,
            on_final,
        };
        if gather {
            build(self.inner, Exchange::new(|_| 0), name, states, release);
        } else {
            build(self.inner, Pipeline, name, states, release);
        }
    }
}

struct Release<T, B, F> {
    table: Rc<RefCell<T>>,
    open_from: B,
    on_final: F,
}

fn build<'scope, D, P, T, B, F>(
    updates: StreamVec<'scope, u64, (D, u64, isize)>,
    pact: P,
    name: &str,
    states: StreamVec<'scope, u64, WatermarkState>,
    mut release: Release<T, B, F>,
) where
    D: timely::ExchangeData,
    P: ParallelizationContract<u64, Vec<(D, u64, isize)>> + 'static,
    T: FinalTable<Update = D> + 'static,
    B: Fn(Option<i64>) -> Option<i64> + 'static,
    F: FnMut(Vec<T::Row>) + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_owned(), updates.scope());
    let mut updates_in = builder.new_input(updates, pact);
    let mut states_in = builder.new_input(states, Pipeline);
    builder.build(move |_capabilities| {
        let mut log = StateLog::default();
        let mut pending: BTreeMap<u64, Vec<(D, isize)>> = BTreeMap::new();
        let mut released_before = i64::MIN;
        move |frontiers| {
            updates_in.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                let epoch_updates = pending.entry(epoch).or_default();
                epoch_updates.extend(data.drain(..).map(|(record, _, diff)| (record, diff)));
            });
            states_in.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                log.record_arrived(arrival, data.drain(..));
            });
            while let Some(entry) = pending.first_entry() {
                let epoch = *entry.key();
                if frontiers[0].less_equal(&epoch) || frontiers[1].less_equal(&epoch) {
                    break;
                }
                let updates = entry.remove();
                if let Some((update, _)) = updates
                    .iter()
                    .find(|(update, _)| T::hour(update) < released_before)
                {
                    panic!(
                        "an update for hour {} arrived at epoch {epoch} after the hours before {released_before} were released as final",
                        T::hour(update)
                    );
                }
                release.table.borrow_mut().apply(updates);
                let bound = (release.open_from)(log.before(epoch).and_then(|s| s.watermark));
                // Releasing scans the table: a few hours at a time, not every hour.
                let due = |b: i64| released_before == i64::MIN || b >= released_before + RELEASE_STEP_HOURS;
                if let Some(bound) = bound.filter(|&b| due(b)) {
                    let rows = release.table.borrow_mut().release_before(bound);
                    released_before = bound;
                    if !rows.is_empty() {
                        (release.on_final)(rows);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::hourly_table::HourlyTable;
    use crate::trip::{HourlyStats, ZoneHour};
    use differential_dataflow::AsCollection;
    use timely::dataflow::operators::Input;

    type Row = (ZoneHour, HourlyStats);

    fn row(zone: u16, hour: i64) -> Row {
        (ZoneHour { hour, zone }, HourlyStats::default())
    }

    fn state(hour: i64) -> WatermarkState {
        WatermarkState {
            watermark: Some(hour * 3600 + 1800),
            ..WatermarkState::default()
        }
    }

    /// Feeds `epochs` of updates with the watermark state after each, and returns what was
    /// released after each epoch had been processed, then what the table still holds.
    fn run(epochs: Vec<(Vec<Row>, i64)>) -> (Vec<Vec<Row>>, usize) {
        timely::execute_directly(move |worker| {
            let released = Rc::new(RefCell::new(Vec::new()));
            let table = Rc::new(RefCell::new(HourlyTable::default()));
            let (log, kept) = (released.clone(), table.clone());
            let (mut updates, mut states) = worker.dataflow::<u64, _, _>(|scope| {
                let (updates, stream) = scope.new_input::<Vec<(Row, u64, isize)>>();
                let (states, state_stream) = scope.new_input::<Vec<WatermarkState>>();
                stream.as_collection().sink_final_named(
                    "Final",
                    state_stream,
                    false,
                    kept,
                    |watermark: Option<i64>| watermark.map(|w| w.div_euclid(3600) - 1),
                    move |mut rows: Vec<Row>| {
                        rows.sort();
                        log.borrow_mut().push(rows);
                    },
                );
                (updates, states)
            });
            // Releases depend only on each epoch's updates and the state before it, not on
            // when the sink runs: everything goes in first.
            for (epoch, (rows, watermark_hour)) in epochs.into_iter().enumerate() {
                let epoch = epoch as u64;
                for r in rows {
                    updates.send((r, epoch, 1));
                }
                updates.advance_to(epoch + 1);
                // The state after epoch `e` arrives at `e + 1`.
                states.advance_to(epoch + 1);
                states.send(state(watermark_hour));
            }
            drop((updates, states));
            while worker.step() {}
            let released = released.borrow().clone();
            let held = table.borrow().len();
            (released, held)
        })
    }

    #[test]
    fn releases_hours_before_the_bound_of_the_watermark_before_each_epoch() {
        let (released, held) = run(vec![
            (vec![row(1, 10), row(2, 11), row(1, 30)], 12),
            // Judged by the watermark after epoch 0 (hour 12): hours before 11 are final.
            (vec![row(2, 12)], 40),
            // Bound 39, at least 12 hours past 11: the next release.
            (vec![row(3, 45)], 41),
            // Bound 40: less than 12 hours past 39, nothing yet.
            (vec![row(3, 46)], 41),
        ]);
        assert_eq!(
            released,
            vec![vec![row(1, 10)], vec![row(2, 11), row(2, 12), row(1, 30)]]
        );
        assert_eq!(held, 2, "hours 45 and 46 are still open");
    }

    #[test]
    #[should_panic(expected = "after the hours before 11 were released as final")]
    fn an_update_for_a_released_hour_is_a_broken_invariant() {
        run(vec![
            (vec![row(1, 10), row(2, 11)], 12),
            (vec![row(2, 12)], 13),
            (vec![row(1, 9)], 14),
        ]);
    }
}
