//! Inputs that can be read only once (standard input as `-`, FIFOs, character devices) in;
//! regular temporary files with the same bytes, and the format of each input, out.
//!
//! A replay plan reads a file twice (it cuts the lines into epochs, then workers read their
//! byte ranges), and Parquet needs its footer first. So a one-pass input is copied, in one
//! pass, into a temporary folder that lives as long as the plan; regular files are read in
//! place. The format of a spooled input is the one given, else its name's, else sniffed
//! (`PAR1` starts a Parquet file; text with a comma in its first line is CSV).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::format::Format;
use crate::sources::SourceError;

/// The name of standard input on the command line.
pub const STDIN: &str = "-";

/// Inputs ready to be read any number of times.
#[derive(Debug, Default)]
pub struct SpooledInputs {
    /// Where to read each input (the original path, or its copy).
    pub paths: Vec<PathBuf>,
    /// Each input's format.
    pub formats: Vec<Format>,
    /// Holds the copies; removed on drop.
    pub folder: Option<tempfile::TempDir>,
}

/// Whether `path` can be read only once: `-` (standard input) or anything but a regular file.
pub fn is_one_pass(path: &Path) -> bool {
    path.as_os_str() == STDIN || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Copies every one-pass input to a temporary file and tells each input's format: `format`
/// when given, else the name's, else (for a copy) sniffed from its first bytes.
pub fn spool(paths: &[PathBuf], format: Option<Format>) -> Result<SpooledInputs, SourceError> {
    let mut spooled = SpooledInputs::default();
    let mut stdin_taken = false;
    for (index, path) in paths.iter().enumerate() {
        if !is_one_pass(path) {
            spooled.paths.push(path.clone());
            spooled.formats.push(match format {
                Some(format) => format,
                None => Format::of(path)?,
            });
            continue;
        }
        if path.as_os_str() == STDIN {
            if stdin_taken {
                return Err(SourceError::StdinTwice);
            }
            stdin_taken = true;
        }
        if spooled.folder.is_none() {
            let folder = tempfile::Builder::new()
                .prefix("zonecast-input-")
                .tempdir()
                .map_err(|e| SourceError::io(&std::env::temp_dir(), e))?;
            spooled.folder = Some(folder);
        }
        let folder = spooled.folder.as_ref().expect("made above").path();
        let copy = folder.join(format!("input-{index}"));
        let head = copy_once(path, &copy)?;
        let format = format
            .or_else(|| Format::of(path).ok())
            .or_else(|| sniff(&head))
            .ok_or_else(|| SourceError::UnknownFormat(path.clone()))?;
        spooled.paths.push(copy);
        spooled.formats.push(format);
    }
    Ok(spooled)
}

/// Copies `from` (or standard input) to `to`; returns its first bytes (up to 64 KiB).
fn copy_once(from: &Path, to: &Path) -> Result<Vec<u8>, SourceError> {
    let mut out = File::create(to).map_err(|e| SourceError::io(to, e))?;
    let mut input: Box<dyn Read> = if from.as_os_str() == STDIN {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(from).map_err(|e| SourceError::io(from, e))?)
    };
    let mut head = Vec::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SourceError::io(from, e)),
        };
        if head.len() < buffer.len() {
            let room = buffer.len() - head.len();
            head.extend_from_slice(&buffer[..n.min(room)]);
        }
        out.write_all(&buffer[..n])
            .map_err(|e| SourceError::io(to, e))?;
    }
    out.flush().map_err(|e| SourceError::io(to, e))?;
    Ok(head)
}

/// The format the first bytes of a file show, if they show one.
///
/// ```
/// use zonecast::format::Format;
/// use zonecast::sources::spool::sniff;
/// assert_eq!(sniff(b"PAR1\x15\x04"), Some(Format::Parquet));
/// assert_eq!(sniff(b"pickup,zone\n2024-01-01 00:00:00,4\n"), Some(Format::Csv));
/// assert_eq!(sniff(b"\x1f\x8b\x08"), Some(Format::Csv)); // refused as gzip when read
/// assert_eq!(sniff(b"\x00\x01binary"), None);
/// ```
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PAR1") {
        return Some(Format::Parquet);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Format::Csv); // the CSV planner says "gzip: decompress it first"
    }
    let line_end = memchr::memchr2(b'\n', b'\r', head).unwrap_or(head.len());
    let first = &head[..line_end];
    let text = std::str::from_utf8(first).is_ok() && !first.contains(&0);
    (text && first.contains(&b',')).then_some(Format::Csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_copied_once_and_its_format_sniffed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("trips");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo is not available here");
            return;
        }
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                std::fs::write(&fifo, "pickup,zone\n2024-01-01 00:00:00,4\n").unwrap()
            })
        };
        assert!(is_one_pass(&fifo));
        let regular = dir.path().join("t.csv");
        std::fs::write(&regular, "a,b\n").unwrap();
        assert!(!is_one_pass(&regular));
        let spooled = spool(&[regular.clone(), fifo], None).unwrap();
        writer.join().unwrap();
        assert_eq!(spooled.paths[0], regular);
        assert_eq!(spooled.formats, [Format::Csv, Format::Csv]);
        let copy = std::fs::read_to_string(&spooled.paths[1]).unwrap();
        assert_eq!(copy, "pickup,zone\n2024-01-01 00:00:00,4\n");
    }
}
