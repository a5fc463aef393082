//! `zonecast generate`: flags in, a synthetic trip file out.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use zonecast::generator::writers::write_trips;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::time::parse_naive;

/// Flags of `zonecast generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Output file: `.csv` or `.parquet`.
    #[arg(long)]
    out: PathBuf,
    /// Number of trips.
    #[arg(long, default_value_t = 100_000)]
    trips: u64,
    /// Number of days, starting at --start.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Random seed (same seed, same file).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First day, `YYYY-MM-DD`.
    #[arg(long, default_value = "2024-01-01")]
    start: String,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let start = parse_naive(args.start.as_bytes())
        .with_context(|| format!("--start {:?} is not YYYY-MM-DD", args.start))?;
    let config = GeneratorConfig {
        trips: args.trips,
        days: args.days,
        seed: args.seed,
        start,
        ..GeneratorConfig::default()
    };
    let started = std::time::Instant::now();
    let n = write_trips(&args.out, TripGenerator::new(config))?;
    eprintln!(
        "wrote {n} trips to {} in {}",
        args.out.display(),
        zonecast::time::format_elapsed(started.elapsed())
    );
    Ok(())
}
