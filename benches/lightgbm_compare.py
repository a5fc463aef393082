"""Fits LightGBM on the rows `zonecast train --export-features DIR` wrote and prints its
validation MAE and RMSE, so they can be set beside zonecast's (same features, same split).

Usage: python lightgbm_compare.py DIR
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
    return rows[:, :n_features], rows[:, -1], header[:n_features]


if __name__ == "__main__":
    folder = sys.argv[1]
    x_train, y_train, names = load(f"{folder}/train.csv")
    x_valid, y_valid, _ = load(f"{folder}/valid.csv")
    start = time.perf_counter()
    params = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 20,
              "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8, "verbose": -1, "seed": 7}
    model = lgb.train(params, lgb.Dataset(x_train, y_train), num_boost_round=400)
    seconds = time.perf_counter() - start
    predicted = np.maximum(model.predict(x_valid), 0.0)
    mae = float(np.mean(np.abs(predicted - y_valid)))
    rmse = float(math.sqrt(np.mean((predicted - y_valid) ** 2)))
    print(
        f"lightgbm rows={len(y_valid)} mae={mae:.4f} rmse={rmse:.4f} "
        f"fit_seconds={seconds:.1f} train_rows={len(y_train)}"
    )
