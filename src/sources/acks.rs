//! Acknowledgements for socket clients in `#ack` mode: epochs handed on (after the
//! write-ahead log made them durable) in; per client id the rows that are durable out.
//!
//! A client that opens with `#ack ID FROM` numbers its rows `FROM + 1, FROM + 2, ...` (the
//! row number is the position its rejects are reported at). Each time the tail's feed hands
//! an epoch on (with `--state-dir`: after the log synced it), the highest row of every
//! registered client in it becomes that id's durable count; the client's thread writes
//! `ack N` (rows up to N are durable) back. A client that reconnects after a failure resends
//! from its last `ack`; rows at or below the id's durable count are dropped as duplicates, so
//! a row is counted once even when its `ack` was lost. Durable counts survive restarts: the
//! log records which id each source is, and checkpoints keep the counts.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::sources::Batch;

/// The most client ids whose durable counts are remembered (older disconnected ones go).
const MAX_IDS: usize = 65_536;

/// Durable row counts per client id, and which connection is which id.
#[derive(Debug, Default)]
pub struct AckBoard {
    inner: Mutex<Inner>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Inner {
    /// Connected `#ack` clients: source index -> id.
    sources: HashMap<u32, String>,
    /// Rows durable per id.
    durable: HashMap<String, u64>,
}

impl AckBoard {
    /// Connection `source` is client `id`; returns the id's durable count.
    pub fn register(&self, source: u32, id: &str) -> u64 {
        let mut inner = self.inner.lock().expect("acks");
        inner.sources.insert(source, id.to_string());
        if inner.durable.len() >= MAX_IDS && !inner.durable.contains_key(id) {
            let connected: std::collections::HashSet<String> =
                inner.sources.values().cloned().collect();
            if let Some(old) = inner
                .durable
                .keys()
                .find(|k| !connected.contains(*k))
                .cloned()
            {
                inner.durable.remove(&old);
            }
        }
        *inner.durable.entry(id.to_string()).or_insert(0)
    }

    /// Connection `source` is gone.
    pub fn unregister(&self, source: u32) {
        self.inner.lock().expect("acks").sources.remove(&source);
    }

    /// The ids of the registered connections with rows in `batch` (for the log).
    pub fn ids_in(&self, batch: &Batch) -> Vec<(u32, String)> {
        let inner = self.inner.lock().expect("acks");
        if inner.sources.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<(u32, String)> = positions(batch)
            .filter_map(|(source, _)| inner.sources.get(&source).map(|id| (source, id.clone())))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Records `batch`'s rows of the connections `ids` names as durable.
    pub fn handed_on(&self, batch: &Batch, ids: &[(u32, String)]) {
        if ids.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().expect("acks");
        for (source, row) in positions(batch) {
            if let Some((_, id)) = ids.iter().find(|(s, _)| *s == source) {
                let durable = inner.durable.entry(id.clone()).or_insert(0);
                *durable = (*durable).max(row);
            }
        }
        self.changed.notify_all();
    }

    /// Rows of client `id` durable so far.
    pub fn durable(&self, id: &str) -> u64 {
        self.inner
            .lock()
            .expect("acks")
            .durable
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// Waits up to `timeout` for client `id`'s durable count to pass `rows`.
    pub fn wait_beyond(&self, id: &str, rows: u64, timeout: Duration) -> u64 {
        let inner = self.inner.lock().expect("acks");
        let (inner, _) = self
            .changed
            .wait_timeout_while(inner, timeout, |i| {
                i.durable.get(id).copied().unwrap_or(0) <= rows
            })
            .expect("acks");
        inner.durable.get(id).copied().unwrap_or(0)
    }

    /// Every id's durable count (for a checkpoint).
    pub fn counts(&self) -> Vec<(String, u64)> {
        let inner = self.inner.lock().expect("acks");
        let mut counts: Vec<(String, u64)> =
            inner.durable.iter().map(|(k, v)| (k.clone(), *v)).collect();
        counts.sort();
        counts
    }

    /// Restores counts (from a checkpoint, then from the log's epochs after it).
    pub fn restore(&self, counts: impl IntoIterator<Item = (String, u64)>) {
        let mut inner = self.inner.lock().expect("acks");
        for (id, rows) in counts {
            let durable = inner.durable.entry(id).or_insert(0);
            *durable = (*durable).max(rows);
        }
    }
}

/// `(source, row)` of every row in `batch`.
fn positions(batch: &Batch) -> impl Iterator<Item = (u32, u64)> + '_ {
    batch
        .trips
        .iter()
        .map(|(_, p)| (p.source, p.line))
        .chain(batch.rejects.iter().map(|r| (r.pos.source, r.pos.line)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::{Reject, RejectReason};
    use crate::trip::RowPos;

    #[test]
    fn durable_counts_follow_ids_across_connections() {
        let board = AckBoard::default();
        assert_eq!(board.register(3, "a"), 0);
        let mut batch = Batch::default();
        for (source, line) in [(3, 5), (3, 9), (4, 20)] {
            batch.rejects.push(Reject {
                pos: RowPos { source, line },
                reason: RejectReason::PartialLine(1),
            });
        }
        let ids = board.ids_in(&batch);
        assert_eq!(ids, vec![(3, "a".to_string())]);
        board.handed_on(&batch, &ids);
        assert_eq!(board.durable("a"), 9);
        board.unregister(3);
        // A reconnection under the same id learns what is durable.
        assert_eq!(board.register(7, "a"), 9);
        assert_eq!(board.wait_beyond("a", 8, Duration::from_millis(1)), 9);
        board.restore([("a".to_string(), 4), ("b".to_string(), 2)]);
        assert_eq!(
            board.counts(),
            vec![("a".to_string(), 9), ("b".to_string(), 2)]
        );
    }
}
