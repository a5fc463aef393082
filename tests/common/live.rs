//! Running the live job in-process for the tests: a job in, its addresses and a handle that
//! stops it out.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zonecast::dataflows::live::{GeneratedInput, LiveAddresses, LiveJob, LiveOutcome};
use zonecast::features::FeatureSpec;
use zonecast::model::{Baseline, ModelFile};
use zonecast::time::days_from_civil;

use super::http::get;

/// A running job.
pub struct Running {
    pub http: SocketAddr,
    pub socket: Option<SocketAddr>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<LiveOutcome>>,
}

impl Running {
    /// Starts `job` on its own thread (HTTP on port 0 unless set) and waits until it listens.
    pub fn start(mut job: LiveJob) -> Running {
        let (tx, rx) = channel::<LiveAddresses>();
        let tx = std::sync::Mutex::new(tx);
        job.on_ready = Some(Box::new(move |a| {
            let _ = tx.lock().unwrap().send(a.clone());
        }));
        let shutdown = job.shutdown.clone();
        let thread = std::thread::spawn(move || job.run().expect("live job"));
        let addresses = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the job starts");
        Running {
            http: addresses.http.expect("process 0 serves HTTP"),
            socket: addresses.socket,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Polls `/v1/status` until `check` holds (panics after `limit`).
    pub fn wait_for(
        &self,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let status = get(self.http, "/v1/status").json();
            if check(&status) {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "timed out waiting; last status {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the job and returns what it left.
    pub fn stop(mut self) -> LiveOutcome {
        self.shutdown.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("job thread")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A small spec for fast tests: the last 3 hours and the same hour yesterday.
pub fn small_spec() -> FeatureSpec {
    FeatureSpec::new(vec![1, 2, 3, 24], 0)
}

/// A generated stream: `history_days` backfilled, then live at `speed`.
pub fn generated(history_days: u32, speed: f64) -> GeneratedInput {
    let start = days_from_civil(2024, 3, 4) * 86_400;
    GeneratedInput::backfill_then_live(7, start, history_days, 3_000, speed)
}

/// A live job over a generated stream with a previous-hour model, HTTP on port 0.
pub fn generated_job(history_days: u32, speed: f64) -> LiveJob {
    let model = ModelFile::baseline(Baseline::PreviousHour, small_spec());
    let mut job = LiveJob::new(model, "127.0.0.1:0");
    job.inputs.generated = Some(generated(history_days, speed));
    job
}
