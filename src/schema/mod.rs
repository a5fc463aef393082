//! Which input column is which: TLC header names in, column positions out.
//!
//! zonecast reads five fields of a trip. Each has a canonical name and the TLC aliases that
//! are recognised automatically, case-insensitively; other columns are ignored:
//!
//! | field | recognised names |
//! |---|---|
//! | `pickup_datetime` (required) | `tpep_pickup_datetime`, `lpep_pickup_datetime`, `pickup_datetime` |
//! | `pickup_zone` (required) | `PULocationID`, `pickup_location_id`, `pickup_zone` |
//! | `trip_distance` | `trip_distance` |
//! | `fare_amount` | `fare_amount` |
//! | `total_amount` | `total_amount` |
//!
//! Any other name is mapped with a [`ColumnMap`] override, e.g. `--column
//! pickup_datetime=pickup_time` on the command line.

pub mod csv_line;
pub mod values;

use std::fmt;
use std::str::FromStr;

/// A field zonecast reads from every trip row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Pickup time (naive local time).
    PickupDatetime,
    /// Pickup zone id (1..=265).
    PickupZone,
    /// Trip distance in miles.
    TripDistance,
    /// Fare in dollars.
    FareAmount,
    /// Total charged in dollars.
    TotalAmount,
}

impl Field {
    /// Every field, in a fixed order.
    pub const ALL: [Field; 5] = [
        Field::PickupDatetime,
        Field::PickupZone,
        Field::TripDistance,
        Field::FareAmount,
        Field::TotalAmount,
    ];

    /// The canonical name (used in `--column NAME=...`).
    pub fn name(self) -> &'static str {
        match self {
            Field::PickupDatetime => "pickup_datetime",
            Field::PickupZone => "pickup_zone",
            Field::TripDistance => "trip_distance",
            Field::FareAmount => "fare_amount",
            Field::TotalAmount => "total_amount",
        }
    }

    /// The header names recognised without configuration (compared case-insensitively).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::PickupDatetime => &[
                "tpep_pickup_datetime",
                "lpep_pickup_datetime",
                "pickup_datetime",
            ],
            Field::PickupZone => &["pulocationid", "pickup_location_id", "pickup_zone"],
            Field::TripDistance => &["trip_distance"],
            Field::FareAmount => &["fare_amount"],
            Field::TotalAmount => &["total_amount"],
        }
    }

    /// Whether a row without this column cannot be used.
    pub fn required(self) -> bool {
        matches!(self, Field::PickupDatetime | Field::PickupZone)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors in a schema: a column mapping that cannot be read, or an input without a required column.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A column override was not `FIELD=NAME` or named an unknown field.
    #[error("cannot read column mapping {0:?}: write FIELD=NAME with FIELD one of pickup_datetime, pickup_zone, trip_distance, fare_amount, total_amount")]
    BadMapping(String),
    /// A required field matched no column.
    #[error("{source_name}: no column for {field} (looked for {tried}; the input has {found}); map the column explicitly ({field}=NAME)")]
    MissingColumn {
        /// The input being read.
        source_name: String,
        /// The field that is missing.
        field: Field,
        /// The names that were tried.
        tried: String,
        /// The names the input has.
        found: String,
    },
}

/// User overrides from canonical field to input column name. Empty means "TLC names only".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMap {
    overrides: Vec<(Field, String)>,
}

/// One `FIELD=NAME` mapping, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnOverride(pub Field, pub String);

impl FromStr for ColumnOverride {
    type Err = SchemaError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (field, name) = text
            .split_once('=')
            .ok_or_else(|| SchemaError::BadMapping(text.into()))?;
        let field = Field::ALL
            .into_iter()
            .find(|f| {
                f.name().eq_ignore_ascii_case(field.trim())
                    || f.aliases()
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(field.trim()))
            })
            .ok_or_else(|| SchemaError::BadMapping(text.into()))?;
        if name.trim().is_empty() {
            return Err(SchemaError::BadMapping(text.into()));
        }
        Ok(ColumnOverride(field, name.trim().to_string()))
    }
}

impl ColumnMap {
    /// A map from overrides; a later override of the same field wins.
    pub fn new(overrides: impl IntoIterator<Item = ColumnOverride>) -> Self {
        ColumnMap {
            overrides: overrides
                .into_iter()
                .map(|ColumnOverride(f, n)| (f, n))
                .collect(),
        }
    }

    /// The names tried for `field`, most specific first.
    fn candidates(&self, field: Field) -> Vec<String> {
        let mut names: Vec<String> = self
            .overrides
            .iter()
            .rev()
            .filter(|(f, _)| *f == field)
            .map(|(_, n)| n.clone())
            .collect();
        if names.is_empty() {
            names.extend(field.aliases().iter().map(|a| a.to_string()));
        }
        names
    }

    /// Finds each field's column among `header` names.
    pub fn resolve(&self, source_name: &str, header: &[String]) -> Result<Resolved, SchemaError> {
        let mut index = [None; 5];
        for (slot, field) in index.iter_mut().zip(Field::ALL) {
            let tried = self.candidates(field);
            *slot = tried.iter().find_map(|name| {
                header
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(name))
            });
            if slot.is_none() && field.required() {
                return Err(SchemaError::MissingColumn {
                    source_name: source_name.to_string(),
                    field,
                    tried: tried.join(", "),
                    found: crate::reject::bounded(header.join(", ").as_bytes(), 200),
                });
            }
        }
        Ok(Resolved {
            pickup: index[0].expect("required"),
            zone: index[1].expect("required"),
            distance: index[2],
            fare: index[3],
            total: index[4],
            names: header.to_vec(),
        })
    }
}

/// Column positions of the fields, found in one input's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Pickup time column.
    pub pickup: usize,
    /// Pickup zone column.
    pub zone: usize,
    /// `trip_distance` column, if present.
    pub distance: Option<usize>,
    /// `fare_amount` column, if present.
    pub fare: Option<usize>,
    /// `total_amount` column, if present.
    pub total: Option<usize>,
    /// Every column name of the input, in order.
    pub names: Vec<String>,
}

impl Resolved {
    /// The optional numeric columns with their positions.
    pub fn numeric(&self) -> [(Field, Option<usize>); 3] {
        [
            (Field::TripDistance, self.distance),
            (Field::FareAmount, self.fare),
            (Field::TotalAmount, self.total),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn resolves_tlc_names_case_insensitively() {
        let r = ColumnMap::default()
            .resolve(
                "x",
                &names("VendorID,LPEP_PICKUP_DATETIME,pulocationid,fare_amount"),
            )
            .unwrap();
        assert_eq!(
            (r.pickup, r.zone, r.fare, r.distance),
            (1, 2, Some(3), None)
        );
    }

    #[test]
    fn overrides_and_clear_errors() {
        let map = ColumnMap::new(["pickup_datetime=when".parse::<ColumnOverride>().unwrap()]);
        let r = map.resolve("x", &names("when,PULocationID")).unwrap();
        assert_eq!(r.pickup, 0);
        let err = ColumnMap::default()
            .resolve("f.csv", &names("a,b"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("map the column explicitly (pickup_datetime=NAME)"),
            "{err}"
        );
        assert!(!err.contains("--"), "{err}");
        assert!("nonsense".parse::<ColumnOverride>().is_err());
        assert!("colour=x".parse::<ColumnOverride>().is_err());
    }
}
