//! Model files: the round trip is exact, and a mismatched feature spec, a corrupt or truncated
//! file, or a file that is not a model give errors that say what to do. Also `train` and
//! `evaluate --json` end to end on generated trips.

mod common;

use common::{zonecast, Scratch};
use zonecast::features::history::PickupHistory;
use zonecast::features::FeatureSpec;
use zonecast::model::gbdt::TreeShape;
use zonecast::model::train::{train, TrainConfig};
use zonecast::model::{Fitted, ModelError, ModelFile, ModelKind};

fn small_history() -> PickupHistory {
    let mut rng = zonecast::generator::rng::SplitMix64::new(5);
    let mut counts = Vec::new();
    for hour in 0..24 * 21 {
        for zone in 1..=6u16 {
            let daily = 5.0 + 4.0 * ((hour % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
            counts.push((
                zone,
                400_000 + hour,
                (daily * zone as f64 / 2.0 + rng.below(3) as f64) as u32,
            ));
        }
    }
    PickupHistory::from_counts(counts)
}

fn trained(kind: ModelKind) -> ModelFile {
    trained_with(kind, TreeShape::Symmetric)
}

fn trained_with(kind: ModelKind, shape: TreeShape) -> ModelFile {
    let history = small_history();
    let mut config = TrainConfig::new(history.last_hour().unwrap() + 1);
    config.kind = kind;
    config.gbdt.shape = shape;
    config.spec = FeatureSpec::new(vec![1, 2, 3, 24, 168], 1);
    config.forest.trees = 8;
    train(&history, &config, &mut |_| {}).unwrap().model
}

#[test]
fn model_files_round_trip_exactly_for_every_kind() {
    let dir = Scratch::new();
    for kind in [
        "rf",
        "gbdt",
        "ridge",
        "previous_hour",
        "same_hour_last_week",
        "four_week_mean",
    ] {
        let model = trained(kind.parse().unwrap());
        let path = dir.path(&format!("{kind}.bin"));
        model.save(&path).unwrap();
        let loaded = ModelFile::load(&path).unwrap();
        assert_eq!(loaded, model, "{kind}");
        assert_eq!(loaded.to_bytes(), std::fs::read(&path).unwrap());
        assert_eq!(loaded.version.len(), 16);
    }
}

/// Boosting is deterministic: the same data gives the same file, byte for byte, and a loaded
/// file forecasts bit for bit what the trained model does (both tree shapes).
#[test]
fn gbdt_files_are_deterministic_and_forecast_the_same_after_loading() {
    for shape in [TreeShape::Symmetric, TreeShape::LeafWise] {
        gbdt_file_is_deterministic(shape);
    }
}

fn gbdt_file_is_deterministic(shape: TreeShape) {
    let dir = Scratch::new();
    let first = trained_with(ModelKind::Gbdt, shape);
    let second = trained_with(ModelKind::Gbdt, shape);
    assert_eq!(first.to_bytes(), second.to_bytes(), "{shape:?}");
    let path = dir.path("gbdt.bin");
    first.save(&path).unwrap();
    let loaded = ModelFile::load(&path).unwrap();
    let history = small_history();
    let rows = zonecast::model::train::dataset(&history, &first.spec, 400_200, 400_000 + 24 * 21);
    let refs: Vec<_> = rows.rows.iter().collect();
    let before: Vec<u64> = first
        .predict_many(&refs)
        .iter()
        .map(|f| f.pickups.to_bits())
        .collect();
    let after: Vec<u64> = loaded
        .predict_many(&refs)
        .iter()
        .map(|f| f.pickups.to_bits())
        .collect();
    assert!(!before.is_empty());
    assert_eq!(before, after, "{shape:?}");
}

#[test]
fn mismatched_spec_corrupt_and_foreign_files_are_rejected_clearly() {
    let dir = Scratch::new();
    let model = trained(ModelKind::Ridge);
    let err = model.check_spec(&FeatureSpec::default()).unwrap_err();
    assert!(matches!(err, ModelError::SpecMismatch { .. }));
    assert!(err.to_string().contains("retrain"), "{err}");

    let bytes = model.to_bytes();
    let truncated = dir.write("truncated.bin", &bytes[..bytes.len() / 2]);
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x55;
    let flipped = dir.write("flipped.bin", &flipped);
    let foreign = dir.write("foreign.bin", b"hello, I am not a model");
    for path in [truncated, flipped, foreign] {
        let err = ModelFile::load(&path).unwrap_err();
        assert!(matches!(err, ModelError::Corrupt { .. }), "{path:?}: {err}");
        assert!(err.to_string().contains("train a model"), "{err}");
    }
    let err = ModelFile::load(&dir.path("missing.bin")).unwrap_err();
    assert!(err.to_string().contains("missing.bin"), "{err}");
    assert!("xgboost"
        .parse::<ModelKind>()
        .unwrap_err()
        .to_string()
        .contains("use rf, gbdt, ridge"));
}

#[test]
fn train_and_evaluate_json_end_to_end_on_generated_trips() {
    let dir = Scratch::new();
    let trips = dir.path("trips.parquet");
    common::generate(&trips, 60_000, 12, 17);
    let model = dir.path("model.bin");
    let out = zonecast(&[
        "train",
        "--input",
        trips.to_str().unwrap(),
        "--model",
        "ridge",
        "--lags",
        "1-6,24,168",
        "--same-hour-weeks",
        "1",
        "--until",
        "2024-01-12",
        "--out",
        model.to_str().unwrap(),
    ]);
    let report = String::from_utf8_lossy(&out.stdout);
    for name in [
        "model",
        "previous_hour",
        "same_hour_last_week",
        "four_week_mean",
    ] {
        assert!(report.contains(name), "{report}");
    }
    let out = zonecast(&[
        "evaluate",
        "--input",
        trips.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--from",
        "2024-01-12",
        "--to",
        "2024-01-13",
        "--json",
    ]);
    let json = String::from_utf8(out.stdout).unwrap();
    let shape = regex_free_shape(&json);
    assert_eq!(
        shape,
        r#"{"rows": N, "mae": {"model": N, "previous_hour": N, "same_hour_last_week": N, "four_week_mean": N}, "rmse": {"model": N, "previous_hour": N, "same_hour_last_week": N, "four_week_mean": N}}"#
    );
    assert!(
        json.starts_with("{\"rows\": ") && !json.contains("\"rows\": 0,"),
        "{json}"
    );
}

/// Replaces every number outside strings in `json` with `N`.
fn regex_free_shape(json: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut in_number) = (false, false);
    for c in json.trim().chars() {
        if c == '"' {
            in_string = !in_string;
        }
        let numeric = !in_string && (c.is_ascii_digit() || ".-+eE".contains(c));
        if numeric {
            if !in_number {
                out.push('N');
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The format 1 model files in `fixtures/models/` (written before files were framed) and the
/// format 2 one (framed, before specs had trends) load as specs without trends, score exactly
/// as they did when they were written, keep their version, and are written back as format 3.
#[test]
fn format_1_and_2_model_files_still_load_and_score_as_before() {
    let dir = Scratch::new();
    let trips = dir.path("s.csv");
    // The trips the fixtures were trained on (fixtures/README.md).
    let out = zonecast(&[
        "generate",
        "--out",
        trips.to_str().unwrap(),
        "--trips",
        "2000",
        "--days",
        "9",
        "--seed",
        "11",
    ]);
    assert!(out.status.success());
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models");
    for (format, kind) in [(1u8, "rf"), (1, "ridge"), (2, "gbdt")] {
        let name = format!("v{format}_{kind}");
        let path = fixtures.join(format!("{name}.model"));
        let legacy = std::fs::read(&path).unwrap();
        match format {
            1 => assert!(!legacy.starts_with(b"ZCMODEL"), "{name} predates framing"),
            _ => assert_eq!(&legacy[..12], b"ZCMODEL\0\x02\0\0\0", "{name} is format 2"),
        }
        let model = ModelFile::load(&path).unwrap();
        assert_eq!(model.kind, kind.parse().unwrap());
        assert!(!model.spec.trends, "{name}: no trends then");
        let out = zonecast(&[
            "evaluate",
            "--input",
            trips.to_str().unwrap(),
            "--model",
            path.to_str().unwrap(),
            "--from",
            "2024-01-08 00:00:00",
            "--to",
            "2024-01-10 00:00:00",
            "--json",
        ]);
        let expected =
            std::fs::read_to_string(fixtures.join(format!("{name}.evaluate.json"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{name}");
        // Saved again, the same model is written as format 3, keeps its version, and loads equal.
        let resaved = dir.path(&format!("{name}.v3"));
        model.save(&resaved).unwrap();
        let framed = std::fs::read(&resaved).unwrap();
        assert_eq!(&framed[..12], b"ZCMODEL\0\x03\0\0\0");
        let reloaded = ModelFile::load(&resaved).unwrap();
        assert_eq!(reloaded, model);
        assert_eq!(reloaded.version, model.version);
    }
}

/// Every single-bit flip anywhere in a framed file is refused before decoding, naming the
/// checksum or the frame.
#[test]
fn a_flipped_bit_anywhere_in_a_model_file_is_refused() {
    let bytes = trained(ModelKind::Ridge).to_bytes();
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 1 << (at % 8);
        let err = ModelFile::from_bytes(&damaged, std::path::Path::new("m.bin")).unwrap_err();
        assert!(
            matches!(err, ModelError::Corrupt { .. }),
            "byte {at}: {err}"
        );
        if at >= 24 {
            assert!(err.to_string().contains("checksum"), "byte {at}: {err}");
        }
    }
}

/// The zone encoding is fitted on the training rows only (changing every validation target
/// leaves it as it was), travels in the model file, and the stream's scoring path appends it
/// as training did (the reported validation equals a fresh evaluation, also after loading).
#[test]
fn the_zone_encoding_is_fitted_on_training_rows_only_and_survives_a_round_trip() {
    let encoded = |history: &PickupHistory| {
        let until = history.last_hour().unwrap() + 1;
        let mut config = TrainConfig::new(until);
        config.spec = FeatureSpec::new(vec![1, 2, 3, 24, 168], 1);
        config.validation_hours = Some(48);
        config.zone_encoding = true;
        train(history, &config, &mut |_| {}).unwrap()
    };
    let encoding_of = |model: &ModelFile| match &model.fitted {
        Fitted::SymmetricGbdt(g) => g.zone_encoding().cloned().expect("an encoding"),
        other => panic!("not symmetric trees: {other:?}"),
    };
    let history = small_history();
    let trained = encoded(&history);
    let encoding = encoding_of(&trained.model);
    assert!(encoding.of(6) > encoding.of(1), "zone 6 has more pickups");

    let (from, to) = trained.validation;
    let mut changed = history.clone();
    for zone in 1..=6u16 {
        for hour in from..to {
            changed.set(zone, hour, 1_000);
        }
    }
    assert_eq!(
        encoding_of(&encoded(&changed).model),
        encoding,
        "training rows only"
    );

    let dir = Scratch::new();
    let path = dir.path("zones.bin");
    trained.model.save(&path).unwrap();
    let loaded = ModelFile::load(&path).unwrap();
    assert_eq!(loaded, trained.model);
    let fresh = zonecast::model::train::evaluate(&loaded, &history, from, to);
    assert_eq!(fresh, trained.model.validation);

    let mut config = TrainConfig::new(to);
    config.spec = FeatureSpec::new(vec![1, 2, 3, 24, 168], 1);
    config.gbdt.shape = TreeShape::LeafWise;
    config.zone_encoding = true;
    let err = train(&history, &config, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("symmetric trees"), "{err}");
}
