//! Model quality on real data: on the yellow-taxi hourly counts of January 2022 (31 days, so a
//! spec whose lags fit: 1-24 h, 168 h and a one-week same-hour mean), the trained default model
//! (gradient-boosted symmetric trees) beats every baseline on the last week (the same-hour
//! baseline by at least 20%) and the random forest.

mod common;

use common::data_file;
use zonecast::features::hourly_input::{read_hourly, HourlyColumns};
use zonecast::features::FeatureSpec;
use zonecast::model::train::{evaluate, train, TrainConfig};
use zonecast::model::{ModelFile, ModelKind};

fn january() -> Option<zonecast::features::history::PickupHistory> {
    let path = data_file("yellow_zone_hourly_2022-01.parquet")?;
    let columns = HourlyColumns {
        zone: "pickup_location_id".into(),
        hour: "pickup_hour".into(),
        count: "rides".into(),
    };
    let (history, skipped) = read_hourly(&path, &columns).unwrap();
    assert_eq!(skipped, 0);
    Some(history)
}

#[test]
fn default_model_beats_every_baseline_on_the_last_week_of_january_2022() {
    let Some(history) = january() else { return };
    let end = history.last_hour().unwrap() + 1;
    let mut config = TrainConfig::new(end);
    config.spec = FeatureSpec::new(FeatureSpec::parse_lags("1-24,168").unwrap(), 1);
    config.validation_hours = Some(168);
    let trained = train(&history, &config, &mut |line| eprintln!("{line}")).unwrap();
    let metrics = evaluate(&trained.model, &history, end - 168, end);
    eprintln!("{metrics:#?}");
    let model = metrics["model"].mae;
    for baseline in ["previous_hour", "same_hour_last_week", "four_week_mean"] {
        assert!(
            model < metrics[baseline].mae,
            "model MAE {model} vs {baseline} {}",
            metrics[baseline].mae
        );
    }
    assert_eq!(metrics, trained.model.validation);
    // The file round trip is exact and the reloaded model forecasts the same.
    let dir = common::Scratch::new();
    let path = dir.path("model.bin");
    trained.model.save(&path).unwrap();
    let loaded = ModelFile::load(&path).unwrap();
    assert_eq!(loaded, trained.model);
    assert_eq!(evaluate(&loaded, &history, end - 168, end), metrics);

    assert_eq!(trained.model.kind, ModelKind::Gbdt, "the default model");
    let same_hour = metrics["same_hour_last_week"].mae;
    assert!(
        model <= 0.8 * same_hour,
        "model MAE {model} is not 20% below the same-hour baseline {same_hour}"
    );

    // The forest on the same features and split does worse.
    config.kind = ModelKind::RandomForest;
    let forest = train(&history, &config, &mut |line| eprintln!("{line}")).unwrap();
    let forest = evaluate(&forest.model, &history, end - 168, end)["model"].mae;
    eprintln!("default (gbdt) MAE {model}, forest MAE {forest}");
    assert!(model < forest, "default MAE {model} vs forest {forest}");
}
