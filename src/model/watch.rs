//! Hot swap: a watched model file in, validated model versions out.
//!
//! A [`ModelWatcher`] thread polls the file (modification time and size); a new file is loaded
//! and checked against the pipeline's feature spec before it is offered. An invalid, corrupt or
//! mismatched file is rejected with an error (logged and kept in [`ModelHandle::last_error`])
//! and the old model keeps serving. The dataflow picks offered models up through the
//! `WatchModel` operator, which applies them at one epoch on every worker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::features::FeatureSpec;
use crate::model::external::ExternalModel;
use crate::model::{Fitted, ModelError, ModelFile};

/// The latest valid model file's bytes, with a generation counter.
#[derive(Debug, Default)]
pub struct ModelHandle {
    generation: AtomicU64,
    /// The latest offered model: its version and file bytes.
    latest: Mutex<Option<(String, Arc<Vec<u8>>)>>,
    last_error: Mutex<Option<String>>,
    rejected: AtomicU64,
    /// External models served so far (their failed batches are the job's model errors).
    external: Mutex<Vec<ExternalModel>>,
    /// The kind of every model offered, by version (the server names the kind it serves).
    kinds: Mutex<std::collections::BTreeMap<String, &'static str>>,
}

impl ModelHandle {
    /// A handle with nothing offered yet.
    pub fn new() -> Arc<Self> {
        Arc::new(ModelHandle::default())
    }

    /// Offers a model (validated): its bytes become the latest, the generation goes up.
    pub fn offer(&self, model: &ModelFile) {
        self.track(model);
        self.kinds
            .lock()
            .expect("model handle")
            .insert(model.version.clone(), model.kind.name());
        *self.last_error.lock().expect("model handle") = None;
        *self.latest.lock().expect("model handle") =
            Some((model.version.clone(), Arc::new(model.to_bytes())));
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a rejected file.
    pub fn reject(&self, error: &ModelError) {
        tracing::error!(%error, "new model file rejected; the current model keeps serving");
        *self.last_error.lock().expect("model handle") = Some(error.to_string());
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation of the latest offered model (0: none offered).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The latest offered model's bytes.
    pub fn latest(&self) -> Option<Arc<Vec<u8>>> {
        self.latest_with_version().map(|(_, bytes)| bytes)
    }

    /// The latest offered model's version and bytes.
    pub fn latest_with_version(&self) -> Option<(String, Arc<Vec<u8>>)> {
        self.latest.lock().expect("model handle").clone()
    }

    /// The kind of the offered model with `version`, if one was offered.
    pub fn kind_of(&self, version: &str) -> Option<&'static str> {
        self.kinds
            .lock()
            .expect("model handle")
            .get(version)
            .copied()
    }

    /// The last rejection's message (cleared when a valid model is offered).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("model handle").clone()
    }

    /// How many files were rejected.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::SeqCst)
    }

    /// Counts `model`'s scoring errors among the job's (external models only; the job's
    /// starting model and every offered one are tracked).
    pub fn track(&self, model: &ModelFile) {
        if let Fitted::External(external) = &model.fitted {
            self.external
                .lock()
                .expect("model handle")
                .push(external.clone());
        }
    }

    /// Batches an external model failed and the baseline served (`OnError::Fallback`).
    pub fn scoring_errors(&self) -> u64 {
        let external = self.external.lock().expect("model handle");
        external.iter().map(ExternalModel::errors).sum()
    }
}

/// Polls a model file and offers every new valid version to a [`ModelHandle`].
pub struct ModelWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl ModelWatcher {
    /// Watches `path` every `interval`; files must match `spec`. The file present at start is
    /// taken as already loaded.
    pub fn start(
        path: PathBuf,
        spec: FeatureSpec,
        handle: Arc<ModelHandle>,
        interval: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("zonecast-model-watch".into())
            .spawn(move || {
                let mut seen = stamp(&path);
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(interval);
                    let now = stamp(&path);
                    if now.is_none() || now == seen {
                        continue;
                    }
                    seen = now;
                    match ModelFile::load(&path).and_then(|m| m.check_spec(&spec).map(|_| m)) {
                        Ok(model) => {
                            tracing::info!(version = %model.version, "new model file loaded");
                            handle.offer(&model);
                        }
                        Err(error) => handle.reject(&error),
                    }
                }
            })
            .expect("spawn model watcher");
        ModelWatcher {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ModelWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
