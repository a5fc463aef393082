//! Replay plans: input files in, a list of chunks tagged with their epoch out.
//!
//! Epoch `e` holds rows `e * batch_rows .. (e + 1) * batch_rows` of the inputs concatenated
//! in the order given (blank CSV lines count as positions but are not rows). Because epochs
//! are defined by row position alone, every worker count, and every process, cuts the input
//! the same way: worker `w` of `n` replays the epochs with `e % n == w`, and the dataflow's
//! results do not depend on `n`.
//!
//! In `sorted` order the plan reads every row up front and sorts by pickup time instead.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memchr::memchr_iter;

use crate::reject::Reject;
use crate::schema::csv_line::line_terminator;
use crate::schema::ColumnMap;
use crate::sources::csv_rows::{split_header, strip_line_end, CsvRowParser};
use crate::sources::parquet_rows::{ParquetInput, RowGroupCache};
use crate::sources::spool::{spool, STDIN};
use crate::sources::{Batch, Format, SourceError};
use crate::trip::{RowPos, Trip};

/// In which order rows are replayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayOrder {
    /// As they stand in the files (real disorder and lateness).
    #[default]
    File,
    /// Sorted by pickup time (ties by position); reads all rows into memory first.
    Sorted,
}

/// One input file, opened and with its columns resolved.
#[derive(Clone, Debug)]
pub struct PlannedInput {
    /// The name used in reject reports (the path as given).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// How to read its rows.
    pub reader: InputReader,
    /// The byte that ends a CSV line: `\n` (also for `\r\n`), or `\r` in classic Mac files.
    pub line_end: u8,
}

/// How an input's rows are read.
#[derive(Clone, Debug)]
pub enum InputReader {
    /// CSV: the header is parsed; data lines are read by byte range.
    Csv(CsvRowParser),
    /// Parquet: rows are read by row range.
    Parquet(ParquetInput),
}

/// A contiguous part of one input that belongs to one epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Index into [`ReplayPlan::inputs`].
    pub input: usize,
    /// The epoch this chunk belongs to.
    pub epoch: u64,
    /// Which part of the input.
    pub span: ChunkSpan,
}

/// The part of an input a chunk covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkSpan {
    /// CSV bytes `start..end`, whose first line is line `first_line` (1-based, header = 1).
    Lines {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// Line number of the first line.
        first_line: u64,
    },
    /// Parquet rows `start..start + count` (0-based).
    Rows {
        /// First row (0-based).
        start: u64,
        /// Number of rows.
        count: u64,
    },
}

/// Where the rows come from in a plan.
#[derive(Clone, Debug)]
pub enum PlanBody {
    /// Chunks read on demand, in file order.
    Chunks(Vec<Chunk>),
    /// Every row read up front and sorted by pickup time.
    Sorted(Arc<SortedRows>),
}

/// All rows of the inputs, sorted by pickup time.
#[derive(Debug, Default)]
pub struct SortedRows {
    /// Parsed trips, sorted by (pickup, position).
    pub trips: Vec<(Trip, RowPos)>,
    /// Rows that did not parse (replayed in epoch 0).
    pub rejects: Vec<Reject>,
}

/// A deterministic cut of the inputs into epochs.
#[derive(Clone, Debug)]
pub struct ReplayPlan {
    /// The inputs, in the order given.
    pub inputs: Vec<PlannedInput>,
    /// Rows per epoch.
    pub batch_rows: u64,
    /// Number of epochs.
    pub epochs: u64,
    /// Total positions (CSV lines after the header, Parquet rows).
    pub positions: u64,
    /// The chunks or sorted rows.
    pub body: PlanBody,
    /// Consecutive epochs replayed by one worker: about a Parquet row group, so each worker
    /// decodes its own row groups (1 for CSV-only plans).
    pub block: u64,
    /// Copies of one-pass inputs (standard input, FIFOs), kept while the plan lives.
    pub spooled: Option<Arc<tempfile::TempDir>>,
}

impl ReplayPlan {
    /// Opens every input (format told from its name) and cuts it into epochs of `batch_rows`
    /// rows.
    pub fn new(
        paths: &[PathBuf],
        map: &ColumnMap,
        batch_rows: u64,
        order: ReplayOrder,
    ) -> Result<Self, SourceError> {
        ReplayPlan::open(paths, None, map, batch_rows, order)
    }

    /// Opens every input and cuts it into epochs of `batch_rows` rows. `format` overrides the
    /// format told from each name; standard input (`-`) and FIFOs are first copied once (see
    /// [`crate::sources::spool`]).
    pub fn open(
        given: &[PathBuf],
        format: Option<Format>,
        map: &ColumnMap,
        batch_rows: u64,
        order: ReplayOrder,
    ) -> Result<Self, SourceError> {
        let spooled = spool(given, format)?;
        let batch_rows = batch_rows.max(1);
        let mut inputs = Vec::new();
        let mut chunks = Vec::new();
        let mut next = 0u64;
        for (index, (path, format)) in spooled.paths.iter().zip(&spooled.formats).enumerate() {
            let name = match given[index].as_os_str() == STDIN {
                true => "stdin".to_string(),
                false => given[index].display().to_string(),
            };
            match format {
                Format::Csv => {
                    let (parser, line_end, mut spans) = plan_csv(path, map, next, batch_rows)?;
                    for (epoch, span, rows) in spans.drain(..) {
                        chunks.push(Chunk {
                            input: index,
                            epoch,
                            span,
                        });
                        next += rows;
                    }
                    inputs.push(PlannedInput {
                        name,
                        path: path.clone(),
                        reader: InputReader::Csv(parser),
                        line_end,
                    });
                }
                Format::Parquet => {
                    let input = ParquetInput::open(path, map)?;
                    let mut start = 0;
                    while start < input.rows() {
                        let epoch = next / batch_rows;
                        let count = ((epoch + 1) * batch_rows - next).min(input.rows() - start);
                        chunks.push(Chunk {
                            input: index,
                            epoch,
                            span: ChunkSpan::Rows { start, count },
                        });
                        start += count;
                        next += count;
                    }
                    inputs.push(PlannedInput {
                        name,
                        path: path.clone(),
                        reader: InputReader::Parquet(input),
                        line_end: b'\n',
                    });
                }
            }
        }
        let block = inputs
            .iter()
            .filter_map(|i| match &i.reader {
                InputReader::Parquet(p) => p.row_groups().iter().map(|g| g.1).max(),
                InputReader::Csv(_) => None,
            })
            .max()
            .map_or(1, |rows| rows.div_ceil(batch_rows).clamp(1, 64));
        let mut plan = ReplayPlan {
            inputs,
            batch_rows,
            epochs: next.div_ceil(batch_rows),
            positions: next,
            body: PlanBody::Chunks(chunks),
            block,
            spooled: spooled.folder.map(Arc::new),
        };
        if order == ReplayOrder::Sorted {
            plan.body = PlanBody::Sorted(Arc::new(plan.read_sorted()?));
        }
        Ok(plan)
    }

    /// How many epochs replaying the plan takes (every worker together).
    pub fn epoch_count(&self) -> u64 {
        match &self.body {
            PlanBody::Chunks(_) => self.epochs,
            PlanBody::Sorted(rows) => (rows.trips.len() as u64).div_ceil(self.batch_rows).max(1),
        }
    }

    /// The chunks of one epoch (file order only).
    pub fn chunks_of(&self, epoch: u64) -> &[Chunk] {
        match &self.body {
            PlanBody::Chunks(chunks) => {
                let start = chunks.partition_point(|c| c.epoch < epoch);
                let end = chunks.partition_point(|c| c.epoch <= epoch);
                &chunks[start..end]
            }
            PlanBody::Sorted(_) => &[],
        }
    }

    /// Reads one chunk into `batch`.
    pub fn read_chunk(
        &self,
        chunk: &Chunk,
        batch: &mut Batch,
        cache: &mut RowGroupCache,
    ) -> Result<(), SourceError> {
        let input = &self.inputs[chunk.input];
        let source = chunk.input as u32;
        match (&input.reader, chunk.span) {
            (
                InputReader::Csv(parser),
                ChunkSpan::Lines {
                    start,
                    end,
                    first_line,
                },
            ) => {
                let mut parser = parser.clone();
                let mut bytes = vec![0u8; (end - start) as usize];
                let mut file =
                    File::open(&input.path).map_err(|e| SourceError::io(&input.path, e))?;
                std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))
                    .map_err(|e| SourceError::io(&input.path, e))?;
                file.read_exact(&mut bytes)
                    .map_err(|e| SourceError::io(&input.path, e))?;
                let mut line_start = 0;
                let ends = memchr_iter(input.line_end, &bytes).chain(std::iter::once(bytes.len()));
                for (line_no, line_end) in (first_line..).zip(ends) {
                    if line_start > bytes.len()
                        || (line_end == bytes.len() && line_start == bytes.len())
                    {
                        break;
                    }
                    let line = &bytes[line_start..line_end];
                    if !strip_line_end(line).is_empty() {
                        batch.rows_read += 1;
                        let pos = RowPos {
                            source,
                            line: line_no,
                        };
                        match parser.parse(line) {
                            Ok(trip) => batch.trips.push((trip, pos)),
                            Err(reason) => batch.rejects.push(Reject { pos, reason }),
                        }
                    }
                    line_start = line_end + 1;
                }
            }
            (InputReader::Parquet(parquet), ChunkSpan::Rows { start, count }) => {
                parquet.read_rows_cached(cache, start, count, &mut |row, result| {
                    batch.rows_read += 1;
                    let pos = RowPos {
                        source,
                        line: row + 1,
                    };
                    match result {
                        Ok(trip) => batch.trips.push((trip, pos)),
                        Err(reason) => batch.rejects.push(Reject { pos, reason }),
                    }
                })?;
            }
            _ => unreachable!("chunk span matches its input's reader"),
        }
        Ok(())
    }

    /// Reads all rows and sorts them by pickup time.
    fn read_sorted(&self) -> Result<SortedRows, SourceError> {
        let mut batch = Batch::default();
        let mut cache = RowGroupCache::default();
        if let PlanBody::Chunks(chunks) = &self.body {
            for chunk in chunks {
                self.read_chunk(chunk, &mut batch, &mut cache)?;
            }
        }
        batch.trips.sort_unstable_by_key(|(t, p)| (t.pickup, *p));
        Ok(SortedRows {
            trips: batch.trips,
            rejects: batch.rejects,
        })
    }

    /// The names of the inputs, by source index.
    pub fn source_names(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.name.clone()).collect()
    }
}

type CsvSpans = Vec<(u64, ChunkSpan, u64)>;

/// The longest header line a CSV input may have.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// Reads a CSV file's header and cuts its data lines at epoch boundaries.
/// Returns the row parser, the line terminator and `(epoch, span, positions)` per chunk.
fn plan_csv(
    path: &Path,
    map: &ColumnMap,
    first_position: u64,
    batch_rows: u64,
) -> Result<(CsvRowParser, u8, CsvSpans), SourceError> {
    let mut file = File::open(path).map_err(|e| SourceError::io(path, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut header = Vec::new();
    let mut offset = 0u64; // bytes consumed before `buffer`
    let mut header_end = None;
    let mut line_starts = Vec::new(); // byte offsets where a chunk starts
    let mut positions = 0u64; // data lines seen
    let mut pending_line = false; // a data line has started but not ended
    let mut line_end = b'\n';
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| SourceError::io(path, e))?;
        if n == 0 {
            break;
        }
        let data = &buffer[..n];
        if offset == 0 && header.is_empty() {
            if data.starts_with(&[0x1f, 0x8b]) {
                return Err(SourceError::Compressed(path.to_path_buf()));
            }
            line_end = line_terminator(data);
        }
        let mut from = 0;
        if header_end.is_none() {
            let end = memchr::memchr(line_end, data);
            match end {
                Some(i) => {
                    header.extend_from_slice(&data[..=i]);
                    header_end = Some(offset + i as u64 + 1);
                    from = i + 1;
                }
                None => {
                    header.extend_from_slice(data);
                    offset += n as u64;
                    if header.len() > MAX_HEADER_BYTES {
                        return Err(SourceError::HeaderTooLong(path.to_path_buf()));
                    }
                    continue;
                }
            }
        }
        let mut line_begin = from;
        for nl in memchr_iter(line_end, &data[from..]).map(|i| i + from) {
            if !pending_line {
                start_line(
                    offset + line_begin as u64,
                    first_position + positions,
                    batch_rows,
                    &mut line_starts,
                );
            }
            positions += 1;
            pending_line = false;
            line_begin = nl + 1;
        }
        if line_begin < n {
            if !pending_line {
                start_line(
                    offset + line_begin as u64,
                    first_position + positions,
                    batch_rows,
                    &mut line_starts,
                );
            }
            pending_line = true;
        }
        offset += n as u64;
    }
    if header_end.is_none() && header.is_empty() {
        return Err(SourceError::Empty(path.to_path_buf()));
    }
    if pending_line {
        positions += 1;
    }
    let header_names = split_header(&header);
    let parser = CsvRowParser::new(&path.display().to_string(), &header_names, map)?;
    let data_start = header_end.unwrap_or(offset);
    // A chunk starts at the file's first data line and at each epoch boundary.
    let mut spans = Vec::new();
    let end_of_file = offset;
    let mut boundaries: Vec<(u64, u64)> = line_starts; // (byte, position)
    if boundaries.first().map(|b| b.0) != Some(data_start) && positions > 0 {
        boundaries.insert(0, (data_start, first_position));
    }
    for (i, &(start, position)) in boundaries.iter().enumerate() {
        let (end, next_position) = boundaries
            .get(i + 1)
            .copied()
            .unwrap_or((end_of_file, first_position + positions));
        let first_line = position - first_position + 2;
        spans.push((
            position / batch_rows,
            ChunkSpan::Lines {
                start,
                end,
                first_line,
            },
            next_position - position,
        ));
    }
    Ok((parser, line_end, spans))
}

fn start_line(byte: u64, position: u64, batch_rows: u64, starts: &mut Vec<(u64, u64)>) {
    if position.is_multiple_of(batch_rows) {
        starts.push((byte, position));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn plan_of(text: &str, batch: u64) -> (ReplayPlan, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (
            ReplayPlan::new(&[path], &ColumnMap::default(), batch, ReplayOrder::File).unwrap(),
            dir,
        )
    }

    #[test]
    fn cuts_lines_into_epochs_with_line_numbers() {
        let mut text = String::from("tpep_pickup_datetime,PULocationID\n");
        for i in 0..10 {
            text.push_str(&format!("2024-01-01 00:00:{i:02},{}\n", i + 1));
        }
        text.push_str("2024-01-01 01:00:00,99"); // no final newline
        for batch in [1, 3, 4, 100] {
            let (plan, _dir) = plan_of(&text, batch);
            assert_eq!(plan.positions, 11);
            let mut lines = Vec::new();
            for e in 0..plan.epochs {
                let mut b = Batch::default();
                for c in plan.chunks_of(e) {
                    plan.read_chunk(c, &mut b, &mut RowGroupCache::default())
                        .unwrap();
                }
                assert!(b.trips.len() as u64 <= batch);
                lines.extend(b.trips.iter().map(|(t, p)| (p.line, t.zone)));
            }
            let expected: Vec<_> = (0..11)
                .map(|i| (i as u64 + 2, if i == 10 { 99 } else { i as u16 + 1 }))
                .collect();
            assert_eq!(lines, expected, "batch {batch}");
        }
    }

    #[test]
    fn blank_lines_keep_numbering() {
        let (plan, _dir) = plan_of(
            "pickup_datetime,pickup_zone\r\n\r\n2024-01-01 00:00:00,5\r\n",
            10,
        );
        let mut b = Batch::default();
        for c in plan.chunks_of(0) {
            plan.read_chunk(c, &mut b, &mut RowGroupCache::default())
                .unwrap();
        }
        assert_eq!(b.rows_read, 1);
        assert_eq!(b.trips[0].1.line, 3);
    }
}
