//! `zonecast` with no arguments: an offline demo of the aggregate job on generated trips.
//!
//! Generates five weeks of synthetic yellow trips (seeded), streams them through the aggregate
//! dataflow on two workers, writes the hourly table, the update log and the rejects into
//! `zonecast-demo/`, prints the busiest zones of the last full hour, then trains a forecasting
//! model on the same aggregates and prints its validation errors next to the baselines.

use std::path::PathBuf;

use zonecast::dataflows::aggregate::{AggregateJob, AggregateOutputs};
use zonecast::features::hourly_input::history_from_table;
use zonecast::features::FeatureSpec;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::model::train::{train, TrainConfig};
use zonecast::model::ModelKind;
use zonecast::runtime::Cluster;
use zonecast::time::{format_elapsed, format_hour};

pub fn run() -> anyhow::Result<()> {
    let dir = PathBuf::from("zonecast-demo");
    std::fs::create_dir_all(&dir)?;
    let trips = dir.join("trips.csv");
    eprintln!(
        "zonecast demo: generating five weeks of synthetic yellow-taxi trips into {}",
        trips.display()
    );
    let config = GeneratorConfig {
        trips: 600_000,
        days: 35,
        seed: 42,
        ..GeneratorConfig::default()
    };
    write_trips(&trips, TripGenerator::new(config))?;
    let mut job = AggregateJob::files(vec![trips.clone()]);
    job.cluster = Cluster::threads(2);
    job.show_progress = true;
    job.outputs = AggregateOutputs {
        table: Some(dir.join("hourly.csv")),
        changes: Some(dir.join("changes.csv")),
        rejects: Some(dir.join("rejects.csv")),
    };
    let outcome = job.run()?.expect("single process");
    for line in outcome.report.summary_lines() {
        eprintln!("{line}");
    }
    eprintln!("wall time      {}", format_elapsed(outcome.elapsed));
    let rows = outcome.table.rows();
    if let Some(last) = rows.last().map(|(k, _)| k.hour) {
        let mut busiest: Vec<_> = rows.iter().filter(|(k, _)| k.hour == last - 1).collect();
        busiest.sort_by_key(|(k, s)| (-s.pickups, k.zone));
        println!("busiest zones in the hour {}:", format_hour(last - 1));
        for (key, stats) in busiest.iter().take(5) {
            println!(
                "  zone {:>3}  {:>4} pickups  mean fare ${}",
                key.zone,
                stats.pickups,
                stats.fare.format()
            );
        }
    }
    let history = history_from_table(&outcome.table);
    let mut config = TrainConfig::new(history.last_hour().map_or(0, |h| h + 1));
    config.kind = ModelKind::Ridge;
    config.spec = FeatureSpec::new(FeatureSpec::parse_lags("1-24,168")?, 1);
    config.validation_hours = Some(168);
    let trained = train(&history, &config, &mut |line| eprintln!("{line}"))?;
    trained.model.save(&dir.join("model.bin"))?;
    println!(
        "forecasting model ({}, {}) on the last week:",
        trained.model.kind, trained.model.spec
    );
    for (name, m) in &trained.model.validation {
        println!("  {name:<22} MAE {:>7.3}  RMSE {:>7.3}", m.mae, m.rmse);
    }
    println!("model:         {}", dir.join("model.bin").display());
    println!("hourly table:  {}", dir.join("hourly.csv").display());
    println!("update log:    {}", dir.join("changes.csv").display());
    println!("rejects:       {}", dir.join("rejects.csv").display());
    println!("next: zonecast aggregate --help   (the HTTP server arrives with `zonecast run`)");
    Ok(())
}
