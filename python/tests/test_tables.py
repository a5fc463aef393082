"""generate and aggregate: tables equal the CLI's, DataFrame inputs equal file inputs, bad
rows are reported with their position."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import zonecast as zc
from conftest import real_file, run_cli


def test_generate_is_seeded(workdir: Path) -> None:
    a, b = workdir / "a.csv", workdir / "b.csv"
    assert zc.generate(a, trips=2_000, days=2, seed=3) == 2_000
    zc.generate(b, trips=2_000, days=2, seed=3)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_aggregate_equals_the_cli_byte_for_byte(trips: Path, workdir: Path, workers: int) -> None:
    res = zc.aggregate([trips], workers=workers, allowed_lateness="1d")
    ours, cli = workdir / f"ours{workers}.csv", workdir / f"cli{workers}.csv"
    res.to_csv(ours)
    run_cli("aggregate", "--input", trips, "--out", cli, "--workers", workers, "--allowed-lateness", "1d")
    assert ours.read_bytes() == cli.read_bytes()
    r = res.report
    assert r["rows_read"] == r["accepted"] + r["rejected"] + r["late"] == 120_000
    assert list(res.table.columns) == zc.tables.TABLE_COLUMNS
    assert str(res.table["hour"].dtype) == "datetime64[ns]"


def test_aggregate_real_green_month_equals_the_cli(green: Path, workdir: Path) -> None:
    res = zc.aggregate([green], workers=2)
    ours, cli = workdir / "green_ours.csv", workdir / "green_cli.csv"
    res.to_csv(ours)
    run_cli("aggregate", "--input", green, "--out", cli)
    assert ours.read_bytes() == cli.read_bytes()
    assert res.report["rows_read"] == 56_551
    assert res.report["late"] > 0 and len(res.rejects) == res.report["rejected"] + res.report["late"]


def test_dirty_csv_rejects_name_their_lines(workdir: Path) -> None:
    path = real_file("yellow_tripdata_2021_sample1000.csv")
    res = zc.aggregate([path], workers=2)
    r = res.report
    assert r["rows_read"] == r["accepted"] + r["rejected"] + r["late"]
    rejected = res.rejects[res.rejects["kind"] == "rejected"]
    assert len(rejected) == r["rejected"]
    assert len(rejected) > 0 and rejected["line"].min() >= 2 and (rejected["reason"].str.len() > 0).all()
    assert len(res.rejects) == r["rejected"] + r["late"]
    assert sum(r["rejected_by_reason"].values()) == r["rejected"]


def test_dataframe_and_arrow_inputs_equal_the_file(trips: Path) -> None:
    from_file = zc.aggregate([trips], workers=2)
    frame = pd.read_parquet(trips)
    from_frame = zc.aggregate([frame], workers=2)
    pd.testing.assert_frame_equal(from_file.table, from_frame.table)
    from_arrow = zc.aggregate(pa.Table.from_pandas(frame), workers=1)
    pd.testing.assert_frame_equal(from_file.table, from_arrow.table)
    arrow = from_file.to_arrow()
    assert arrow.num_rows == len(from_file.table)


def test_columns_map_other_names_and_bad_values_are_rejected(workdir: Path) -> None:
    frame = pd.DataFrame({
        "when": ["2024-01-01 08:05:00", "2024-01-01 08:10:00", "not a time", "2024-01-01 09:00:00"],
        "zone_id": [1, 1, 2, 999],
        "fare_amount": [10.0, 12.0, 5.0, 7.0],
    })
    res = zc.aggregate(frame, workers=1, columns={"pickup_datetime": "when", "pickup_zone": "zone_id"})
    assert res.report["accepted"] == 2 and res.report["rejected"] == 2
    assert list(res.rejects["line"]) == [3, 4]
    row = res.table.iloc[0]
    assert (row["zone"], row["pickups"], row["mean_fare"]) == (1, 2, 11.0)
    with pytest.raises(zc.InputError, match="pickup_zone"):
        zc.aggregate(frame.drop(columns=["zone_id"]), columns={"pickup_datetime": "when"})


def test_missing_file_is_an_input_error(workdir: Path) -> None:
    with pytest.raises(zc.InputError, match="nope.csv"):
        zc.aggregate([workdir / "nope.csv"])
    with pytest.raises(ValueError, match="duration"):
        zc.aggregate([workdir / "nope.csv"], allowed_lateness="soon")
