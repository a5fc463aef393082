//! Online evaluation: served forecasts and final actual counts in, mean absolute errors out —
//! overall and per zone over the last `window` final hours, next to the three baselines on
//! exactly the same (zone, hour) pairs.
//!
//! An hour joins the evaluation once it can no longer change (older than the watermark minus
//! the allowed lateness). The baselines are computed from the final counts: the previous
//! hour, the same hour last week and the mean of the same hour over the last four weeks (fewer
//! when the data is younger; the previous hour when there is no earlier week).

use std::collections::BTreeMap;

use super::state::LiveState;

/// Mean absolute errors of the model and the three baselines on the same forecasts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneErrors {
    /// Forecasts evaluated.
    pub forecasts: u64,
    /// The served forecasts' MAE (`None` when nothing was evaluated).
    pub mae: Option<f64>,
    /// `previous_hour`'s MAE.
    pub previous_hour: Option<f64>,
    /// `same_hour_last_week`'s MAE.
    pub same_hour_last_week: Option<f64>,
    /// `four_week_mean`'s MAE.
    pub four_week_mean: Option<f64>,
}

/// The online evaluation at one watermark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Final hours looked at.
    pub window_hours: u32,
    /// First hour evaluated (inclusive).
    pub from_hour: Option<i64>,
    /// Last hour evaluated (inclusive).
    pub to_hour: Option<i64>,
    /// All zones together.
    pub overall: ZoneErrors,
    /// Per zone, ascending.
    pub zones: BTreeMap<u16, ZoneErrors>,
}

#[derive(Default)]
struct Sums {
    n: u64,
    model: f64,
    previous: f64,
    same_hour: f64,
    four_week: f64,
}

impl Sums {
    fn add(&mut self, actual: f64, [model, previous, same_hour, four_week]: [f64; 4]) {
        self.n += 1;
        self.model += (model - actual).abs();
        self.previous += (previous - actual).abs();
        self.same_hour += (same_hour - actual).abs();
        self.four_week += (four_week - actual).abs();
    }

    fn errors(&self) -> ZoneErrors {
        let mean = |sum: f64| (self.n > 0).then(|| sum / self.n as f64);
        ZoneErrors {
            forecasts: self.n,
            mae: mean(self.model),
            previous_hour: mean(self.previous),
            same_hour_last_week: mean(self.same_hour),
            four_week_mean: mean(self.four_week),
        }
    }
}

/// The three baselines for `(zone, hour)` from the state's counts.
fn baselines(state: &LiveState, zone: u16, hour: i64) -> [f64; 3] {
    let previous = state.actual(zone, hour - 1).unwrap_or(0) as f64;
    let weeks: Vec<f64> = (1..=4)
        .map_while(|k| state.actual(zone, hour - 168 * k))
        .map(f64::from)
        .collect();
    let same_hour = weeks.first().copied().unwrap_or(previous);
    let four_week = if weeks.is_empty() {
        previous
    } else {
        weeks.iter().sum::<f64>() / weeks.len() as f64
    };
    [previous, same_hour, four_week]
}

impl Evaluation {
    /// Evaluates the forecasts of the last `window` final hours.
    pub fn compute(state: &LiveState, window: u32) -> Evaluation {
        let mut evaluation = Evaluation {
            window_hours: window,
            ..Evaluation::default()
        };
        let Some(closed) = state.closed_before() else {
            return evaluation;
        };
        let (from, to) = (closed - window as i64, closed - 1);
        evaluation.from_hour = Some(from);
        evaluation.to_hour = Some(to);
        let mut overall = Sums::default();
        let mut zones: BTreeMap<u16, Sums> = BTreeMap::new();
        for &zone in state.known_zones() {
            for hour in from..=to {
                let (Some(forecast), Some(actual)) =
                    (state.forecast(zone, hour), state.actual(zone, hour))
                else {
                    continue;
                };
                let [previous, same_hour, four_week] = baselines(state, zone, hour);
                let predictions = [forecast.pickups(), previous, same_hour, four_week];
                overall.add(actual as f64, predictions);
                zones
                    .entry(zone)
                    .or_default()
                    .add(actual as f64, predictions);
            }
        }
        evaluation.overall = overall.errors();
        evaluation.zones = zones.into_iter().map(|(z, s)| (z, s.errors())).collect();
        evaluation
    }
}
