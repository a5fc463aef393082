//! Running a dataflow on workers: a [`Cluster`] description in, a timely configuration and the
//! per-worker results out.
//!
//! `workers` threads per process; with `processes > 1`, every process runs the same command
//! with its own `process` index and the same hostfile (one `host:port` per line, process 0
//! first). Example for two processes on one machine:
//!
//! ```text
//! printf '127.0.0.1:7101\n127.0.0.1:7102\n' > hosts.txt
//! zonecast aggregate --input trips.csv --out a.csv --processes 2 --process 0 --hostfile hosts.txt &
//! zonecast aggregate --input trips.csv --processes 2 --process 1 --hostfile hosts.txt
//! ```

use std::path::PathBuf;
use std::time::Duration;

use timely::worker::Worker;

/// Errors starting or running workers.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The hostfile could not be read.
    #[error("cannot read hostfile {path}: {source}")]
    Hostfile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The hostfile lists fewer addresses than processes.
    #[error("hostfile {path} lists {found} addresses but {wanted} processes were asked for: write one host:port per line, one line per process")]
    TooFewHosts {
        /// The file.
        path: PathBuf,
        /// Addresses found.
        found: usize,
        /// Processes wanted.
        wanted: usize,
    },
    /// Several processes but no hostfile.
    #[error("{0} processes need a hostfile with one host:port per process")]
    NoHostfile(usize),
    /// `process` is not below `processes`.
    #[error("process index {process} is out of range for {processes} processes: number processes from 0 to {processes} - 1")]
    BadProcessIndex {
        /// This process.
        process: usize,
        /// All processes.
        processes: usize,
    },
    /// Timely could not start or a worker panicked.
    #[error("dataflow failed: {0}")]
    Timely(String),
}

/// Where the workers run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Worker threads per process.
    pub workers: usize,
    /// Number of processes.
    pub processes: usize,
    /// This process's index.
    pub process: usize,
    /// `host:port` per process, one per line (required with `processes > 1`).
    pub hostfile: Option<PathBuf>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
        }
    }
}

impl Cluster {
    /// `n` worker threads in this process.
    pub fn threads(n: usize) -> Self {
        Cluster {
            workers: n.max(1),
            ..Cluster::default()
        }
    }

    /// Total workers across processes.
    pub fn peers(&self) -> usize {
        self.workers.max(1) * self.processes.max(1)
    }

    /// Whether this process hosts global worker 0 (which gathers the outputs).
    pub fn is_leader(&self) -> bool {
        self.process == 0
    }

    /// The timely configuration.
    pub fn timely_config(&self) -> Result<timely::Config, RuntimeError> {
        let workers = self.workers.max(1);
        if self.processes <= 1 {
            return Ok(timely::Config::process(workers));
        }
        if self.process >= self.processes {
            return Err(RuntimeError::BadProcessIndex {
                process: self.process,
                processes: self.processes,
            });
        }
        let path = self
            .hostfile
            .clone()
            .ok_or(RuntimeError::NoHostfile(self.processes))?;
        let text = std::fs::read_to_string(&path).map_err(|source| RuntimeError::Hostfile {
            path: path.clone(),
            source,
        })?;
        let addresses: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(self.processes)
            .map(String::from)
            .collect();
        if addresses.len() < self.processes {
            return Err(RuntimeError::TooFewHosts {
                path,
                found: addresses.len(),
                wanted: self.processes,
            });
        }
        Ok(timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads: workers,
                process: self.process,
                addresses,
                report: false,
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        })
    }

    /// Runs `logic` on every worker of this process and returns their results in worker order.
    pub fn execute<R, F>(&self, logic: F) -> Result<Vec<R>, RuntimeError>
    where
        R: Send + 'static,
        F: Fn(&mut Worker) -> R + Send + Sync + 'static,
    {
        let guards = timely::execute(self.timely_config()?, logic).map_err(RuntimeError::Timely)?;
        guards
            .join()
            .into_iter()
            .map(|r| r.map_err(RuntimeError::Timely))
            .collect()
    }
}

/// Steps a worker until all its dataflows have finished, parking when idle.
pub fn run_to_completion(worker: &mut Worker) {
    while worker.step_or_park(Some(Duration::from_millis(2))) {}
}
