//! Whole-file outputs written safely: bytes in, a file that is either the old one or the
//! complete new one out — written to a temporary file beside it, flushed to disk, then renamed
//! over it. A full disk or a crash never leaves a truncated output in place.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `path` through `write`, atomically: on any error the old file is untouched and the
/// temporary file removed.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("table.csv");
/// zonecast::sinks::atomic_file::write_atomically(&path, |out| out.write_all(b"zone\n")).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "zone\n");
/// ```
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let temporary = temporary_beside(path);
    let result = (|| {
        let mut out = BufWriter::new(File::create(&temporary)?);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}
