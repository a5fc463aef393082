//! `zonecast train`: a pickup history in, a model file and a validation report out.

use std::path::PathBuf;

use clap::Args;
use zonecast::dataflows::history::load_history;
use zonecast::features::FeatureSpec;
use zonecast::model::gbdt::{GbdtParams, TreeShape};
use zonecast::model::train::{dataset, train, TrainConfig};
use zonecast::model::ModelKind;
use zonecast::time::format_hour;

use super::model_args::{parse_hour, HistoryArgs};

/// Flags of `zonecast train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    history: HistoryArgs,
    /// Train on target hours before this time (default: the end of the data).
    #[arg(long, value_parser = parse_hour)]
    until: Option<i64>,
    /// Model: rf (random forest), gbdt (gradient-boosted trees), ridge, previous_hour,
    /// same_hour_last_week, four_week_mean.
    #[arg(long, default_value = "gbdt")]
    model: ModelKind,
    /// With --model gbdt: boosting rounds at most (training stops early on the validation
    /// week and keeps the best round).
    #[arg(long, default_value_t = GbdtParams::default().rounds)]
    rounds: usize,
    /// With --model gbdt: the learning rate (shrinkage of every tree).
    #[arg(long, default_value_t = GbdtParams::default().learning_rate)]
    learning_rate: f64,
    /// With --model gbdt: symmetric (one question per level, fast to score) or leaf-wise
    /// (LightGBM's shape) trees.
    #[arg(long, default_value = "symmetric", value_parser = parse_shape)]
    trees: TreeShape,
    /// With --model gbdt and symmetric trees: levels per tree (1 to 8).
    #[arg(long, default_value_t = GbdtParams::default().depth)]
    depth: usize,
    /// With --model gbdt and leaf-wise trees: leaves per tree at most.
    #[arg(long, default_value_t = GbdtParams::default().max_leaves)]
    max_leaves: usize,
    /// With --model gbdt and symmetric trees: add the zone's identity as a feature, its mean
    /// pickups over the training rows (smoothed towards the overall mean).
    #[arg(long)]
    zone_encoding: bool,
    /// With --model gbdt: grow every tree on every row (no gradient-based sampling; slower,
    /// about as accurate).
    #[arg(long)]
    no_sampling: bool,
    /// Lags in hours, e.g. `1-24,168,336,504,672`.
    #[arg(long, default_value = "1-24,168,336,504,672")]
    lags: String,
    /// Weeks in the same-hour mean feature.
    #[arg(long, default_value_t = 4)]
    same_hour_weeks: u32,
    /// Add the trend features: rolling 3, 6 and 24 h means, the zone's level over the
    /// same-hour weeks, last hour minus last week.
    #[arg(long)]
    trends: bool,
    /// Hours held out for validation (default: a week, or a quarter of a shorter range).
    #[arg(long)]
    validation_hours: Option<i64>,
    /// Where to write the model.
    #[arg(long)]
    out: PathBuf,
    /// Also write the training and validation rows (features and target) as `train.csv` and
    /// `valid.csv` into this folder, e.g. to fit another library on exactly the same data (the
    /// zone encoding is not a column: `benches/lightgbm_compare.py --zone-encoding` computes it
    /// from the zone column as zonecast does).
    #[arg(long)]
    export_features: Option<PathBuf>,
}

fn parse_shape(text: &str) -> Result<TreeShape, String> {
    text.parse()
}

/// Writes `data` as CSV: the spec's feature names, then `zone,target_hour,target`.
fn export(
    path: &std::path::Path,
    spec: &FeatureSpec,
    data: &zonecast::model::train::Dataset,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{},zone,target_hour,target", spec.names().join(","))?;
    for (row, actual) in data.rows.iter().zip(&data.actuals) {
        let values: Vec<String> = spec.vector(row).iter().map(|v| v.to_string()).collect();
        writeln!(
            out,
            "{},{},{},{actual}",
            values.join(","),
            row.zone,
            row.target_hour
        )?;
    }
    out.flush()
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let spec = FeatureSpec::new(FeatureSpec::parse_lags(&args.lags)?, args.same_hour_weeks)
        .with_trends(args.trends);
    let (history, line) = load_history(args.history.input())?;
    eprintln!("{line}");
    let end = history.last_hour().map_or(0, |h| h + 1);
    let mut config = TrainConfig::new(args.until.unwrap_or(end));
    config.kind = args.model;
    config.spec = spec;
    config.validation_hours = args.validation_hours;
    config.zone_encoding = args.zone_encoding;
    config.gbdt = GbdtParams {
        rounds: args.rounds.max(1),
        learning_rate: args.learning_rate,
        shape: args.trees,
        depth: args.depth,
        max_leaves: args.max_leaves.max(2),
        sampling: !args.no_sampling,
        ..GbdtParams::default()
    };
    let trained = train(&history, &config, &mut |line| eprintln!("{line}"))?;
    let model = &trained.model;
    model.save(&args.out)?;
    println!(
        "model {} ({}) version {} trained on {} rows, target hours {} .. {}",
        model.kind,
        model.spec,
        model.version,
        trained.train_rows,
        format_hour(model.trained_from),
        format_hour(trained.validation.0)
    );
    println!(
        "validation {} .. {}:",
        format_hour(trained.validation.0),
        format_hour(trained.validation.1)
    );
    println!("  {:<22} {:>10} {:>10} {:>8}", "", "MAE", "RMSE", "rows");
    for (name, m) in &model.validation {
        println!(
            "  {:<22} {:>10.4} {:>10.4} {:>8}",
            name, m.mae, m.rmse, m.rows
        );
    }
    println!(
        "saved {} in {}",
        args.out.display(),
        zonecast::time::format_elapsed(started.elapsed())
    );
    if let Some(dir) = &args.export_features {
        std::fs::create_dir_all(dir)?;
        let (split, until) = trained.validation;
        let train_rows = dataset(&history, &model.spec, model.trained_from, split);
        let valid_rows = dataset(&history, &model.spec, split, until);
        export(&dir.join("train.csv"), &model.spec, &train_rows)?;
        export(&dir.join("valid.csv"), &model.spec, &valid_rows)?;
        println!(
            "exported {} training and {} validation rows to {}",
            train_rows.rows.len(),
            valid_rows.rows.len(),
            dir.display()
        );
    }
    Ok(())
}
