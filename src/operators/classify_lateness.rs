//! Classifies trips by event time: trips (in input order) and the watermark state of the
//! previous epoch in, on-time trips, reports and the watermark state after this epoch out.
//!
//! Runs on the worker that read the epoch, before trips are spread by key, so it sees the
//! epoch's rows in input order and judges each against the watermark left by the rows before
//! it ([`WatermarkTracker::admit`]). The state after the epoch goes out on the third stream;
//! the dataflow broadcasts it and feeds it back one epoch later, where the next epoch's owner
//! resumes from it. Late trips and far-ahead trips leave as [`Report`]s.

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use crate::reject::{Reject, RejectReason};
use crate::report::Report;
use crate::trip::{RowPos, Trip};
use crate::watermark::{StateLog, Verdict, WatermarkPolicy, WatermarkState, WatermarkTracker};

type Builder<D> = timely::container::CapacityContainerBuilder<Vec<D>>;

/// The streams out of [`ClassifyLateness`].
pub struct Classified<'scope> {
    /// Trips within the lateness window.
    pub on_time: StreamVec<'scope, u64, Trip>,
    /// `Accepted` counts, `Late` rows and far-ahead rejections.
    pub reports: StreamVec<'scope, u64, Report>,
    /// The watermark state at the end of each epoch this worker classified.
    pub states: StreamVec<'scope, u64, WatermarkState>,
}

/// Extension trait: split a trip stream into on-time trips and late/ahead reports.
pub trait ClassifyLateness<'scope> {
    /// Classifies each trip against the watermark before it.
    ///
    /// `states` must deliver every worker's end-of-epoch states to every worker, one epoch
    /// later (broadcast, then a feedback edge of `+1`), as the aggregate dataflow wires it.
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::{ToStream, Inspect};
    /// use timely::dataflow::operators::generic::operator::empty;
    /// use zonecast::operators::ClassifyLateness;
    /// use zonecast::watermark::WatermarkPolicy;
    /// use zonecast::trip::{RowPos, Trip};
    ///
    /// timely::example(|scope| {
    ///     let trip = |h: i64, line| (Trip { pickup: h * 3600, zone: 1, distance: None, fare: None, total: None }, RowPos { source: 0, line });
    ///     let rows = vec![trip(500, 2), trip(500, 3), trip(500, 4), trip(10, 5)];
    ///     let out = rows.to_stream(scope).container::<Vec<_>>()
    ///         .classify_lateness_named("Classify", empty(scope), WatermarkPolicy::default());
    ///     out.on_time.inspect(|t| assert_eq!(t.pickup, 500 * 3600));
    ///     out.reports.inspect(|r| println!("{r:?}"));
    /// });
    /// ```
    fn classify_lateness_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        policy: WatermarkPolicy,
    ) -> Classified<'scope>;
}

struct Held {
    caps: [Capability<u64>; 3],
    trips: Vec<(Trip, RowPos)>,
}

impl<'scope> ClassifyLateness<'scope> for StreamVec<'scope, u64, (Trip, RowPos)> {
    fn classify_lateness_named(
        self,
        name: &str,
        states: StreamVec<'scope, u64, WatermarkState>,
        policy: WatermarkPolicy,
    ) -> Classified<'scope> {
        let mut builder = OperatorBuilder::new(name.to_owned(), self.scope());
        let (on_time_out, on_time) = builder.new_output();
        let (reports_out, reports) = builder.new_output();
        let (states_out, states_stream) = builder.new_output();
        let mut trips_in = builder.new_input(self, Pipeline);
        let mut states_in = builder.new_input(states, Pipeline);
        let mut on_time_out = OutputBuilder::<_, Builder<Trip>>::from(on_time_out);
        let mut reports_out = OutputBuilder::<_, Builder<Report>>::from(reports_out);
        let mut states_out = OutputBuilder::<_, Builder<WatermarkState>>::from(states_out);

        builder.build(move |_initial| {
            let mut log = StateLog::default();
            let mut held: BTreeMap<u64, Held> = BTreeMap::new();
            move |frontiers| {
                trips_in.for_each(|cap, data| {
                    let Some(&epoch) = cap.least() else { return };
                    let entry = held.entry(epoch).or_insert_with(|| Held {
                        caps: [0, 1, 2].map(|port| cap.retain_least(port).expect("time")),
                        trips: Vec::new(),
                    });
                    entry.trips.append(data);
                });
                states_in.for_each(|cap, data| {
                    let Some(&arrival) = cap.least() else { return };
                    // States arrive one epoch after the epoch they close.
                    log.record_arrived(arrival, data.drain(..));
                });
                while let Some(entry) = held.first_entry() {
                    let epoch = *entry.key();
                    if frontiers[0].less_equal(&epoch) || frontiers[1].less_equal(&epoch) {
                        break;
                    }
                    let Held { caps, trips } = entry.remove();
                    let mut tracker = match log.before(epoch) {
                        Some(state) => WatermarkTracker::resume(policy, &state),
                        None => WatermarkTracker::new(policy),
                    };
                    let mut on_time = on_time_out.activate();
                    let mut on_time = on_time.session(&caps[0]);
                    let mut reports = reports_out.activate();
                    let mut reports = reports.session(&caps[1]);
                    let mut accepted = 0u64;
                    for (trip, pos) in trips {
                        let before = tracker.watermark();
                        match tracker.admit(trip.pickup) {
                            Verdict::OnTime => {
                                accepted += 1;
                                on_time.give(trip);
                            }
                            Verdict::Late => {
                                let watermark = before.expect("late needs a watermark");
                                reports.give(Report::Late {
                                    pos,
                                    pickup: trip.pickup,
                                    watermark,
                                });
                            }
                            Verdict::FarAhead => {
                                let watermark = before.expect("ahead needs a watermark");
                                let reason = RejectReason::PickupFarAhead {
                                    pickup: trip.pickup,
                                    watermark,
                                };
                                reports.give(Report::Rejected(Reject { pos, reason }));
                            }
                        }
                    }
                    reports.give(Report::Accepted(accepted));
                    states_out
                        .activate()
                        .session(&caps[2])
                        .give(tracker.state());
                }
            }
        });
        Classified {
            on_time,
            reports,
            states: states_stream,
        }
    }
}
