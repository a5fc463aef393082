//! Trip rows built by a program (a test, a notebook, a Kafka consumer) in, validated
//! [`Trip`]s or reject reasons out — by the same field checks as file rows, so a value is
//! accepted or rejected the same way whether it came from a CSV line, a Parquet column or a
//! push.

use crate::reject::RejectReason;
use crate::schema::values::{
    check_pickup, check_zone, micros_from_f64, parse_micros, parse_pickup, parse_zone,
};
use crate::trip::Trip;

/// One field value of a pushed row, typed as it came (like a Parquet column's value).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// Absent or null.
    #[default]
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text, parsed like a CSV field.
    Text(String),
    /// A naive timestamp (New York local time), in seconds since 1970-01-01 00:00:00.
    Timestamp(i64),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A trip row with the five fields zonecast reads.
///
/// ```
/// use zonecast::sources::trip_row::TripRow;
/// let row = TripRow::new("2024-01-05 08:15:00", 132).amounts(3.2, 14.5, 19.0);
/// let trip = row.validate().unwrap();
/// assert_eq!(trip.zone, 132);
/// assert!(TripRow::new("yesterday", 132).validate().is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TripRow {
    /// Pickup time: text (`2024-01-05 08:15:00`) or a naive timestamp.
    pub pickup_datetime: Value,
    /// Pickup zone (TLC location id, 1..=265).
    pub pickup_zone: Value,
    /// Trip distance (optional).
    pub trip_distance: Value,
    /// Fare amount (optional).
    pub fare_amount: Value,
    /// Total amount (optional).
    pub total_amount: Value,
}

impl TripRow {
    /// A row with a pickup time and zone and no amounts.
    pub fn new(pickup: impl Into<Value>, zone: impl Into<Value>) -> Self {
        TripRow {
            pickup_datetime: pickup.into(),
            pickup_zone: zone.into(),
            ..TripRow::default()
        }
    }

    /// The same row with distance, fare and total.
    pub fn amounts(
        mut self,
        distance: impl Into<Value>,
        fare: impl Into<Value>,
        total: impl Into<Value>,
    ) -> Self {
        self.trip_distance = distance.into();
        self.fare_amount = fare.into();
        self.total_amount = total.into();
        self
    }

    /// The trip, or why the row is rejected (the checks file rows go through).
    pub fn validate(&self) -> Result<Trip, RejectReason> {
        let pickup = match &self.pickup_datetime {
            Value::Null => Err(RejectReason::MissingPickup),
            Value::Timestamp(secs) => check_pickup(*secs),
            Value::Text(text) => parse_pickup(text.as_bytes()),
            Value::Int(v) => Err(RejectReason::BadPickup(v.to_string())),
            Value::Float(v) => Err(RejectReason::BadPickup(v.to_string())),
        }?;
        let zone = match &self.pickup_zone {
            Value::Null => Err(RejectReason::MissingZone),
            Value::Int(v) => check_zone(*v),
            Value::Float(v) if v.fract() != 0.0 || !v.is_finite() => {
                Err(RejectReason::BadZone(v.to_string()))
            }
            Value::Float(v) => check_zone(*v as i64),
            Value::Text(text) => parse_zone(text.as_bytes()),
            Value::Timestamp(v) => Err(RejectReason::BadZone(v.to_string())),
        }?;
        let mut amounts = [None; 3];
        let fields = [
            (&self.trip_distance, "trip_distance"),
            (&self.fare_amount, "fare_amount"),
            (&self.total_amount, "total_amount"),
        ];
        for (slot, (value, column)) in amounts.iter_mut().zip(fields) {
            *slot = match value {
                Value::Null => None,
                Value::Int(v) => Some(micros_from_f64(*v as f64, column)?),
                Value::Float(v) => Some(micros_from_f64(*v, column)?),
                Value::Text(text) => parse_micros(text.as_bytes(), column)?,
                Value::Timestamp(v) => {
                    return Err(RejectReason::BadNumber {
                        column: column.to_string(),
                        value: v.to_string(),
                    })
                }
            };
        }
        Ok(Trip::new(pickup, zone, amounts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_typed_values_agree() {
        let text = TripRow::new("2024-01-05 08:15:00", "132").amounts("1.5", "", "20");
        let typed = TripRow::new(Value::Timestamp(text.validate().unwrap().pickup), 132).amounts(
            1.5,
            Value::Null,
            20i64,
        );
        assert_eq!(text.validate(), typed.validate());
    }

    #[test]
    fn bad_fields_are_rejected_with_reasons() {
        let reason = |row: TripRow| row.validate().unwrap_err().code();
        assert_eq!(reason(TripRow::new(Value::Null, 1)), "missing_pickup");
        assert_eq!(
            reason(TripRow::new("2024-01-05 08:15:00", 999)),
            "zone_out_of_range"
        );
        assert_eq!(reason(TripRow::new("2024-01-05 08:15:00", 1.5)), "bad_zone");
        assert_eq!(
            reason(TripRow::new("2024-01-05 08:15:00", 1).amounts(f64::NAN, 1.0, 1.0)),
            "bad_number"
        );
        assert_eq!(
            reason(TripRow::new("1999-01-05 08:15:00", 1)),
            "pickup_out_of_range"
        );
    }
}
