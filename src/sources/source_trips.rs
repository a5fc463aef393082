//! The source operator: a [`TripFeed`] in, two streams out (trips in input order, reports).
//!
//! Each epoch the feed hands over becomes one timely time. The operator also applies
//! backpressure: it does not release an epoch more than `window` epochs ahead of what the
//! dataflow has finished (a probe at the end of the dataflow), so memory stays bounded no
//! matter how fast the files can be parsed.

use std::cell::RefCell;
use std::rc::Rc;

use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

use crate::report::Report;
use crate::sources::{FeedPoll, SourceError, TripFeed};
use crate::trip::{RowPos, Trip};

/// The streams a source produces.
pub struct SourceStreams<'scope> {
    /// Parsed trips with their positions.
    pub trips: StreamVec<'scope, u64, (Trip, RowPos)>,
    /// `Read` counts and `Rejected` rows.
    pub reports: StreamVec<'scope, u64, Report>,
    /// Set if the feed failed; the job reports it when the dataflow ends.
    pub error: Rc<RefCell<Option<SourceError>>>,
}

/// Builds the source operator named `name` over `feed`.
///
/// `done` is a probe on the end of the dataflow; the source keeps at most `window` epochs in flight.
pub fn source_trips<'scope>(
    scope: Scope<'scope, u64>,
    name: &str,
    mut feed: Box<dyn TripFeed>,
    done: ProbeHandle<u64>,
    window: u64,
) -> SourceStreams<'scope> {
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let address = builder.operator_info().address;
    let activator = scope.activator_for(address.clone());
    let remote = scope.worker().sync_activator_for(address.to_vec());
    feed.set_waker(std::sync::Arc::new(move || {
        let _ = remote.activate();
    }));
    let (trips_out, trips) = builder.new_output();
    let (reports_out, reports) = builder.new_output();
    let mut trips_out = OutputBuilder::<
        _,
        timely::container::CapacityContainerBuilder<Vec<(Trip, RowPos)>>,
    >::from(trips_out);
    let mut reports_out = OutputBuilder::<
        _,
        timely::container::CapacityContainerBuilder<Vec<Report>>,
    >::from(reports_out);
    let error = Rc::new(RefCell::new(None));
    let error_slot = error.clone();
    builder.build(move |mut caps| {
        move |_frontiers| {
            if caps.is_empty() {
                return;
            }
            let next = *caps[0].time();
            if done.less_than(&next.saturating_sub(window)) {
                activator.activate_after(std::time::Duration::from_millis(1));
                return;
            }
            match feed.poll() {
                FeedPoll::Ready(epoch, mut batch) => {
                    for cap in caps.iter_mut() {
                        cap.downgrade(&epoch);
                    }
                    let mut reports: Vec<Report> = Vec::with_capacity(batch.rejects.len() + 1);
                    reports.push(Report::Read(batch.rows_read));
                    reports.extend(batch.rejects.drain(..).map(Report::Rejected));
                    trips_out
                        .activate()
                        .session(&caps[0])
                        .give_iterator(batch.trips.drain(..));
                    reports_out
                        .activate()
                        .session(&caps[1])
                        .give_iterator(reports.into_iter());
                    for cap in caps.iter_mut() {
                        cap.downgrade(&(epoch + 1));
                    }
                    activator.activate();
                }
                FeedPoll::Pending(wait) => activator.activate_after(wait),
                FeedPoll::Done => caps.clear(),
                FeedPoll::Failed(e) => {
                    tracing::error!(error = %e, "source failed");
                    *error_slot.borrow_mut() = Some(e);
                    caps.clear();
                }
            }
        }
    });
    SourceStreams {
        trips,
        reports,
        error,
    }
}
