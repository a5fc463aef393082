-- zonecast's prediction database (SQLite). Version 2 (version 1 had no abandoned runs, no lock files).
-- Times: event hours as naive NYC local text 'YYYY-MM-DDTHH:00:00' (sorts as time);
-- wall-clock times as RFC 3339 UTC.
CREATE TABLE IF NOT EXISTS runs (
    run_id            INTEGER PRIMARY KEY,
    status            TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'abandoned')),
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    inputs            TEXT NOT NULL,          -- JSON array of input paths
    model_version     TEXT NOT NULL,
    model_kind        TEXT NOT NULL,
    from_hour         TEXT,                   -- forecasts written for target hours >= this
    to_hour           TEXT,                   -- and < this
    last_target_hour  TEXT,                   -- the latest target hour written (for --since-last-run)
    rows_read         INTEGER,
    accepted          INTEGER,
    rejected          INTEGER,
    late              INTEGER,
    rejected_by_reason TEXT,                  -- JSON object reason -> count
    watermark         TEXT,                   -- the event-time watermark at the end of the input
    forecasts_written INTEGER,
    hourly_written    INTEGER,
    dataflow_seconds  REAL,
    write_seconds     REAL,
    error             TEXT,
    lock_file         TEXT                    -- the running process's lock file (see run_lock.rs)
);
CREATE TABLE IF NOT EXISTS forecasts (
    zone              INTEGER NOT NULL,
    target_hour       TEXT NOT NULL,
    predicted_pickups REAL NOT NULL,
    model_version     TEXT NOT NULL,
    fallback          INTEGER NOT NULL,
    run_id            INTEGER NOT NULL REFERENCES runs (run_id),
    created_at        TEXT NOT NULL,
    PRIMARY KEY (zone, target_hour, model_version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly (
    zone              INTEGER NOT NULL,
    hour              TEXT NOT NULL,
    pickups           INTEGER NOT NULL,
    mean_distance     REAL,
    mean_fare         REAL,
    mean_total        REAL,
    run_id            INTEGER NOT NULL REFERENCES runs (run_id),
    PRIMARY KEY (zone, hour)
) WITHOUT ROWID;
