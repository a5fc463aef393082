//! Source names by index: names in as parts open and clients connect, a name for any row
//! position's source out (for reject reports).
//!
//! Files, memory rows, the generated stream and the channel keep their names for the whole
//! job. A socket client's name (`tcp:HOST:PORT`) is kept while it is connected and for the
//! next [`SourceNames::RETAINED_DEPARTED`] disconnects after it, long enough for its last
//! epochs to be reported; then it is released and the source is named by its index. So a
//! server that sees clients come and go for months holds a bounded number of names.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The job's source names (cheap to clone; every clone is the same table).
#[derive(Clone, Debug, Default)]
pub struct SourceNames(Arc<Mutex<NameTable>>);

#[derive(Debug, Default)]
struct NameTable {
    names: HashMap<u32, String>,
    next: u32,
    departed: VecDeque<u32>,
}

impl SourceNames {
    /// Disconnected clients whose names are still kept.
    pub const RETAINED_DEPARTED: usize = 4096;

    fn table(&self) -> std::sync::MutexGuard<'_, NameTable> {
        self.0.lock().expect("source names")
    }

    fn add(&self, name: String) -> u32 {
        let mut table = self.table();
        let index = table.next;
        table.next = table.next.wrapping_add(1);
        table.names.insert(index, name);
        index
    }

    /// Adds a source kept for the whole job (a file, memory rows); returns its index.
    pub fn push(&self, name: impl Into<String>) -> u32 {
        self.add(name.into())
    }

    /// Adds a connected client; returns its index.
    pub fn connect(&self, name: String) -> u32 {
        self.add(name)
    }

    /// The client `index` left: its name is kept a while longer, then released.
    pub fn disconnect(&self, index: u32) {
        let mut table = self.table();
        table.departed.push_back(index);
        while table.departed.len() > Self::RETAINED_DEPARTED {
            let released = table.departed.pop_front().expect("over the limit");
            table.names.remove(&released);
        }
    }

    /// The name of source `index` (a released client's is `source #INDEX`).
    ///
    /// ```
    /// use zonecast::sources::source_names::SourceNames;
    /// let names = SourceNames::default();
    /// let file = names.push("trips.csv");
    /// let client = names.connect("tcp:127.0.0.1:5000".into());
    /// names.disconnect(client);
    /// assert_eq!(names.name(file), "trips.csv");
    /// assert_eq!(names.name(client), "tcp:127.0.0.1:5000");
    /// ```
    pub fn name(&self, index: u32) -> String {
        self.table()
            .names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("source #{index}"))
    }

    /// Every name by index (for a bounded job's final report).
    pub fn to_vec(&self) -> Vec<String> {
        let next = self.table().next;
        (0..next).map(|i| self.name(i)).collect()
    }

    /// Names held now.
    pub fn held(&self) -> usize {
        self.table().names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_departed_clients_are_released_after_the_retained_window() {
        let names = SourceNames::default();
        let file = names.push("trips.csv");
        for i in 0..3 * SourceNames::RETAINED_DEPARTED as u32 {
            let client = names.connect(format!("tcp:10.0.0.1:{i}"));
            names.disconnect(client);
        }
        assert_eq!(names.held(), 1 + SourceNames::RETAINED_DEPARTED);
        assert_eq!(names.name(file), "trips.csv");
        assert_eq!(names.name(1), "source #1");
        let last = 3 * SourceNames::RETAINED_DEPARTED as u32;
        assert_eq!(names.name(last), format!("tcp:10.0.0.1:{}", last - 1));
    }
}
