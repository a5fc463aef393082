//! `zonecast evaluate`: a model and a pickup history in, MAE and RMSE of the model and of every
//! baseline over a range of target hours out (a table, or JSON with `--json`).

use std::path::PathBuf;

use clap::Args;
use zonecast::dataflows::history::load_history;
use zonecast::model::train::evaluate;
use zonecast::model::{Metrics, ModelFile};

use super::model_args::{parse_hour, HistoryArgs};

/// Flags of `zonecast evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    history: HistoryArgs,
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// First target hour (inclusive).
    #[arg(long, value_parser = parse_hour)]
    from: i64,
    /// Last target hour (exclusive).
    #[arg(long, value_parser = parse_hour)]
    to: i64,
    /// Print `{"rows": N, "mae": {...}, "rmse": {...}}`.
    #[arg(long)]
    json: bool,
}

const NAMES: [&str; 4] = [
    "model",
    "previous_hour",
    "same_hour_last_week",
    "four_week_mean",
];

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let model = ModelFile::load(&args.model)?;
    let (history, line) = load_history(args.history.input())?;
    if !args.json {
        eprintln!("{line}");
    }
    let metrics = evaluate(&model, &history, args.from, args.to);
    let get = |name: &str| metrics.get(name).copied().unwrap_or_default();
    if args.json {
        let field = |pick: fn(&Metrics) -> f64| {
            NAMES
                .iter()
                .map(|n| format!("\"{n}\": {}", json_number(pick(&get(n)))))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{{\"rows\": {}, \"mae\": {{{}}}, \"rmse\": {{{}}}}}",
            get("model").rows,
            field(|m| m.mae),
            field(|m| m.rmse)
        );
    } else {
        println!(
            "model {} version {}, {} rows",
            model.kind,
            model.version,
            get("model").rows
        );
        println!("  {:<22} {:>10} {:>10}", "", "MAE", "RMSE");
        for name in NAMES {
            let m = get(name);
            println!("  {:<22} {:>10.4} {:>10.4}", name, m.mae, m.rmse);
        }
    }
    Ok(())
}

/// A finite JSON number (0 for NaN or infinity, which cannot occur with rows > 0).
fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "0".into()
    }
}
