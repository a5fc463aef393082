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
//!
//! Within a running job, a client may reconnect while its old connection still has rows on
//! their way (a network blip): the board also keeps the highest row each id's connections
//! have read, a new connection of an id cuts the old one off (its later reads are dropped,
//! under the same lock), and resent rows up to what was read are dropped too.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::sources::Batch;

/// The most client ids whose durable counts are remembered (older disconnected ones go).
const MAX_IDS: usize = 65_536;
/// Departed connections whose ids are still known (their rows may still be on their way).
const KEEP_DEPARTED: usize = 4_096;

/// Durable row counts per client id, and which connection is which id.
#[derive(Debug, Default)]
pub struct AckBoard {
    inner: Mutex<Inner>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Inner {
    /// `#ack` connections (and the last departed ones): source index -> id.
    sources: HashMap<u32, String>,
    /// Departed connections still in `sources`, oldest first.
    departed: std::collections::VecDeque<u32>,
    /// Rows durable per id.
    durable: HashMap<String, u64>,
    /// Rows read per id (by this process's connections; at least `durable`).
    read: HashMap<String, u64>,
    /// Connections replaced by a newer connection of their id.
    superseded: std::collections::HashSet<u32>,
}

impl AckBoard {
    /// Connection `source` is client `id` (older connections of `id` are cut off); returns
    /// the rows of `id` already taken (durable, or read by this job): resent ones are dropped.
    pub fn register(&self, source: u32, id: &str) -> u64 {
        let mut inner = self.inner.lock().expect("acks");
        let older: Vec<u32> = inner
            .sources
            .iter()
            .filter(|(s, i)| **s != source && i.as_str() == id)
            .map(|(s, _)| *s)
            .collect();
        inner.superseded.extend(older);
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
                inner.read.remove(&old);
            }
        }
        let durable = *inner.durable.entry(id.to_string()).or_insert(0);
        durable.max(inner.read.get(id).copied().unwrap_or(0))
    }

    /// Connection `source` of client `id` has read rows up to `row` and is about to hand
    /// them on: `false` when a newer connection of its id replaced it (drop them and close).
    pub fn read_up_to(&self, source: u32, id: &str, row: u64) -> bool {
        let mut inner = self.inner.lock().expect("acks");
        if inner.superseded.contains(&source) {
            return false;
        }
        let read = inner.read.entry(id.to_string()).or_insert(0);
        *read = (*read).max(row);
        true
    }

    /// Connection `source` is gone (its id stays known for a while: rows it read may still
    /// be on their way to the log).
    pub fn unregister(&self, source: u32) {
        let mut inner = self.inner.lock().expect("acks");
        inner.departed.push_back(source);
        while inner.departed.len() > KEEP_DEPARTED {
            let gone = inner.departed.pop_front().expect("departed");
            inner.sources.remove(&gone);
            inner.superseded.remove(&gone);
        }
    }

    /// The ids of the registered connections with rows in `batch` (for the log).
    pub fn ids_in(&self, batch: &Batch) -> Vec<(u32, String)> {
        let inner = self.inner.lock().expect("acks");
        if inner.sources.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<(u32, String)> = batch
            .positions()
            .filter_map(|p| {
                inner
                    .sources
                    .get(&p.source)
                    .map(|id| (p.source, id.clone()))
            })
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
        for pos in batch.positions() {
            if let Some((_, id)) = ids.iter().find(|(s, _)| *s == pos.source) {
                let durable = inner.durable.entry(id.clone()).or_insert(0);
                *durable = (*durable).max(pos.line);
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
            let read = inner.read.entry(id.clone()).or_insert(0);
            *read = (*read).max(rows);
            let durable = inner.durable.entry(id).or_insert(0);
            *durable = (*durable).max(rows);
        }
    }
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

    #[test]
    fn a_reconnection_skips_rows_still_on_their_way_and_cuts_the_old_connection_off() {
        let board = AckBoard::default();
        assert_eq!(board.register(1, "c"), 0);
        assert!(board.read_up_to(1, "c", 50));
        // Nothing is durable yet, but 50 rows are read: a new connection resends from 0.
        assert_eq!(board.register(2, "c"), 50);
        assert!(
            !board.read_up_to(1, "c", 80),
            "the old connection is cut off"
        );
        assert!(board.read_up_to(2, "c", 80));
        board.unregister(1);
        assert_eq!(board.register(3, "other"), 0);
    }
}
