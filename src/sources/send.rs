//! Sending a file to a socket source: a CSV or Parquet file in, CSV lines over TCP out.
//!
//! CSV files are sent as they are (header first, then every line, bad ones included, so the
//! receiving job sees exactly what the file holds). Parquet files are sent as CSV with the
//! five columns zonecast reads. With a speed, lines are released at that many x event time.

use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use crate::schema::ColumnMap;
use crate::sources::csv_rows::{split_header, CsvRowParser};
use crate::sources::pacing::Pacer;
use crate::sources::plan::{ReplayOrder, ReplayPlan};
use crate::sources::spool::spool;
use crate::sources::{Batch, Format, SourceError};
use crate::time::format_naive;
use crate::trip::format_micros;

/// What a send did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendSummary {
    /// Data lines sent (header excluded).
    pub lines: u64,
    /// Bytes sent.
    pub bytes: u64,
}

/// Sends `path` to `addr` as CSV lines, paced at `speed` x event time if given.
pub fn send_file(
    path: &Path,
    addr: &str,
    speed: Option<f64>,
    columns: &ColumnMap,
) -> Result<SendSummary, SourceError> {
    let stream = TcpStream::connect(addr).map_err(|e| SourceError::Bind {
        addr: addr.to_string(),
        source: e,
    })?;
    let _ = stream.set_nodelay(true);
    let mut out = BufWriter::with_capacity(1 << 16, stream);
    let pacer = speed.map(Pacer::new);
    let mut summary = SendSummary::default();
    let mut last_flush = Instant::now();
    let written = for_each_line(path, columns, |line, pickup, header| {
        if let (Some(pacer), Some(t)) = (&pacer, pickup) {
            let wait = pacer.wait_for(t);
            if !wait.is_zero() {
                out.flush()?;
                std::thread::sleep(wait);
            }
        }
        out.write_all(line)?;
        out.write_all(b"\n")?;
        summary.bytes += line.len() as u64 + 1;
        summary.lines += u64::from(!header);
        if pacer.is_some() && last_flush.elapsed().as_millis() >= 5 {
            out.flush()?;
            last_flush = Instant::now();
        }
        Ok(())
    })?;
    out.flush().map_err(|e| SourceError::io(&written, e))?;
    Ok(summary)
}

/// Calls `send(line, pickup, is_header)` for the header and then every data line of `path`
/// (CSV as it is, bad lines included; Parquet as CSV of the five columns zonecast reads).
/// Returns the path read (standard input and FIFOs are spooled first).
pub fn for_each_line(
    path: &Path,
    columns: &ColumnMap,
    mut send: impl FnMut(&[u8], Option<i64>, bool) -> std::io::Result<()>,
) -> Result<std::path::PathBuf, SourceError> {
    // Standard input (`-`) and FIFOs are copied once first; the format is sniffed for them.
    let spooled = spool(&[path.to_path_buf()], None)?;
    let (path, format) = (spooled.paths[0].as_path(), spooled.formats[0]);
    let io = |e| SourceError::io(path, e);
    match format {
        Format::Csv => {
            let text = std::fs::read(path).map_err(io)?;
            let line_end = crate::schema::csv_line::line_terminator(&text);
            let mut lines = text.split(|&b| b == line_end);
            let header = lines.next().unwrap_or_default();
            let mut parser =
                CsvRowParser::new(&path.display().to_string(), &split_header(header), columns)?;
            send(crate::sources::csv_rows::strip_line_end(header), None, true).map_err(io)?;
            for line in lines {
                let line = crate::sources::csv_rows::strip_line_end(line);
                if line.is_empty() {
                    continue;
                }
                let pickup = parser.parse(line).ok().map(|t| t.pickup);
                send(line, pickup, false).map_err(io)?;
            }
        }
        Format::Parquet => {
            let plan = ReplayPlan::new(&[path.to_path_buf()], columns, 65_536, ReplayOrder::File)?;
            send(
                b"pickup_datetime,pickup_zone,trip_distance,fare_amount,total_amount",
                None,
                true,
            )
            .map_err(io)?;
            let opt = |v: Option<i64>| v.map(|m| format_micros(m as i128)).unwrap_or_default();
            let mut cache = crate::sources::parquet_rows::RowGroupCache::default();
            for epoch in 0..plan.epochs {
                let mut batch = Batch::default();
                for chunk in plan.chunks_of(epoch) {
                    plan.read_chunk(chunk, &mut batch, &mut cache)?;
                }
                for (t, _) in batch.trips {
                    let line = format!(
                        "{},{},{},{},{}",
                        format_naive(t.pickup),
                        t.zone,
                        opt(t.distance),
                        opt(t.fare),
                        opt(t.total)
                    );
                    send(line.as_bytes(), Some(t.pickup), false).map_err(io)?;
                }
            }
        }
    }
    Ok(spooled.paths[0].clone())
}
