//! Gathers outcome events on worker 0 into a shared [`RunReport`].

use std::cell::RefCell;
use std::rc::Rc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::StreamVec;

use crate::report::{Report, RunReport};

/// Extension trait: add a stream of [`Report`]s into a [`RunReport`] on worker 0.
pub trait SinkReports {
    /// Routes every event to worker 0 and adds it to `report` there (other workers' `report`
    /// stays empty).
    ///
    /// # Examples
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use timely::dataflow::operators::ToStream;
    /// use zonecast::report::{Report, RunReport};
    /// use zonecast::sinks::SinkReports;
    ///
    /// timely::execute_directly(|worker| {
    ///     let report = Rc::new(RefCell::new(RunReport::default()));
    ///     let shared = report.clone();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         vec![Report::Read(2), Report::Accepted(2)].to_stream(scope).container::<Vec<_>>()
    ///             .sink_reports_named("Reports", shared);
    ///     });
    ///     while worker.step() {}
    ///     assert!(report.borrow().balanced());
    /// });
    /// ```
    fn sink_reports_named(self, name: &str, report: Rc<RefCell<RunReport>>);
}

impl SinkReports for StreamVec<'_, u64, Report> {
    fn sink_reports_named(self, name: &str, report: Rc<RefCell<RunReport>>) {
        self.sink(Exchange::new(|_| 0), name, move |(input, _frontier)| {
            input.for_each(|_cap, data| {
                let mut report = report.borrow_mut();
                for event in data.drain(..) {
                    report.add(event);
                }
            });
        });
    }
}
