#!/usr/bin/env python3
"""Vigie's forest against scikit-learn's RandomForestRegressor, side by side.

Reads the features exported by `vigie forecast evaluate --export-features DIR` (the very
numbers Vigie's forest was trained and evaluated on: same events, same split, same encoding),
trains sklearn's RandomForestRegressor with the same hyper-parameters, and prints R² on the
held-out events and the training and prediction times of both. Run by bench_sklearn.sh.
"""
import argparse
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score


def load(path):
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--features", required=True, help="folder with X_train.csv, y_train.csv, X_test.csv, y_test.csv")
    p.add_argument("--vigie", required=True, help="JSON written by `vigie forecast evaluate --json`")
    p.add_argument("--tolerance", type=float, default=0.05)
    a = p.parse_args()

    x_train, y_train = load(f"{a.features}/X_train.csv"), load(f"{a.features}/y_train.csv").ravel()
    x_test, y_test = load(f"{a.features}/X_test.csv"), load(f"{a.features}/y_test.csv").ravel()
    with open(a.vigie) as f:
        v = json.load(f)
    o = v["options"]
    assert v["n_train"] == len(y_train) and v["n_test"] == len(y_test), "the two sides must see the same split"

    rf = RandomForestRegressor(
        n_estimators=o["n_trees"],
        max_depth=o["max_depth"],
        min_samples_leaf=o["min_samples_leaf"],
        min_samples_split=o["min_samples_split"],
        max_features=o["max_features"],
        bootstrap=True,
        random_state=o["seed"],
        n_jobs=1,
    )
    t = time.perf_counter()
    rf.fit(x_train, y_train)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    pred = rf.predict(x_test)
    predict_s = time.perf_counter() - t
    r2 = r2_score(y_test, pred)

    print(f"data: {len(y_train)} training events, {len(y_test)} held-out events (last 20 %), {x_train.shape[1]} features")
    print(
        f"hyper-parameters (both): n_estimators={o['n_trees']} max_depth={o['max_depth']} "
        f"min_samples_leaf={o['min_samples_leaf']} min_samples_split={o['min_samples_split']} "
        f"max_features={o['max_features']} bootstrap=True seed={o['seed']}, one thread each"
    )
    print()
    print(f"| {'':34} | {'held-out R²':>11} | {'train (s)':>9} | {'predict (s)':>11} |")
    print(f"|{'-' * 36}|{'-' * 13}|{'-' * 11}|{'-' * 13}|")
    print(f"| {'scikit-learn ' + sklearn.__version__:34} | {r2:11.4f} | {fit_s:9.3f} | {predict_s:11.4f} |")
    print(f"| {'Vigie forest (smartcore 0.7.0)':34} | {v['r2_forest']:11.4f} | {v['train_seconds']:9.3f} | {v['predict_seconds']:11.4f} |")
    print(
        f"| {'Vigie transfer, k=' + str(v['k']) + ' (main output)':34} | {v['r2_transfer']:11.4f} | "
        f"{v['train_total_seconds']:9.3f} | {v['transfer_seconds']:11.4f} |"
    )
    print()
    print("Vigie transfer: train = fit + OOB R² + proximity index; predict = full forecasts (neighbours, transfer).")
    ok = abs(v["r2_forest"] - r2) <= a.tolerance
    print(f"R² difference forest - scikit-learn: {v['r2_forest'] - r2:+.4f} (target within ±{a.tolerance}): {'PASS' if ok else 'FAIL'}")
    print(f"R² difference transfer - scikit-learn: {v['r2_transfer'] - r2:+.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
