//! zonecast: real-time per-zone taxi demand on timely and differential dataflow.
//!
//! **Records** ([`trip`], [`time`], [`forecast`], [`watermark`], [`format`]): a TLC row
//! becomes a [`trip::Trip`] (naive pickup time, zone, exact decimal amounts); trips are counted
//! per [`trip::ZoneHour`] into [`trip::HourlyStats`]; the model emits
//! [`forecast::ZoneForecast`]s; [`watermark`] is the pure event-time state machine
//! ([`watermark::WatermarkPolicy`], [`watermark::WatermarkState`]); [`format::Format`] names
//! an input or output file format.
//!
//! **Sources** ([`sources`], [`schema`]): CSV and Parquet files replayed in epochs, and a TCP
//! socket for live rows. Bad rows never stop a source: each becomes a [`reject::Reject`] with
//! its position and reason.
//!
//! **Operators** ([`operators`]): event-time classification against a robust watermark
//! ([`operators::ClassifyLateness`]) and incremental per-zone hourly aggregates with bounded
//! state ([`operators::AggregateHourly`]).
//!
//! **Sinks** ([`sinks`], [`report`]): the hourly table, the update log, the run report.
//!
//! **Dataflows** ([`dataflows`]): the runnable jobs, wired from the parts above (the files live
//! in the top-level `dataflows/` folder). [`runtime`] starts them on threads or processes.
//!
//! **Features and models** ([`features`], [`model`]): feature rows from hourly pickups (the
//! same code for training and streaming), baselines, ridge and random-forest models, model
//! files, training and evaluation.
//!
//! **Serving** ([`live`], [`server`]): finished epochs become the live state (current
//! forecast per zone, actuals, online evaluation); the HTTP server (warp) publishes it as
//! pre-serialised snapshots, Server-Sent Events, Prometheus metrics and a dashboard.
//!
//! **Store** ([`store`]): the SQLite prediction database that batch runs write and
//! `zonecast serve` reads.
//!
//! **Generator** ([`generator`]): seeded, realistic synthetic TLC trips for demos and benches.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod features;
pub mod forecast;
pub mod format;
pub mod generator;
pub mod jobs;
pub mod live;
pub mod logging;
pub mod model;
pub mod operators;
pub mod progress;
pub mod reject;
pub mod report;
pub mod resume;
pub mod runtime;
pub mod schema;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod time;
pub mod trip;
pub mod watermark;

#[path = "../dataflows/mod.rs"]
pub mod dataflows;

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
