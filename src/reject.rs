//! Why a row was set aside: every rejected or late row carries one of these, with its position.
//!
//! In: positions and reasons from sources and the lateness classifier. Out: the rejects file
//! (one line per row) and the per-reason counts in the job summary.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::format_naive;
use crate::trip::RowPos;

/// The reason a row was rejected. [`RejectReason::code`] is the short name used in summaries.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RejectReason {
    /// The pickup time field is empty or null.
    MissingPickup,
    /// The pickup time does not parse (the text, shortened).
    BadPickup(String),
    /// The pickup time parses but lies outside the plausible range (before 2001 or after 2099).
    PickupOutOfRange(i64),
    /// The pickup time is far ahead of the stream's watermark and no other trips back it up.
    PickupFarAhead {
        /// The row's pickup time.
        pickup: i64,
        /// The watermark when the row was classified.
        watermark: i64,
    },
    /// The pickup zone field is empty or null.
    MissingZone,
    /// The pickup zone is not an integer (the text, shortened).
    BadZone(String),
    /// The pickup zone is an integer outside 1..=265.
    ZoneOutOfRange(i64),
    /// A CSV row whose number of fields differs from the header's.
    WrongFieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A non-empty numeric field that does not parse.
    BadNumber {
        /// The column, as named in the input.
        column: String,
        /// The text, shortened.
        value: String,
    },
    /// A numeric field beyond +-1e12 (it would not be a trip).
    NumberOutOfRange {
        /// The column, as named in the input.
        column: String,
    },
    /// A quote that opens a CSV field and never closes on the same line.
    BadQuoting,
    /// A line longer than the limit; it was skipped without parsing.
    LineTooLong(u64),
    /// A socket client disconnected in the middle of a line; the partial line was dropped.
    PartialLine(u64),
    /// A socket client's header line could not be used (the message says why).
    BadHeader(String),
}

impl RejectReason {
    /// The short snake_case name used to count rejects by reason.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::MissingPickup => "missing_pickup",
            RejectReason::BadPickup(_) => "bad_pickup",
            RejectReason::PickupOutOfRange(_) => "pickup_out_of_range",
            RejectReason::PickupFarAhead { .. } => "pickup_far_ahead",
            RejectReason::MissingZone => "missing_zone",
            RejectReason::BadZone(_) => "bad_zone",
            RejectReason::ZoneOutOfRange(_) => "zone_out_of_range",
            RejectReason::WrongFieldCount { .. } => "wrong_field_count",
            RejectReason::BadNumber { .. } => "bad_number",
            RejectReason::NumberOutOfRange { .. } => "number_out_of_range",
            RejectReason::BadQuoting => "bad_quoting",
            RejectReason::LineTooLong(_) => "line_too_long",
            RejectReason::PartialLine(_) => "partial_line",
            RejectReason::BadHeader(_) => "bad_header",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::MissingPickup => write!(f, "pickup time is empty"),
            RejectReason::BadPickup(v) => write!(f, "pickup time {v:?} is not YYYY-MM-DD HH:MM:SS"),
            RejectReason::PickupOutOfRange(t) => {
                write!(f, "pickup time {} is outside 2001..2099", format_naive(*t))
            }
            RejectReason::PickupFarAhead { pickup, watermark } => write!(
                f,
                "pickup time {} is far ahead of the watermark {} and no other trips back it up",
                format_naive(*pickup),
                format_naive(*watermark)
            ),
            RejectReason::MissingZone => write!(f, "pickup zone is empty"),
            RejectReason::BadZone(v) => write!(f, "pickup zone {v:?} is not an integer"),
            RejectReason::ZoneOutOfRange(z) => write!(f, "pickup zone {z} is outside 1..=265"),
            RejectReason::WrongFieldCount { expected, found } => {
                write!(f, "row has {found} fields, the header has {expected}")
            }
            RejectReason::BadNumber { column, value } => {
                write!(f, "{column} {value:?} is not a number")
            }
            RejectReason::NumberOutOfRange { column } => write!(f, "{column} is beyond +-1e12"),
            RejectReason::BadQuoting => write!(f, "a quoted field does not close on its line"),
            RejectReason::LineTooLong(n) => write!(f, "line of {n} bytes is over the line limit"),
            RejectReason::PartialLine(n) => {
                write!(
                    f,
                    "client disconnected mid-line; {n} bytes of a partial line dropped"
                )
            }
            RejectReason::BadHeader(message) => {
                write!(f, "the client's header is unusable: {message}")
            }
        }
    }
}

/// A row set aside with its reason.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reject {
    /// Where the row was.
    pub pos: RowPos,
    /// Why it was set aside.
    pub reason: RejectReason,
}

/// Shortens a field for a reject message, replacing bytes that are not UTF-8 and escaping
/// control characters (so a crafted file cannot send terminal escape sequences).
///
/// ```
/// use zonecast::reject::snippet;
/// assert_eq!(snippet(b"2024-13-01"), "2024-13-01");
/// assert_eq!(snippet(b"\x1b[31mred"), "\\u{1b}[31mred");
/// assert!(snippet(&[b'x'; 500]).ends_with("..."));
/// ```
pub fn snippet(bytes: &[u8]) -> String {
    bounded(bytes, 40)
}

/// Echoed input, at most `max` bytes of it, lossily decoded and with control characters
/// escaped; `...` marks a cut.
pub fn bounded(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    let mut out: String = text
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}
