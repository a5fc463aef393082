//! `replay --ack`: a file in, its rows delivered to a socket source exactly once out, across
//! server restarts.
//!
//! The client opens each connection with `#ack ID FROM` (see [`crate::sources::acks`]), the
//! header, then its rows from `FROM + 1` on, and reads `ack N` lines back. When the connection
//! fails it reconnects with backoff and resends from the last acknowledged row; the server
//! drops rows it already has. It returns once every row is acknowledged, or fails after
//! `patience` without progress. The file's lines are held in memory for resending.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::schema::ColumnMap;
use crate::sources::pacing::Pacer;
use crate::sources::send::{for_each_line, SendSummary};
use crate::sources::SourceError;

/// What an acknowledged send did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckedSummary {
    /// Rows sent and acknowledged, header excluded.
    pub sent: SendSummary,
    /// Connections made (1 when the server never went away).
    pub connections: u64,
    /// Rows sent more than once (after a lost connection; the server drops the copies).
    pub resent: u64,
}

/// Sends `path` to `addr` in acknowledged mode as client `id` (see the module docs).
pub fn send_file_acked(
    path: &Path,
    addr: &str,
    id: &str,
    speed: Option<f64>,
    columns: &ColumnMap,
    patience: Duration,
) -> Result<AckedSummary, SourceError> {
    let mut header = Vec::new();
    let mut rows: Vec<(Vec<u8>, Option<i64>)> = Vec::new();
    for_each_line(path, columns, |line, pickup, is_header| {
        match is_header {
            true => header = line.to_vec(),
            false => rows.push((line.to_vec(), pickup)),
        }
        Ok(())
    })?;
    let pacer = speed.map(Pacer::new);
    let acked = Arc::new(AtomicU64::new(0));
    let mut summary = AckedSummary::default();
    let mut sent_through = 0u64;
    let mut last_progress = Instant::now();
    let mut backoff = Duration::from_millis(50);
    loop {
        let done = acked.load(Ordering::SeqCst);
        if done >= rows.len() as u64 {
            break;
        }
        if last_progress.elapsed() > patience {
            return Err(SourceError::Bind {
                addr: addr.to_string(),
                source: std::io::Error::other(format!(
                    "{done} of {} rows acknowledged, no progress for {patience:?}: is the job running with --state-dir?",
                    rows.len()
                )),
            });
        }
        let Ok(stream) = TcpStream::connect(addr) else {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
            continue;
        };
        summary.connections += 1;
        let _ = stream.set_nodelay(true);
        let reader = match stream.try_clone() {
            Ok(r) => r,
            Err(_) => continue,
        };
        let (acks, progress) = (acked.clone(), Arc::new(AtomicU64::new(0)));
        let reading = progress.clone();
        let acks_thread = std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if let Some(n) = line
                    .strip_prefix("ack ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                {
                    acks.fetch_max(n, Ordering::SeqCst);
                    reading.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let from = acked.load(Ordering::SeqCst);
        summary.resent += sent_through.saturating_sub(from);
        let mut out = BufWriter::with_capacity(1 << 16, &stream);
        let mut write = || -> std::io::Result<()> {
            writeln!(out, "#ack {id} {from}")?;
            out.write_all(&header)?;
            out.write_all(b"\n")?;
            let mut last_flush = Instant::now();
            for (row, (line, pickup)) in rows.iter().enumerate().skip(from as usize) {
                if let (Some(pacer), Some(t), true) = (&pacer, pickup, row as u64 >= sent_through) {
                    let wait = pacer.wait_for(*t);
                    if !wait.is_zero() {
                        out.flush()?;
                        std::thread::sleep(wait);
                    }
                }
                out.write_all(line)?;
                out.write_all(b"\n")?;
                sent_through = sent_through.max(row as u64 + 1);
                if last_flush.elapsed() >= Duration::from_millis(5) {
                    out.flush()?;
                    last_flush = Instant::now();
                }
            }
            out.flush()
        };
        let written = write();
        if written.is_ok() {
            let _ = stream.shutdown(Shutdown::Write);
            backoff = Duration::from_millis(50);
        }
        // The server closes once every row is acknowledged (or it goes away).
        let _ = acks_thread.join();
        if acked.load(Ordering::SeqCst) > from || progress.load(Ordering::SeqCst) > 0 {
            last_progress = Instant::now();
        }
        if acked.load(Ordering::SeqCst) < rows.len() as u64 {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
    summary.sent = SendSummary {
        lines: rows.len() as u64,
        bytes: rows.iter().map(|(l, _)| l.len() as u64 + 1).sum(),
    };
    Ok(summary)
}
