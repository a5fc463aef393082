//! Gathers everything the server needs on worker 0, one finished epoch at a time: forecast
//! updates, hourly aggregate updates, the watermark state and row outcomes in; one
//! [`LiveEpoch`] per epoch out, handed to a callback once all four inputs have passed it.
//!
//! Because an epoch is handed over only when every input is complete for it, a consumer that
//! publishes per epoch never shows a half-applied update.

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::StreamVec;

use crate::forecast::ZoneForecast;
use crate::live::LiveEpoch;
use crate::report::Report;
use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::WatermarkState;

/// Extension trait: sink a forecast dataflow's outputs into per-epoch [`LiveEpoch`]s.
pub trait SinkLive<'scope> {
    /// Routes the forecasts, hourly updates and reports to worker 0 (the `states` stream must
    /// already be on every worker, as the watermark feedback is) and calls `on_epoch` there
    /// with each finished epoch, in epoch order. Other workers call nothing.
    ///
    /// # Examples
    /// ```
    /// use differential_dataflow::input::Input;
    /// use timely::dataflow::operators::generic::operator::empty;
    /// use zonecast::forecast::ZoneForecast;
    /// use zonecast::sinks::live::SinkLive;
    ///
    /// timely::example(|scope| {
    ///     let forecast = ZoneForecast { zone: 7, target_hour: 10, milli_pickups: 2500, model_version: "v".into(), fallback: false };
    ///     let (_f, forecasts) = scope.new_collection_from(vec![forecast]);
    ///     let (_h, hourly) = scope.new_collection_from(Vec::new());
    ///     forecasts.sink_live_named("SinkLive", hourly, empty(scope), empty(scope), |epoch, live| {
    ///         assert_eq!((epoch, live.forecasts.len()), (0, 1));
    ///     });
    /// });
    /// ```
    fn sink_live_named<F>(
        self,
        name: &str,
        hourly: VecCollection<'scope, u64, (ZoneHour, HourlyStats)>,
        states: StreamVec<'scope, u64, WatermarkState>,
        reports: StreamVec<'scope, u64, Report>,
        on_epoch: F,
    ) where
        F: FnMut(u64, LiveEpoch) + 'static;
}

impl<'scope> SinkLive<'scope> for VecCollection<'scope, u64, ZoneForecast> {
    fn sink_live_named<F>(
        self,
        name: &str,
        hourly: VecCollection<'scope, u64, (ZoneHour, HourlyStats)>,
        states: StreamVec<'scope, u64, WatermarkState>,
        reports: StreamVec<'scope, u64, Report>,
        mut on_epoch: F,
    ) where
        F: FnMut(u64, LiveEpoch) + 'static,
    {
        let scope = self.inner.scope();
        let leader = scope.index() == 0;
        let mut builder = OperatorBuilder::new(name.to_owned(), scope);
        let mut forecasts_in = builder.new_input(self.inner, Exchange::new(|_| 0));
        let mut hourly_in = builder.new_input(hourly.inner, Exchange::new(|_| 0));
        let mut states_in = builder.new_input(states, Pipeline);
        let mut reports_in = builder.new_input(reports, Exchange::new(|_| 0));
        builder.build(move |_capabilities| {
            let mut pending: BTreeMap<u64, LiveEpoch> = BTreeMap::new();
            let mut latest_state: Option<WatermarkState> = None;
            move |frontiers| {
                forecasts_in.for_each(|_cap, data| {
                    for (forecast, time, diff) in data.drain(..) {
                        pending
                            .entry(time)
                            .or_default()
                            .forecasts
                            .push((forecast, diff));
                    }
                });
                hourly_in.for_each(|_cap, data| {
                    for (record, time, diff) in data.drain(..) {
                        pending.entry(time).or_default().hourly.push((record, diff));
                    }
                });
                states_in.for_each(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    if let Some(state) = data.drain(..).max_by(|a, b| a.watermark.cmp(&b.watermark))
                    {
                        if leader {
                            let slot = &mut pending.entry(time).or_default().watermark;
                            if slot.as_ref().is_none_or(|s| s.watermark <= state.watermark) {
                                *slot = Some(state);
                            }
                        }
                    }
                });
                reports_in.for_each(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    pending.entry(time).or_default().reports.append(data);
                });
                while let Some(entry) = pending.first_entry() {
                    let epoch = *entry.key();
                    if frontiers.iter().any(|f| f.less_equal(&epoch)) {
                        break;
                    }
                    let mut live = entry.remove();
                    differential_dataflow::consolidation::consolidate(&mut live.forecasts);
                    differential_dataflow::consolidation::consolidate(&mut live.hourly);
                    match &live.watermark {
                        Some(state) => latest_state = Some(state.clone()),
                        None => live.watermark = latest_state.clone(),
                    }
                    if leader {
                        on_epoch(epoch, live);
                    }
                }
            }
        });
    }
}
