"""Polars and DuckDB GROUP BY (zone, hour) on a TLC yellow CSV: the peers zonecast is measured against.

Usage: python groupby_peers.py polars|duckdb FILE.csv
Prints one line: `<engine> rows=<n> groups=<g> seconds=<s>` (reading and aggregating, in process).
"""
import sys
import time


def polars_groupby(path):
    import polars as pl

    start = time.perf_counter()
    columns = ["tpep_pickup_datetime", "PULocationID", "trip_distance", "fare_amount", "total_amount"]
    df = pl.read_csv(path, columns=columns, try_parse_dates=False)
    out = (
        df.with_columns(
            pl.col("tpep_pickup_datetime").str.to_datetime("%Y-%m-%d %H:%M:%S").dt.truncate("1h").alias("hour")
        )
        .group_by(["PULocationID", "hour"])
        .agg(
            pl.len().alias("pickups"),
            pl.col("trip_distance").mean(),
            pl.col("fare_amount").mean(),
            pl.col("total_amount").mean(),
        )
    )
    return len(df), len(out), time.perf_counter() - start


def duckdb_groupby(path):
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*) FROM read_csv_auto('{path}')").fetchone()[0]
    groups = con.execute(
        f"""SELECT count(*) FROM (
              SELECT PULocationID, date_trunc('hour', tpep_pickup_datetime) AS hour, count(*) AS pickups,
                     avg(trip_distance), avg(fare_amount), avg(total_amount)
              FROM read_csv_auto('{path}') GROUP BY 1, 2)"""
    ).fetchone()[0]
    return rows, groups, time.perf_counter() - start


if __name__ == "__main__":
    engine, path = sys.argv[1], sys.argv[2]
    rows, groups, seconds = {"polars": polars_groupby, "duckdb": duckdb_groupby}[engine](path)
    print(f"{engine} rows={rows} groups={groups} seconds={seconds:.3f}")
