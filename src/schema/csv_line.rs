//! CSV lines: one line of bytes in, the bounds of its fields (or its header names) out.
//!
//! A record is exactly one line and a quote must close on the line it opens, so one bad line
//! (a stray quote, binary garbage) can never swallow the good lines after it. Every reader of
//! CSV text (trip files, the socket, hourly count tables) splits lines here.
//!
//! ```
//! use zonecast::schema::csv_line::{split_fields, split_header};
//!
//! assert_eq!(split_header(b"\"zone\", hour ,pickups\r\n"), ["zone", "hour", "pickups"]);
//! let mut bounds = Vec::new();
//! split_fields(b"a,\"b,c\"", &mut bounds).unwrap();
//! assert_eq!(bounds, [(0, 1), (3, 6)]);
//! ```

use crate::reject::RejectReason;

/// Splits a header line into column names (quotes removed).
pub fn split_header(line: &[u8]) -> Vec<String> {
    let line = strip_line_end(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let mut bounds = Vec::new();
    if split_fields(line, &mut bounds).is_err() {
        return vec![String::from_utf8_lossy(line).into_owned()];
    }
    bounds
        .iter()
        .map(|&(s, e)| String::from_utf8_lossy(&line[s..e]).trim().to_string())
        .collect()
}

/// Removes a trailing `\n` and `\r`.
pub fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Finds the content bounds of each field of a line (quoted fields without their quotes).
#[inline]
pub fn split_fields(line: &[u8], bounds: &mut Vec<(usize, usize)>) -> Result<(), RejectReason> {
    bounds.clear();
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            let open = i + 1;
            let mut j = open;
            loop {
                match line[j..].iter().position(|&b| b == b'"') {
                    None => return Err(RejectReason::BadQuoting),
                    Some(k) if line.get(j + k + 1) == Some(&b'"') => j += k + 2,
                    Some(k) => {
                        j += k;
                        break;
                    }
                }
            }
            bounds.push((open, j));
            i = j + 1;
            match line.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(_) => return Err(RejectReason::BadQuoting),
            }
        } else {
            match line[i..].iter().position(|&b| b == b',') {
                Some(k) => {
                    bounds.push((i, i + k));
                    i += k + 1;
                }
                None => {
                    bounds.push((i, line.len()));
                    return Ok(());
                }
            }
        }
    }
}
