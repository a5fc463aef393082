//! Model swaps into the dataflow's time: a [`ModelHandle`] (polled on worker 0) and the
//! source's progress in, a stream of new model files stamped with the epoch they apply at out.
//!
//! The operator holds a capability that follows its input's frontier (the next epoch the
//! source will emit), so a swap is stamped with an epoch no worker has scored yet and every
//! worker applies it at that same epoch. It lets go when the input ends.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::StreamVec;

use crate::model::watch::ModelHandle;

/// A new model file's bytes (validated by the watcher), to apply at the message's epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSwap {
    /// The encoded model file.
    pub bytes: Vec<u8>,
}

/// Extension trait: stamp offered models with the epoch they apply at.
pub trait WatchModel<'scope> {
    /// Emits a [`ModelSwap`] (on worker 0) whenever `handle` offers a new model; the input is
    /// any stream that advances with the source (only its frontier is read).
    ///
    /// # Examples
    /// ```
    /// use timely::dataflow::operators::{ToStream, Inspect};
    /// use zonecast::model::watch::ModelHandle;
    /// use zonecast::operators::WatchModel;
    ///
    /// timely::example(|scope| {
    ///     (0..3u64).to_stream(scope).container::<Vec<_>>()
    ///         .watch_model_named("WatchModel", ModelHandle::new())
    ///         .inspect(|swap| println!("{} bytes", swap.bytes.len()));
    /// });
    /// ```
    fn watch_model_named(
        self,
        name: &str,
        handle: Arc<ModelHandle>,
    ) -> StreamVec<'scope, u64, ModelSwap>;
}

impl<'scope, D: Clone + 'static> WatchModel<'scope> for StreamVec<'scope, u64, D> {
    fn watch_model_named(
        self,
        name: &str,
        handle: Arc<ModelHandle>,
    ) -> StreamVec<'scope, u64, ModelSwap> {
        let scope = self.scope();
        let mut builder = OperatorBuilder::new(name.to_owned(), scope);
        let activator = scope.activator_for(builder.operator_info().address);
        let (swaps_out, swaps) = builder.new_output();
        let mut progress_in = builder.new_input(self, Pipeline);
        let mut swaps_out = OutputBuilder::<
            _,
            timely::container::CapacityContainerBuilder<Vec<ModelSwap>>,
        >::from(swaps_out);
        let leader = scope.index() == 0;
        builder.build(move |mut caps| {
            let mut cap = if leader { caps.pop() } else { None };
            // Models offered before the dataflow was built (a swap right after start, or
            // the swap a restarted job's checkpoint had pending) apply at the first epoch.
            let mut seen = 0;
            move |frontiers| {
                progress_in.for_each(|_cap, data| data.clear());
                let Some(held) = cap.as_mut() else { return };
                match frontiers[0].frontier().first() {
                    None => {
                        cap = None;
                        return;
                    }
                    Some(&next) if next > *held.time() => held.downgrade(&next),
                    Some(_) => {}
                }
                if handle.generation() != seen {
                    seen = handle.generation();
                    if let Some(bytes) = handle.latest() {
                        swaps_out.activate().session(&*held).give(ModelSwap {
                            bytes: bytes.to_vec(),
                        });
                    }
                }
                activator.activate_after(Duration::from_millis(50));
            }
        });
        swaps
    }
}
