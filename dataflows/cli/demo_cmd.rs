//! `zonecast` with no arguments: an offline demo of the aggregate job on generated trips.
//!
//! Generates a week of synthetic yellow trips (seeded), streams them through the aggregate
//! dataflow on two workers, and writes the hourly table, the update log and the rejects into
//! `zonecast-demo/`, then prints the busiest zones of the last full hour.

use std::path::PathBuf;

use zonecast::dataflows::aggregate::{AggregateJob, AggregateOutputs};
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::runtime::Cluster;
use zonecast::time::{format_elapsed, format_hour};

pub fn run() -> anyhow::Result<()> {
    let dir = PathBuf::from("zonecast-demo");
    std::fs::create_dir_all(&dir)?;
    let trips = dir.join("trips.csv");
    eprintln!(
        "zonecast demo: generating a week of synthetic yellow-taxi trips into {}",
        trips.display()
    );
    let config = GeneratorConfig {
        trips: 300_000,
        days: 7,
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
    println!("hourly table:  {}", dir.join("hourly.csv").display());
    println!("update log:    {}", dir.join("changes.csv").display());
    println!("rejects:       {}", dir.join("rejects.csv").display());
    println!("next: zonecast aggregate --help   (the HTTP server arrives with `zonecast run`)");
    Ok(())
}
