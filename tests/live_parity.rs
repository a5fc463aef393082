//! The served forecasts are the model operator's output: replaying the real green-taxi month
//! through `zonecast run`'s job (2 workers, HTTP) serves, for every zone and hour, exactly the
//! forecast the forecast dataflow computes for the same file (1 worker), and the actual counts
//! beside them are the aggregate job's table.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::get;
use common::live::Served;
use zonecast::dataflows::aggregate::AggregateJob;
use zonecast::dataflows::forecast::{build, ForecastPolicy, ForecastSinks};
use zonecast::dataflows::live::LiveJob;
use zonecast::features::hourly_input::history_from_table;
use zonecast::features::FeatureSpec;
use zonecast::forecast::ZoneForecast;
use zonecast::jobs::Source;
use zonecast::live::ZoneDirectory;
use zonecast::model::train::{train, TrainConfig};
use zonecast::model::{ModelFile, ModelKind};
use zonecast::runtime::{run_to_completion, Cluster};
use zonecast::sources::file_feed::FileFeed;
use zonecast::sources::plan::{ReplayOrder, ReplayPlan};
use zonecast::time::{format_iso, SECS_PER_HOUR};

/// The forecast dataflow's final forecast per (zone, target hour).
fn reference(
    path: &std::path::Path,
    policy: &ForecastPolicy,
    model: &ModelFile,
) -> BTreeMap<(u16, i64), ZoneForecast> {
    let plan = Arc::new(
        ReplayPlan::new(
            &[path.to_path_buf()],
            &Default::default(),
            4096,
            ReplayOrder::File,
        )
        .unwrap(),
    );
    let updates: Arc<Mutex<Vec<(ZoneForecast, isize)>>> = Arc::default();
    let (sink, policy, model) = (updates.clone(), policy.clone(), Arc::new(model.clone()));
    Cluster::threads(1)
        .execute(move |worker| {
            let feed = Box::new(FileFeed::new(
                plan.clone(),
                worker.index(),
                worker.peers(),
                Arc::new(AtomicU64::new(0)),
            ));
            let sink = sink.clone();
            let sinks = ForecastSinks {
                features: None,
                forecasts: Some(Box::new(move |_, u| sink.lock().unwrap().extend(u))),
                report: Default::default(),
            };
            worker.dataflow::<u64, _, _>(|scope| {
                build(scope, feed, &policy, model.clone(), None, sinks);
            });
            run_to_completion(worker);
        })
        .unwrap();
    let mut total: BTreeMap<ZoneForecast, isize> = BTreeMap::new();
    for (f, d) in updates.lock().unwrap().drain(..) {
        *total.entry(f).or_default() += d;
    }
    let mut finals = BTreeMap::new();
    for (f, d) in total {
        assert!(d == 0 || d == 1, "a forecast held {d} times");
        if d == 1 {
            assert!(
                finals.insert((f.zone, f.target_hour), f).is_none(),
                "one forecast per key"
            );
        }
    }
    finals
}

#[test]
fn served_forecasts_for_the_green_month_equal_the_model_operators_output() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let path = dir.join("green_tripdata_2024-01.parquet");
    let mut aggregate = AggregateJob::files(vec![path.clone()]);
    aggregate.cluster = Cluster::threads(2);
    let table = aggregate.run().unwrap().unwrap().table;
    let history = history_from_table(table.rows());
    let mut config = TrainConfig::new(history.last_hour().unwrap() + 1);
    config.kind = ModelKind::Ridge;
    config.spec = FeatureSpec::new(FeatureSpec::parse_lags("1-6,24,168").unwrap(), 1);
    let model = train(&history, &config, &mut |_| {}).unwrap().model;
    let mut job = LiveJob::new(model.clone()).serving("127.0.0.1:0");
    job.source = Source::files([path.clone()]);
    job.cluster = Cluster::threads(2);
    job.zones = Arc::new(ZoneDirectory::load(&dir.join("taxi_zone_lookup.csv")).unwrap());
    let expected = reference(&path, &job.policy, &model);
    assert!(expected.len() > 1000);
    let running = job.start().unwrap();
    let status = running.wait_for(Duration::from_secs(120), |s| s["input_finished"] == true);
    assert_eq!(status["rows_read"], 56_551);
    // The current forecast of every zone.
    let list = get(running.http(), "/v1/predictions").json();
    let predictions = list["predictions"].as_array().unwrap();
    let mut latest: BTreeMap<u16, i64> = BTreeMap::new();
    for &(zone, target) in expected.keys() {
        let t = latest.entry(zone).or_insert(target);
        *t = (*t).max(target);
    }
    assert_eq!(predictions.len(), latest.len());
    for p in predictions {
        let zone = p["zone"].as_u64().unwrap() as u16;
        let target = latest[&zone];
        let f = &expected[&(zone, target)];
        assert_eq!(
            p["target_hour"],
            format_iso(target * SECS_PER_HOUR),
            "zone {zone}"
        );
        assert_eq!(
            p["predicted_pickups"].as_f64().unwrap(),
            f.pickups(),
            "zone {zone}"
        );
        assert_eq!(p["model_version"], &*f.model_version);
        assert_eq!(p["fallback"], f.fallback);
    }
    assert_eq!(
        predictions[0]["zone_name"].as_str().map(|s| s.is_empty()),
        Some(false)
    );
    // Every hour of the last two days of every zone: forecast and actual count.
    let counts: BTreeMap<(u16, i64), i64> = table
        .rows()
        .iter()
        .map(|(k, s)| ((k.zone, k.hour), s.pickups))
        .collect();
    let mut compared = 0;
    for &zone in latest.keys() {
        let history = get(
            running.http(),
            &format!("/v1/zones/{zone}/history?hours=48"),
        )
        .json();
        for hour in history["hours"].as_array().unwrap() {
            let text = hour["hour"].as_str().unwrap();
            let h = zonecast::time::parse_naive(text.replace('T', " ").as_bytes()).unwrap()
                / SECS_PER_HOUR;
            match expected.get(&(zone, h)) {
                Some(f) => {
                    assert_eq!(
                        hour["forecast"].as_f64(),
                        Some(f.pickups()),
                        "zone {zone} {text}"
                    );
                    compared += 1;
                }
                None => assert!(hour["forecast"].is_null(), "zone {zone} {text}"),
            }
            let actual = counts.get(&(zone, h)).copied().unwrap_or(0);
            assert_eq!(
                hour["actual_pickups"].as_i64(),
                Some(actual),
                "zone {zone} {text}"
            );
        }
    }
    assert!(compared > 1000, "{compared} hours compared");
}
