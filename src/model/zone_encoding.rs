//! Zone target encoding: the zones and targets of training rows in, per zone a smoothed mean
//! target out (a feature giving a model the zone's identity as a number).
//!
//! Fitted on the training rows only (never the validation rows), so the validation error is
//! honest. A training row's own target is part of its zone's value (a zone has hundreds of
//! rows, so each weighs little; CatBoost's ordered statistics would avoid even that). A zone's value is its mean target pulled towards the mean of every training row
//! by [`SMOOTHING`] rows' weight, so a zone seen a few times does not get an extreme value; a
//! zone unseen in training gets the overall mean.

use serde::{Deserialize, Serialize};

/// Rows' weight of the overall mean in every zone's value.
pub const SMOOTHING: f64 = 24.0;

/// Per zone, the smoothed mean target of its training rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneEncoding {
    /// `(zone, value)`, ascending by zone.
    values: Vec<(u16, f64)>,
    /// The mean target of every training row (the value of an unseen zone).
    prior: f64,
}

impl ZoneEncoding {
    /// Fits on training rows' `(zone, target)`.
    ///
    /// ```
    /// use zonecast::model::zone_encoding::{ZoneEncoding, SMOOTHING};
    /// let rows = [(1, 10.0), (1, 14.0), (2, 0.0), (2, 0.0)];
    /// let encoding = ZoneEncoding::fit(rows);
    /// let prior = 6.0; // the mean of all four targets
    /// assert_eq!(encoding.of(1), (24.0 + SMOOTHING * prior) / (2.0 + SMOOTHING));
    /// assert_eq!(encoding.of(7), prior);
    /// ```
    pub fn fit(rows: impl IntoIterator<Item = (u16, f64)>) -> ZoneEncoding {
        let mut sums = std::collections::BTreeMap::<u16, (f64, f64)>::new();
        let (mut total, mut count) = (0.0, 0.0);
        for (zone, target) in rows {
            let entry = sums.entry(zone).or_default();
            *entry = (entry.0 + target, entry.1 + 1.0);
            total += target;
            count += 1.0;
        }
        let prior = if count > 0.0 { total / count } else { 0.0 };
        let values = sums
            .into_iter()
            .map(|(zone, (sum, n))| (zone, (sum + SMOOTHING * prior) / (n + SMOOTHING)))
            .collect();
        ZoneEncoding { values, prior }
    }

    /// The value of `zone`.
    pub fn of(&self, zone: u16) -> f64 {
        match self.values.binary_search_by_key(&zone, |&(z, _)| z) {
            Ok(at) => self.values[at].1,
            Err(_) => self.prior,
        }
    }
}
