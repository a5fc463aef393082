//! Runnable dataflows: library parts wired into jobs. No operator is defined here.
//!
//! Each dataflow exposes one `build(...)` that takes its source and sinks as arguments, and a
//! job type that a binary or a Python binding configures and starts without any CLI: every
//! job's `start()` returns a [`crate::jobs::JobHandle`] (`run()` is `start()?.join()`).
//!
//! - [`aggregate`]: trips -> per-zone hourly aggregates (`zonecast aggregate`).
//! - [`forecast`]: trips -> hourly aggregates -> feature rows -> forecasts.
//! - [`live`]: trips -> forecasts served over HTTP (`zonecast run`).
//! - [`batch`]: trips -> forecasts and aggregates into the SQLite database (`zonecast batch`).
//! - [`serve`]: the SQLite database -> the live state and HTTP API (`zonecast serve`).
//! - [`demo`]: a generated stream and a model trained on its history -> a live job (`zonecast`).
//! - [`history`]: trips or hourly tables -> the pickup history that `train` and `evaluate` use.

pub mod aggregate;
pub mod batch;
pub mod demo;
pub mod durable;
pub mod forecast;
pub mod history;
pub mod live;
pub mod serve;
