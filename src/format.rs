//! File formats: a path in, the [`Format`] its name says out.
//!
//! Sources read, and the generator writes, CSV or Parquet; both tell which from the file name
//! with [`Format::of`].
//!
//! ```
//! use std::path::Path;
//! use zonecast::format::Format;
//!
//! assert_eq!(Format::of(Path::new("trips.PARQUET")).unwrap(), Format::Parquet);
//! assert!(Format::of(Path::new("trips.json")).is_err());
//! ```

use std::path::{Path, PathBuf};

/// Input and output file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text with a header line.
    Csv,
    /// Apache Parquet (TLC's format since 2022).
    Parquet,
}

/// A file name that says neither CSV nor Parquet.
#[derive(Debug, thiserror::Error)]
#[error("cannot tell the format of {}: name it *.csv or *.parquet", .0.display())]
pub struct UnknownFormat(pub PathBuf);

impl Format {
    /// The format told from the file name (`.csv`/`.txt`, `.parquet`/`.parq`/`.pq`),
    /// case-insensitively.
    pub fn of(path: &Path) -> Result<Format, UnknownFormat> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") | Some("txt") => Ok(Format::Csv),
            Some("parquet") | Some("parq") | Some("pq") => Ok(Format::Parquet),
            _ => Err(UnknownFormat(path.to_path_buf())),
        }
    }
}
