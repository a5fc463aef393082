//! CSV rows: one line of bytes in, a validated [`Trip`] or a [`RejectReason`] out.
//!
//! Lines are split by zonecast itself rather than by a streaming CSV reader so that one bad
//! line (a stray quote, binary garbage) can never swallow the good lines after it: a record is
//! exactly one line, and a quote must close on the line it opens.

use crate::reject::RejectReason;
use crate::schema::csv_line::split_fields;
pub use crate::schema::csv_line::{split_header, strip_line_end};
use crate::schema::values::{parse_micros, parse_pickup, parse_zone};
use crate::schema::{ColumnMap, Resolved, SchemaError};
use crate::trip::Trip;

/// Lines longer than this are rejected without being parsed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Parses the data lines of one CSV input whose header is known.
#[derive(Clone, Debug)]
pub struct CsvRowParser {
    columns: Resolved,
    field_count: usize,
    /// For each column: which of the five fields it is (`NOT_READ` for the others).
    slot_of_column: Vec<u8>,
    bounds: Vec<(usize, usize)>,
}

const NOT_READ: u8 = u8::MAX;
const PICKUP: usize = 0;
const ZONE: usize = 1;

/// Bytes of `word` equal to `byte`, as the high bit of each byte lane (exact, no false hits).
#[inline]
fn lanes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let v = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// The fast path for lines without quotes: commas found eight bytes at a time; the bounds of
/// the columns zonecast reads go into `spans` by slot. Returns the number of fields, or `None`
/// when the line has a quote.
fn split_into_slots(
    line: &[u8],
    slot_of_column: &[u8],
    spans: &mut [(usize, usize); 5],
) -> Option<usize> {
    let mut start = 0;
    let mut base = 0;
    let mut field = 0;
    let mut end_field = |field: &mut usize, start: &mut usize, end: usize| {
        if let Some(&slot) = slot_of_column.get(*field) {
            if slot != NOT_READ {
                spans[slot as usize] = (*start, end);
            }
        }
        *field += 1;
        *start = end + 1;
    };
    let mut chunks = line.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if lanes_equal(word, b'"') != 0 {
            return None;
        }
        let mut commas = lanes_equal(word, b',');
        while commas != 0 {
            let i = base + (commas.trailing_zeros() / 8) as usize;
            end_field(&mut field, &mut start, i);
            commas &= commas - 1;
        }
        base += 8;
    }
    for (k, &b) in chunks.remainder().iter().enumerate() {
        match b {
            b',' => end_field(&mut field, &mut start, base + k),
            b'"' => return None,
            _ => {}
        }
    }
    end_field(&mut field, &mut start, line.len());
    Some(field)
}

/// The fast path for lines without quotes: commas found eight bytes at a time.
/// Returns false (bounds unspecified) when the line has a quote.
#[cfg(test)]
fn split_unquoted(line: &[u8], bounds: &mut Vec<(usize, usize)>) -> bool {
    let mut start = 0;
    let mut base = 0;
    let mut chunks = line.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if lanes_equal(word, b'"') != 0 {
            return false;
        }
        let mut commas = lanes_equal(word, b',');
        while commas != 0 {
            let i = base + (commas.trailing_zeros() / 8) as usize;
            bounds.push((start, i));
            start = i + 1;
            commas &= commas - 1;
        }
        base += 8;
    }
    for (k, &b) in chunks.remainder().iter().enumerate() {
        match b {
            b',' => {
                bounds.push((start, base + k));
                start = base + k + 1;
            }
            b'"' => return false,
            _ => {}
        }
    }
    bounds.push((start, line.len()));
    true
}

impl CsvRowParser {
    /// A parser for rows under `header` (the header line's names).
    pub fn new(source_name: &str, header: &[String], map: &ColumnMap) -> Result<Self, SchemaError> {
        let columns = map.resolve(source_name, header)?;
        let mut slot_of_column = vec![NOT_READ; header.len()];
        let reads = [
            Some(columns.pickup),
            Some(columns.zone),
            columns.distance,
            columns.fare,
            columns.total,
        ];
        for (slot, column) in reads.iter().enumerate().rev() {
            if let Some(c) = column {
                slot_of_column[*c] = slot as u8;
            }
        }
        Ok(CsvRowParser {
            field_count: header.len(),
            columns,
            slot_of_column,
            bounds: Vec::with_capacity(header.len() + 1),
        })
    }

    /// Parses one data line (with or without its line ending).
    pub fn parse(&mut self, line: &[u8]) -> Result<Trip, RejectReason> {
        let line = strip_line_end(line);
        if line.len() > MAX_LINE_BYTES {
            return Err(RejectReason::LineTooLong(line.len() as u64));
        }
        let mut spans = [(0, 0); 5];
        let fields = match split_into_slots(line, &self.slot_of_column, &mut spans) {
            Some(fields) => fields,
            None => {
                split_fields(line, &mut self.bounds)?;
                for (column, &slot) in self.slot_of_column.iter().enumerate() {
                    if let (Some(&bounds), true) = (self.bounds.get(column), slot != NOT_READ) {
                        spans[slot as usize] = bounds;
                    }
                }
                self.bounds.len()
            }
        };
        if fields != self.field_count {
            return Err(RejectReason::WrongFieldCount {
                expected: self.field_count,
                found: fields,
            });
        }
        let field = |slot: usize| &line[spans[slot].0..spans[slot].1];
        let pickup = parse_pickup(field(PICKUP))?;
        let zone = parse_zone(field(ZONE))?;
        let mut values = [None; 3];
        for (k, (slot, (_, index))) in values.iter_mut().zip(self.columns.numeric()).enumerate() {
            if let Some(i) = index {
                *slot = parse_micros(field(2 + k), &self.columns.names[i])?;
            }
        }
        Ok(Trip::new(pickup, zone, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(header: &str) -> CsvRowParser {
        CsvRowParser::new("t", &split_header(header.as_bytes()), &ColumnMap::default()).unwrap()
    }

    #[test]
    fn parses_tlc_rows() {
        let mut p = parser(
            "VendorID,tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount\r\n",
        );
        let t = p
            .parse(b"1,2019-06-01 00:55:13,145,0.0,3.0,4.3\r\n")
            .unwrap();
        assert_eq!(
            (t.zone, t.fare, t.total, t.distance),
            (145, Some(3_000_000), Some(4_300_000), Some(0))
        );
        let t = p.parse(b"1,\"2019-06-01 00:55:13\",\"145\",,,4.3").unwrap();
        assert_eq!((t.zone, t.fare), (145, None));
    }

    #[test]
    fn fast_and_quoted_splitting_agree() {
        let mut fast = Vec::new();
        let mut slow = Vec::new();
        for line in [
            &b""[..],
            b",",
            b"a,b",
            b"abcdefgh,ijklmnop,,q",
            b"1,2,3,4,5,6,7,8,9,10,11,12",
            b",,,,,,,,,",
        ] {
            assert!(split_unquoted(line, &mut fast));
            let mut quoted = line.to_vec();
            quoted.extend_from_slice(b",\"x\"");
            split_fields(&quoted, &mut slow).unwrap();
            slow.pop();
            assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(line));
            fast.clear();
        }
        assert!(!split_unquoted(b"abcdefghij\"", &mut fast));
        assert!(!split_unquoted(b"ab\"", &mut fast));
    }

    #[test]
    fn rejects_with_reasons() {
        let mut p = parser("tpep_pickup_datetime,PULocationID,fare_amount");
        assert_eq!(
            p.parse(b"2019-06-01 00:00:00,1"),
            Err(RejectReason::WrongFieldCount {
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            p.parse(b"2019-06-01 00:00:00,\"1,2"),
            Err(RejectReason::BadQuoting)
        );
        assert!(matches!(
            p.parse(b"2019-06-01 00:00:00,1,x"),
            Err(RejectReason::BadNumber { .. })
        ));
        assert!(matches!(
            p.parse(b"\xff\xfe,\x00,1"),
            Err(RejectReason::BadPickup(_))
        ));
        let long = vec![b'a'; MAX_LINE_BYTES + 1];
        assert!(matches!(p.parse(&long), Err(RejectReason::LineTooLong(_))));
    }
}
