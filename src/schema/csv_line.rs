//! CSV lines: one line of bytes in, its fields (or its header names) out, or
//! [`RejectReason::BadQuoting`] for that line alone.
//!
//! Every reader of CSV text (trip files, the socket, hourly count tables) splits its input into
//! lines itself (memchr) and hands each line here, so a record is exactly one line and a quote
//! must close on the line it opens: one bad line (a stray quote, binary garbage) never swallows
//! the good lines after it.
//!
//! A line with a quote is split by the `csv-core` crate (the allocation-free core of the `csv`
//! crate), one reader ([`line_reader`]) reused line after line: [`split_line`] hands it the line
//! and then a `\n`, so a quote still open at the end of the line leaves the record unfinished;
//! that line alone is rejected and the reader is reset. Quoted fields come out unescaped (`""`
//! is a quote) as the `csv` crate reads them.
//!
//! A line without a quote (every TLC row) has nothing for a CSV parser to interpret: its fields
//! are the bytes between its commas. [`split_into_slots`] finds those commas eight bytes at a
//! time and copies nothing; the tests check it against `csv-core`. Parsing every line with
//! `csv-core` costs about a fifth of `aggregate`'s throughput (its state machine takes a step
//! per byte and copies every field), so it is kept for the lines that need it.
//!
//! ```
//! use zonecast::reject::RejectReason;
//! use zonecast::schema::csv_line::{line_reader, split_header, split_into_slots, split_line, NOT_READ};
//!
//! assert_eq!(split_header(b"\"zone\", hour ,pickups\r\n"), ["zone", "hour", "pickups"]);
//!
//! // Quote-free: the bounds of the wanted columns (here columns 2 and 0, as slots 0 and 1).
//! let mut spans = [(0, 0); 2];
//! assert_eq!(split_into_slots(b"a,b,c", &[1, NOT_READ, 0], &mut spans), Some(3));
//! assert_eq!(spans, [(4, 5), (0, 1)]);
//! assert_eq!(split_into_slots(b"a,\"b,c\"", &[], &mut spans), None);
//!
//! // With a quote: the unescaped fields one after the other, and where each ends.
//! let (mut reader, mut fields, mut ends) = (line_reader(), Vec::new(), [0; 4]);
//! assert_eq!(split_line(&mut reader, b"a,\"b,c\"", &mut fields, &mut ends), Ok(2));
//! assert_eq!((&fields[..4], &ends[..2]), (&b"ab,c"[..], &[1, 4][..]));
//! assert_eq!(split_line(&mut reader, b"a,\"b", &mut fields, &mut ends), Err(RejectReason::BadQuoting));
//! ```

use csv_core::{ReadRecordResult, Reader, ReaderBuilder, Terminator};

use crate::reject::RejectReason;

/// In a `slot_of_column` table for [`split_into_slots`]: a column whose bounds are not kept.
pub const NOT_READ: u8 = u8::MAX;

/// A `csv-core` reader for single lines: `\n` is the only record terminator (a `\r` inside a
/// line is data, as zonecast strips the line end itself), `"` quotes and `""` escapes a quote.
/// Reuse it line after line with [`split_line`]; between lines it is at the start of a record.
///
/// Make a new one rather than cloning one: `csv_core::Reader::clone` (0.1.13) copies only part
/// of its transition tables, and the copy splits nothing.
pub fn line_reader() -> Reader {
    let mut reader = ReaderBuilder::new()
        .terminator(Terminator::Any(b'\n'))
        .build();
    skip_byte_order_mark_check(&mut reader);
    reader
}

/// `csv-core` drops a UTF-8 byte order mark at the start of its first input; the header's is
/// removed by [`split_header`], and a data line keeps its bytes. Reading an empty line (which
/// `csv-core` skips) counts as that first input.
fn skip_byte_order_mark_check(reader: &mut Reader) {
    let (result, ..) = reader.read_record(b"\n", &mut [0], &mut [0]);
    debug_assert_eq!(result, ReadRecordResult::InputEmpty);
}

/// Splits one line (without its line end) with a reader from [`line_reader`]: the fields'
/// unescaped bytes go to `fields`, one after the other, and their ends to `ends` (those past
/// `ends.len()` are counted, not kept). Returns the number of fields, or
/// [`RejectReason::BadQuoting`] when a quote opens and does not close on the line (the reader
/// is then reset for the next line).
pub fn split_line(
    reader: &mut Reader,
    line: &[u8],
    fields: &mut Vec<u8>,
    ends: &mut [usize],
) -> Result<usize, RejectReason> {
    if line.is_empty() {
        // csv-core skips empty lines; zonecast reads one as a single empty field.
        if let Some(end) = ends.first_mut() {
            *end = 0;
        }
        return Ok(1);
    }
    // Unescaped fields are never longer than the line; the spare byte keeps the output
    // non-empty for the final `\n`.
    if fields.len() <= line.len() {
        fields.resize(line.len() + 1, 0);
    }
    let mut uncounted = [0usize; 32];
    let (mut count, mut written) = (0, 0);
    for mut input in [line, &b"\n"[..]] {
        loop {
            let ends_left = match ends.get_mut(count..) {
                Some(left) if !left.is_empty() => left,
                _ => &mut uncounted[..],
            };
            let (result, nin, nout, nend) =
                reader.read_record(input, &mut fields[written..], ends_left);
            input = &input[nin..];
            written += nout;
            count += nend;
            match result {
                ReadRecordResult::Record => return Ok(count),
                ReadRecordResult::InputEmpty => break,
                ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::OutputFull | ReadRecordResult::End => {
                    unreachable!("the output outsizes the line and the input is never empty")
                }
            }
        }
    }
    // The `\n` went into a quoted field: the quote is still open at the end of the line.
    reader.reset();
    skip_byte_order_mark_check(reader);
    Err(RejectReason::BadQuoting)
}

/// Splits a header line into column names (line end and byte order mark removed, quotes
/// removed, names trimmed). A line whose quoting is bad is one name, the whole line.
pub fn split_header(line: &[u8]) -> Vec<String> {
    split_names(&mut line_reader(), line)
}

/// [`split_header`] with a reader from [`line_reader`] reused line after line, for readers
/// that split every line of a table into trimmed texts (the hourly count tables).
pub fn split_names(reader: &mut Reader, line: &[u8]) -> Vec<String> {
    let line = strip_line_end(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let mut fields = Vec::new();
    let mut ends = vec![0; line.len() + 1];
    match split_line(reader, line, &mut fields, &mut ends) {
        Ok(count) => (0..count)
            .map(|i| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                String::from_utf8_lossy(&fields[start..ends[i]])
                    .trim()
                    .to_string()
            })
            .collect(),
        Err(_) => vec![String::from_utf8_lossy(line).into_owned()],
    }
}

/// The byte that ends lines in a CSV file whose first bytes are `start`: `\r` when the
/// first line ends in a carriage return alone (classic Mac files), else `\n` (which also
/// covers `\r\n`, whose `\r` [`strip_line_end`] removes).
///
/// ```
/// use zonecast::schema::csv_line::line_terminator;
/// assert_eq!(line_terminator(b"a,b\r\n1,2\r\n"), b'\n');
/// assert_eq!(line_terminator(b"a,b\r1,2\r"), b'\r');
/// assert_eq!(line_terminator(b"a,b\n1,2\r3,4\n"), b'\n');
/// ```
pub fn line_terminator(start: &[u8]) -> u8 {
    let newline = memchr::memchr(b'\n', start).unwrap_or(start.len());
    match memchr::memchr(b'\r', &start[..newline]) {
        Some(cr) if cr + 1 < start.len() && start[cr + 1] != b'\n' => b'\r',
        _ => b'\n',
    }
}

/// Removes a trailing `\n` and `\r`.
pub fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Bytes of `word` equal to `byte`, as the high bit of each byte lane (exact, no false hits).
#[inline]
fn lanes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let v = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// The fast path for lines (without their line end) that have no quote: commas found eight
/// bytes at a time. Column `c`'s bounds in `line` go to `spans[slot_of_column[c]]` unless that
/// is [`NOT_READ`] (columns past the table's end are not kept either). Returns the number of
/// fields, or `None` when the line has a quote (it is then [`split_line`]'s).
#[inline]
pub fn split_into_slots(
    line: &[u8],
    slot_of_column: &[u8],
    spans: &mut [(usize, usize)],
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of `line` as `split_line` gives them.
    fn fields(reader: &mut Reader, line: &str) -> Result<Vec<String>, RejectReason> {
        let mut bytes = Vec::new();
        let mut ends = vec![0; 3];
        let count = split_line(reader, line.as_bytes(), &mut bytes, &mut ends)?;
        assert!(count <= ends.len(), "{line:?} has {count} fields");
        Ok((0..count)
            .map(|i| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                String::from_utf8(bytes[start..ends[i]].to_vec()).unwrap()
            })
            .collect())
    }

    #[test]
    fn the_fast_path_agrees_with_csv_core() {
        let pieces: [&[u8]; 9] = [
            b"",
            b",",
            b",",
            b"a",
            b"12.5",
            b" ",
            b"\r",
            b"\xff\x00",
            b"abcdefghij",
        ];
        let mut reader = line_reader();
        let (mut bytes, mut ends) = (Vec::new(), vec![0; 64]);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for n in 0..5_000 {
            let mut line = Vec::new();
            for _ in 0..n % 40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                line.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let count = split_line(&mut reader, &line, &mut bytes, &mut ends).unwrap();
            let field = |i: usize| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                bytes[start..ends[i]].to_vec()
            };
            let columns = [0, 3, 1, 7, 2];
            let mut slot_of_column = vec![NOT_READ; 8];
            for (slot, &column) in columns.iter().enumerate() {
                slot_of_column[column] = slot as u8;
            }
            let mut spans = [(0, 0); 5];
            let fast = split_into_slots(&line, &slot_of_column, &mut spans);
            assert_eq!(fast, Some(count), "{line:?}");
            for (slot, &column) in columns.iter().enumerate() {
                if column < count {
                    assert_eq!(
                        line[spans[slot].0..spans[slot].1],
                        field(column),
                        "{line:?}"
                    );
                }
            }
        }
        let mut spans = [(0, 0); 5];
        assert_eq!(split_into_slots(b"abcdefghij\"", &[], &mut spans), None);
        assert_eq!(split_into_slots(b"ab\"", &[], &mut spans), None);
    }

    #[test]
    fn quoted_fields_keep_commas_and_doubled_quotes() {
        let mut reader = line_reader();
        assert_eq!(
            fields(&mut reader, r#"a,"b, c","say ""hi""""#).unwrap(),
            ["a", "b, c", r#"say "hi""#]
        );
        assert_eq!(
            fields(&mut reader, r#""""","",x"#).unwrap(),
            ["\"", "", "x"]
        );
        // A quote inside an unquoted field is data.
        assert_eq!(fields(&mut reader, r#"a"b,c"#).unwrap(), ["a\"b", "c"]);
        // So is text after a closing quote (as the csv crate reads it).
        assert_eq!(fields(&mut reader, r#""a"b,c"#).unwrap(), ["ab", "c"]);
        assert_eq!(
            split_header(b"\xEF\xBB\xBF\"tpep_pickup_datetime\",\"a,b\" ,\"c\"\"d\"\r\n"),
            ["tpep_pickup_datetime", "a,b", "c\"d"]
        );
    }

    #[test]
    fn an_unterminated_quote_is_rejected_alone() {
        let mut reader = line_reader();
        assert_eq!(
            fields(&mut reader, r#"a,"b,c"#),
            Err(RejectReason::BadQuoting)
        );
        assert_eq!(fields(&mut reader, "d,e,f").unwrap(), ["d", "e", "f"]);
        assert_eq!(fields(&mut reader, "\""), Err(RejectReason::BadQuoting));
        assert_eq!(
            fields(&mut reader, r#""a"",b"#),
            Err(RejectReason::BadQuoting)
        );
        assert_eq!(fields(&mut reader, r#""x",y"#).unwrap(), ["x", "y"]);
        // A header (or hourly table line) whose quote stays open is one name, the whole line.
        assert_eq!(split_names(&mut reader, b"a,\"b,c\r\n"), ["a,\"b,c"]);
        assert_eq!(split_names(&mut reader, b" d ,\"e\"\n"), ["d", "e"]);
    }

    #[test]
    fn a_carriage_return_inside_a_line_is_data() {
        // Only the line end is stripped: a carriage return inside a line is data.
        assert_eq!(fields(&mut line_reader(), "a\rb,c").unwrap(), ["a\rb", "c"]);
        assert_eq!(strip_line_end(b"a\r\n"), b"a");
        assert_eq!(strip_line_end(b"a\r"), b"a");
        assert_eq!(strip_line_end(b"a\rb"), b"a\rb");
    }

    #[test]
    fn empty_fields() {
        let mut reader = line_reader();
        assert_eq!(fields(&mut reader, ",,").unwrap(), ["", "", ""]);
        assert_eq!(fields(&mut reader, "").unwrap(), [""]);
        assert_eq!(fields(&mut reader, r#""",,"""#).unwrap(), ["", "", ""]);
    }
}
