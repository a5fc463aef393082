//! Golden fixtures: every input in `fixtures/trips/` is aggregated and its table, update log and
//! rejects are compared byte for byte with `fixtures/expected/`. `UPDATE_GOLDEN=1` rewrites them.

mod common;

use std::path::Path;

use common::{zonecast, Scratch};

#[test]
fn golden_fixtures_match_expected_outputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).unwrap();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut inputs: Vec<_> = std::fs::read_dir("fixtures/trips")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("csv") | Some("parquet")
            )
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 3, "fixtures missing: {inputs:?}");
    let dir = Scratch::new();
    let mut failures = Vec::new();
    for input in &inputs {
        let name = input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('.', "_");
        let args_file = input.with_extension("args");
        let extra = std::fs::read_to_string(&args_file).unwrap_or_default();
        let outputs =
            ["hourly", "changes", "rejects"].map(|k| (k, dir.path(&format!("{name}.{k}.csv"))));
        let mut args = vec!["aggregate", "--quiet", "--input", input.to_str().unwrap()];
        for ((_, path), flag) in outputs.iter().zip(["--out", "--changes", "--rejects"]) {
            args.extend([flag, path.to_str().unwrap()]);
        }
        args.extend(extra.split_whitespace());
        zonecast(&args);
        for (kind, path) in &outputs {
            let actual = std::fs::read_to_string(path).unwrap();
            let golden = Path::new("fixtures/expected").join(format!("{name}.{kind}.csv"));
            if update {
                std::fs::write(&golden, &actual).unwrap();
            } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(actual.as_str()) {
                failures.push(format!("{} differs from {}", kind, golden.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (refresh with UPDATE_GOLDEN=1 if intended):\n{}",
        failures.join("\n")
    );
}
