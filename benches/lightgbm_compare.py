"""Fits LightGBM on the rows `zonecast train --export-features DIR` wrote and prints its
validation MAE and RMSE, so they can be set beside zonecast's (same features, same split).

Usage: python lightgbm_compare.py DIR [--zone-encoding]

With --zone-encoding LightGBM also gets zonecast's zone encoding as a last feature: each zone's
mean target over the training rows, smoothed towards the overall mean by 24 rows' weight (as
`zonecast train --zone-encoding` computes it).
"""
import csv
import math
import sys
import time

import lightgbm as lgb
import numpy as np


def load(path):
    with open(path) as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = np.array([[float(v) for v in r] for r in reader])
    n_features = len(header) - 3  # zone, target_hour, target follow the features
    return rows[:, :n_features], rows[:, -1], header[:n_features], rows[:, n_features]


def zone_encoding(zones, targets, smoothing=24.0):
    """Per zone, its smoothed mean target: (sum + smoothing * prior) / (count + smoothing)."""
    prior = float(np.mean(targets))
    table = {}
    for zone in np.unique(zones):
        mask = zones == zone
        table[zone] = (float(np.sum(targets[mask])) + smoothing * prior) / (int(mask.sum()) + smoothing)
    return lambda zs: np.array([table.get(z, prior) for z in zs])


if __name__ == "__main__":
    folder = sys.argv[1]
    x_train, y_train, names, zones_train = load(f"{folder}/train.csv")
    x_valid, y_valid, _, zones_valid = load(f"{folder}/valid.csv")
    if "--zone-encoding" in sys.argv[2:]:
        encode = zone_encoding(zones_train, y_train)
        x_train = np.c_[x_train, encode(zones_train)]
        x_valid = np.c_[x_valid, encode(zones_valid)]
    # The reference: 1000 rounds, learning rate 0.05, 63 leaves, early stopping (50
    # rounds) on the validation week's MAE; once with LightGBM's default squared error and once
    # with its Poisson objective (zonecast's gbdt uses Poisson).
    for objective in ["regression", "poisson"]:
        start = time.perf_counter()
        params = {"objective": objective, "metric": "l1", "learning_rate": 0.05, "num_leaves": 63,
                  "min_data_in_leaf": 20, "verbose": -1, "seed": 7, "num_threads": 2}
        valid = lgb.Dataset(x_valid, y_valid)
        model = lgb.train(params, lgb.Dataset(x_train, y_train), num_boost_round=1000, valid_sets=[valid],
                          callbacks=[lgb.early_stopping(50, verbose=False)])
        seconds = time.perf_counter() - start
        predicted = np.maximum(model.predict(x_valid, num_iteration=model.best_iteration), 0.0)
        mae = float(np.mean(np.abs(predicted - y_valid)))
        rmse = float(math.sqrt(np.mean((predicted - y_valid) ** 2)))
        print(
            f"lightgbm[{objective}] rows={len(y_valid)} mae={mae:.4f} rmse={rmse:.4f} "
            f"best_round={model.best_iteration} fit_seconds={seconds:.1f} train_rows={len(y_train)}"
        )
