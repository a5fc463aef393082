"""features, train, Model files and evaluate: the same rows and numbers as the CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zonecast as zc
from conftest import real_file, run_cli


def test_features_are_numpy_tables(trips: Path, small_spec: zc.FeatureSpec) -> None:
    f = zc.features([trips], spec=small_spec, end="2024-02-03")
    assert f.X.dtype == np.float64 and f.X.flags["C_CONTIGUOUS"] and f.X.shape == (len(f), len(f.names))
    assert f.names == small_spec.names
    assert f.y.shape == (len(f),) and f.zone.shape == (len(f),)
    assert f.target_hour.max() < np.datetime64("2024-02-03")
    frame = f.to_pandas()
    assert list(frame.columns) == [*f.names, "zone", "target_hour", "target"]


def test_features_match_the_cli_export(trips: Path, small_spec: zc.FeatureSpec, workdir: Path) -> None:
    out = workdir / "export"
    run_cli("train", "--input", trips, "--until", "2024-02-03", "--model", "ridge", "--lags", "1-3,24,168",
            "--out", workdir / "cli.bin", "--export-features", out)
    cli = pd.read_csv(out / "train.csv")
    ours = zc.features([trips], spec=small_spec)
    ours_frame = ours.to_pandas()
    hours = (ours_frame["target_hour"].astype("int64") // 3_600_000_000_000).to_numpy()
    mask = np.isin(hours, cli["target_hour"].to_numpy())
    mine = ours_frame[mask].reset_index(drop=True)
    assert len(mine) == len(cli)
    np.testing.assert_array_equal(mine[small_spec.names].to_numpy(), cli[small_spec.names].to_numpy())
    np.testing.assert_array_equal(mine["target"].to_numpy(), cli["target"].to_numpy())
    python_model = zc.train([trips], until="2024-02-03", model="ridge", spec=small_spec)
    assert python_model.version == zc.Model.load(workdir / "cli.bin").version


def test_trend_features_match_the_cli_export(trips: Path, workdir: Path) -> None:
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=1, trends=True)
    assert spec.names[-5:] == ["mean_3h", "mean_6h", "mean_24h", "level_1w", "last_hour_minus_last_week"]
    out = workdir / "export_trends"
    run_cli("train", "--input", trips, "--until", "2024-02-03", "--model", "ridge", "--lags", "1-3,24,168",
            "--same-hour-weeks", "1", "--trends", "--out", workdir / "trends.bin", "--export-features", out)
    cli = pd.read_csv(out / "train.csv")
    assert list(cli.columns[: len(spec.names)]) == spec.names
    f = zc.features([trips], spec=spec).to_pandas()
    hours = (f["target_hour"].astype("int64") // 3_600_000_000_000).to_numpy()
    mine = f[np.isin(hours, cli["target_hour"].to_numpy())].reset_index(drop=True)
    np.testing.assert_array_equal(mine[spec.names].to_numpy(), cli[spec.names].to_numpy())
    loaded = zc.Model.load(workdir / "trends.bin")
    assert loaded.spec == spec
    assert zc.train([trips], until="2024-02-03", model="ridge", spec=spec).version == loaded.version


def test_model_files_round_trip(ridge: zc.Model, trips: Path, small_spec: zc.FeatureSpec, workdir: Path) -> None:
    path = workdir / "ridge.bin"
    ridge.save(path)
    loaded = zc.Model.load(path)
    assert (loaded.version, loaded.kind, loaded.spec) == (ridge.version, "ridge", small_spec)
    f = zc.features([trips], spec=small_spec, start="2024-02-03")
    np.testing.assert_array_equal(loaded.predict(f), ridge.predict(f))
    assert pickle.loads(pickle.dumps(ridge)).version == ridge.version
    assert set(ridge.validation.index) == {"model", "previous_hour", "same_hour_last_week", "four_week_mean"}
    with pytest.raises(zc.ModelError, match="not a usable zonecast model"):
        (workdir / "junk.bin").write_bytes(b"\xfdAAAAAAAA")
        zc.Model.load(workdir / "junk.bin")


def test_evaluate_equals_the_cli_json(ridge: zc.Model, trips: Path, workdir: Path) -> None:
    ridge.save(workdir / "eval.bin")
    ours = zc.evaluate([trips], ridge, start="2024-02-03", end="2024-02-05")
    cli = json.loads(run_cli("evaluate", "--input", trips, "--model", workdir / "eval.bin", "--from", "2024-02-03",
                             "--to", "2024-02-05", "--json").stdout)
    assert ours == cli
    assert ours["rows"] > 0 and ours["mae"]["model"] < ours["mae"]["previous_hour"]


def test_hourly_table_input_on_real_counts() -> None:
    path = real_file("yellow_zone_hourly_2022-01.parquet")
    table = zc.HourlyTable(path, zone_col="pickup_location_id", hour_col="pickup_hour", count_col="rides")
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=2)
    f = zc.features([table], spec=spec, start="2022-01-20", end="2022-01-21")
    assert len(f) > 100 * 24
    m = zc.train([table], until="2022-01-25", model="ridge", spec=spec)
    res = zc.evaluate([table], m, start="2022-01-25", end="2022-02-01")
    assert res["mae"]["model"] < res["mae"]["same_hour_last_week"]


def test_train_on_the_real_green_month(green: Path) -> None:
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24], same_hour_weeks=1)
    m = zc.train([green], until="2024-01-25", model="rf", spec=spec)
    assert m.kind == "rf" and m.validation.loc["model", "rows"] > 0
    f = zc.features([green], spec=spec, start="2024-01-25")
    assert np.isfinite(m.predict(f)).all()
    boosted = zc.train([green], until="2024-01-25", spec=spec)  # the default model
    assert boosted.kind == "gbdt"
    assert boosted.validation.loc["model", "mae"] < boosted.validation.loc["same_hour_last_week", "mae"]
    assert np.isfinite(boosted.predict(f)).all() and (boosted.predict(f) >= 0).all()


def test_the_zone_encoded_default_model_equals_the_cli_one(trips: Path, small_spec: zc.FeatureSpec,
                                                           workdir: Path) -> None:
    lags = ",".join(str(lag) for lag in small_spec.lags)
    run_cli("train", "--input", trips, "--until", "2024-02-03", "--lags", lags, "--same-hour-weeks",
            str(small_spec.same_hour_weeks), "--zone-encoding", "--out", workdir / "zones.bin")
    cli = zc.Model.load(workdir / "zones.bin")
    mine = zc.train([trips], until="2024-02-03", spec=small_spec, zone_encoding=True)
    assert (mine.kind, mine.version) == ("gbdt", cli.version)
    plain = zc.train([trips], until="2024-02-03", spec=small_spec)
    assert plain.version != mine.version
    f = zc.features([trips], spec=small_spec, start="2024-02-03")
    np.testing.assert_array_equal(mine.predict(f), cli.predict(f))
    with pytest.raises(zc.ModelError, match="zone encoding is for gbdt"):
        zc.train([trips], until="2024-02-03", model="ridge", spec=small_spec, zone_encoding=True)


def test_boosting_settings_equal_the_cli_flags(trips: Path, small_spec: zc.FeatureSpec, workdir: Path) -> None:
    lags = ",".join(str(lag) for lag in small_spec.lags)
    run_cli("train", "--input", trips, "--until", "2024-02-03", "--lags", lags, "--same-hour-weeks",
            str(small_spec.same_hour_weeks), "--trees", "leaf-wise", "--rounds", "40", "--learning-rate",
            "0.05", "--max-leaves", "15", "--out", workdir / "leaves.bin")
    cli = zc.Model.load(workdir / "leaves.bin")
    mine = zc.train([trips], until="2024-02-03", spec=small_spec, trees="leaf-wise", rounds=40,
                    learning_rate=0.05, max_leaves=15)
    assert (mine.kind, mine.version) == ("gbdt", cli.version)
    shallow = zc.train([trips], until="2024-02-03", spec=small_spec, depth=3, rounds=40)
    assert shallow.version not in (mine.version, zc.train([trips], until="2024-02-03", spec=small_spec,
                                                           rounds=40).version)
    with pytest.raises(ValueError, match="use symmetric or leaf-wise"):
        zc.train([trips], until="2024-02-03", spec=small_spec, trees="round")
    with pytest.raises(zc.ModelError, match="learning rate of 0 cannot boost"):
        zc.train([trips], until="2024-02-03", spec=small_spec, learning_rate=0.0)
    with pytest.raises(zc.ModelError, match="1 to 8 levels deep"):
        zc.train([trips], until="2024-02-03", spec=small_spec, depth=9)
