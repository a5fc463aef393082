//! CSV rows: one line of bytes in, a validated [`Trip`] or a [`RejectReason`] out.
//!
//! The line is split into fields by [`crate::schema::csv_line`], which every CSV reader shares
//! (a record is one line and a quote must close on it, so one bad line never swallows the
//! next): a quote-free line by its comma scan, which copies nothing, and a line with a quote by
//! a `csv-core` reader this parser keeps and reuses. Here the field count is checked against
//! the header and the five fields zonecast reads are parsed (`schema::values`).

use csv_core::Reader;

use crate::reject::RejectReason;
use crate::schema::csv_line::{line_reader, split_into_slots, split_line, NOT_READ};
pub use crate::schema::csv_line::{split_header, strip_line_end};
use crate::schema::values::{parse_micros, parse_pickup, parse_zone};
use crate::schema::{ColumnMap, Resolved, SchemaError};
use crate::trip::Trip;

/// Lines longer than this are rejected without being parsed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Parses the data lines of one CSV input whose header is known.
#[derive(Debug)]
pub struct CsvRowParser {
    columns: Resolved,
    field_count: usize,
    /// For each column: which of the five fields it is (`NOT_READ` for the others).
    slot_of_column: Vec<u8>,
    /// The `csv-core` reader for lines with a quote ([`line_reader`]), made at the first such
    /// line and reused (it is at the start of a record between lines); boxed, as its tables
    /// take half a kilobyte.
    reader: Option<Box<Reader>>,
    /// The unescaped bytes of a quoted line's fields, one after the other.
    fields: Vec<u8>,
    /// Where each field of a quoted line ends in `fields` (one per header column).
    ends: Vec<usize>,
}

const PICKUP: usize = 0;
const ZONE: usize = 1;

impl Clone for CsvRowParser {
    /// A clone makes its own reader when it needs one: `csv_core::Reader::clone` (0.1.13)
    /// copies only part of its transition tables, and the copy splits nothing.
    fn clone(&self) -> Self {
        CsvRowParser {
            columns: self.columns.clone(),
            field_count: self.field_count,
            slot_of_column: self.slot_of_column.clone(),
            reader: None,
            fields: Vec::new(),
            ends: self.ends.clone(),
        }
    }
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
            reader: None,
            fields: Vec::new(),
            ends: vec![0; header.len().max(1)],
        })
    }

    /// Parses one data line (with or without its line ending).
    pub fn parse(&mut self, line: &[u8]) -> Result<Trip, RejectReason> {
        let line = strip_line_end(line);
        if line.len() > MAX_LINE_BYTES {
            return Err(RejectReason::LineTooLong(line.len() as u64));
        }
        let mut spans = [(0, 0); 5];
        let (found, text) = match split_into_slots(line, &self.slot_of_column, &mut spans) {
            Some(found) => (found, line),
            None => {
                let reader = self.reader.get_or_insert_with(|| Box::new(line_reader()));
                let found = split_line(reader, line, &mut self.fields, &mut self.ends)?;
                if found == self.field_count {
                    for (column, &slot) in self.slot_of_column.iter().enumerate() {
                        if slot != NOT_READ {
                            let start = if column == 0 {
                                0
                            } else {
                                self.ends[column - 1]
                            };
                            spans[slot as usize] = (start, self.ends[column]);
                        }
                    }
                }
                (found, &self.fields[..])
            }
        };
        if found != self.field_count {
            return Err(RejectReason::WrongFieldCount {
                expected: self.field_count,
                found,
            });
        }
        let field = |slot: usize| &text[spans[slot].0..spans[slot].1];
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
    fn a_cloned_parser_parses() {
        let p = parser("tpep_pickup_datetime,PULocationID,fare_amount");
        let mut clone = p.clone();
        assert_eq!(
            clone.parse(b"2019-06-01 00:00:00,\"7\",2.5").unwrap().zone,
            7
        );
        let mut clone = clone.clone();
        assert_eq!(clone.parse(b"2019-06-01 00:00:00,8,2.5").unwrap().zone, 8);
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
    fn quoted_fields_keep_commas_and_doubled_quotes() {
        let mut p = parser("note,tpep_pickup_datetime,PULocationID,fare_amount");
        let t = p
            .parse(b"\"late, \"\"rush\"\" hour\",2019-06-01 00:55:13,\"145\",\"12.50\"\n")
            .unwrap();
        assert_eq!((t.zone, t.fare), (145, Some(12_500_000)));
    }

    #[test]
    fn an_unterminated_quote_is_rejected_alone() {
        let mut p = parser("tpep_pickup_datetime,PULocationID,fare_amount");
        let lines: [&[u8]; 4] = [
            b"2019-06-01 00:00:00,1,2.5\n",
            b"2019-06-01 00:01:00,\"2,3.5\n",
            b"2019-06-01 00:02:00,3,4.5\r\n",
            b"\"2019-06-01 00:03:00\",4,\"5.5\"",
        ];
        let results: Vec<_> = lines.iter().map(|l| p.parse(l)).collect();
        assert_eq!(results[1], Err(RejectReason::BadQuoting));
        let zones: Vec<_> = results.iter().flatten().map(|t| t.zone).collect();
        assert_eq!(zones, [1, 3, 4]);
    }

    #[test]
    fn crlf_line_ends_are_not_data() {
        let mut p = parser("tpep_pickup_datetime,PULocationID,fare_amount\r\n");
        assert_eq!(p.field_count, 3);
        for line in [
            &b"2019-06-01 00:00:00,7,2.5\r\n"[..],
            b"2019-06-01 00:00:00,7,\"2.5\"\r\n",
            b"2019-06-01 00:00:00,7,2.5\r",
            b"2019-06-01 00:00:00,7,2.5",
        ] {
            let t = p.parse(line).unwrap();
            assert_eq!((t.zone, t.fare), (7, Some(2_500_000)), "{line:?}");
        }
    }

    #[test]
    fn wrong_field_counts_are_rejected() {
        let mut p = parser("tpep_pickup_datetime,PULocationID,fare_amount");
        let wrong = |found| Err(RejectReason::WrongFieldCount { expected: 3, found });
        assert_eq!(p.parse(b"2019-06-01 00:00:00,1"), wrong(2));
        assert_eq!(p.parse(b"2019-06-01 00:00:00,1,2,"), wrong(4));
        assert_eq!(p.parse(b""), wrong(1));
        assert_eq!(p.parse(b"\"a,b,c\""), wrong(1));
        // More fields than the reader keeps ends for are still counted.
        let long = format!("2019-06-01 00:00:00,1{}", ",9".repeat(98));
        assert_eq!(p.parse(long.as_bytes()), wrong(100));
        let quoted = format!("\"2019-06-01 00:00:00\",1{}", ",9".repeat(98));
        assert_eq!(p.parse(quoted.as_bytes()), wrong(100));
        assert_eq!(p.parse(b"2019-06-01 00:00:00,1,2").unwrap().zone, 1);
    }

    #[test]
    fn empty_fields() {
        let mut p = parser(
            "tpep_pickup_datetime,PULocationID,trip_distance,fare_amount,total_amount,extra",
        );
        let t = p.parse(b"2019-06-01 00:00:00,5,,\"\",,").unwrap();
        assert_eq!((t.zone, t.distance, t.fare, t.total), (5, None, None, None));
        assert_eq!(
            p.parse(b"2019-06-01 00:00:00,,1,2,3,"),
            Err(RejectReason::MissingZone)
        );
        assert_eq!(p.parse(b",5,1,2,3,"), Err(RejectReason::MissingPickup));
    }

    #[test]
    fn rejects_with_reasons() {
        let mut p = parser("tpep_pickup_datetime,PULocationID,fare_amount");
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
        let mut quoted = vec![b'"'; MAX_LINE_BYTES];
        quoted.extend_from_slice(b"\r\n");
        assert_eq!(
            p.parse(&quoted),
            Err(RejectReason::WrongFieldCount {
                expected: 3,
                found: 1
            })
        );
        // A data line's byte order mark is data, even on the parser's first line.
        let mut p = parser("PULocationID,tpep_pickup_datetime");
        assert!(matches!(
            p.parse(b"\xEF\xBB\xBF7,2019-06-01 00:00:00"),
            Err(RejectReason::BadZone(_))
        ));
    }
}
