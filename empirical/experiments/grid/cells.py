"""One grid cell's tables after training (``empirical.experiments.grid.run``): the accuracy sweep, the per-layer
bound checks with their disparity quantiles, and the critical-ratio search."""

from __future__ import annotations

import numpy as np
import pandas as pd

from empirical.errors import UserError
from empirical.lock.extraction import extract
from empirical.lock.sweep import accuracy_curve, top_accuracy
from empirical.lock.utility import ratio_for_utility
from empirical.measure import Constants, measure
from empirical.nets.models import make_fcn


def _with_ident(df: pd.DataFrame, ident: dict) -> pd.DataFrame:
    """``df`` with the cell's identity columns first. Idempotent: the cell's ``train_log.csv`` is both the
    training log and, once the cell is finished, its table with these columns; a cell that runs again after
    a crash between its tables and ``done.json`` reads the latter."""
    df = df.drop(columns=[k for k in ident if k in df])
    for k, v in reversed(ident.items()):
        df.insert(0, k, v)
    return df


def sweep_table(model, x, y, config, ident: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy vs ratio for the indicator and the random baseline (``results.csv`` rows) and the
    indicator's own curve (for the critical-ratio search)."""
    acc0, top3_0 = top_accuracy(model, x, y)
    curves = [accuracy_curve(model, x, y, config.ratios, config.indicator, seed=0)]
    curves += [accuracy_curve(model, x, y, config.ratios, "random", seed=s) for s in range(config.random_seeds)]
    res = pd.concat(curves, ignore_index=True).rename(columns={"top1": "acc_extracted", "top3": "top3_extracted"})
    res.insert(0, "random_seed", res.pop("seed"))
    res = _with_ident(res, ident)
    res["acc_original"], res["top3_original"] = acc0, top3_0
    res["acc_drop"] = acc0 - res["acc_extracted"]
    res["share_of_candidates"] = res["n_extracted"] / res["n_candidates"]
    return res, curves[0]


def _disparity_quantiles(samples: pd.DataFrame) -> pd.DataFrame:
    q = samples.groupby("layer")
    return pd.DataFrame(
        {
            "d_q05": q["d"].quantile(0.05),
            "d_median": q["d"].median(),
            "d_q95": q["d"].quantile(0.95),
            "d_mean": q["d"].mean(),
            "G_median": q["G"].median(),
            "G_q05": q["G"].quantile(0.05),
            "G_q95": q["G"].quantile(0.95),
            "sandwich_median": q["sandwich_upper"].median(),
            "theorem3_measured_median": q["theorem3_bound_measured"].median(),
            "theorem3_property1_median": q["theorem3_bound_property1"].median(),
        }
    ).reset_index()


def _bound_summary(m) -> dict:
    """The per-(indicator, ratio) bound columns of ``results.csv`` from one measurement."""
    s = m.summary
    extracted = m.layers[m.layers["n_extracted"] > 0]
    deep = int(extracted["layer"].max())  # deepest layer with extracted weights (layer H for l1)
    at = m.samples[m.samples["layer"] == deep]
    out = m.samples[m.samples["layer"] == m.layers["layer"].max()]
    p3 = extracted["theorem3_probability"].to_numpy(dtype=float)
    return {
        "sandwich_all_hold": s["sandwich_all_hold"],
        "theorem2_min_holds_frac": float(extracted["theorem2_holds_frac"].min()),
        "mu_max": float(m.layers["mu"].max()),
        "lambda_property1": s["lambda_property1"],
        "lambda_measured": float(m.layers["w_norm"].max()),
        "deep_layer": deep,
        "d_deep_median": float(at["d"].median()),
        "G_deep_median": float(at["G"].median()),
        "theorem3_measured_deep_median": float(at["theorem3_bound_measured"].median()),
        "theorem3_property1_deep_median": float(at["theorem3_bound_property1"].median()),
        "eta_measured_deep": float((at["theorem3_bound_measured"] - at["G"]).median()),
        "eta_property1_deep": float((at["theorem3_bound_property1"] - at["G"]).median()),
        "d_output_median": float(out["d"].median()),
        "theorem3_probability_best": float(np.nanmax(p3)) if np.isfinite(p3).any() else float("nan"),
        "C_w": s["C_w"],
        "D_w": s["D_w"],
    }


def bound_check_tables(model, x, y, config, cell, ident: dict):
    """Per-layer bound checks at every ratio for the indicator and random seed 0 on the first ``n_check``
    test images: (bounds_checks rows, disparities rows, bound summary rows for ``results.csv``)."""
    n = min(config.n_check, len(x))
    initial = make_fcn(cell.hidden_layers, cell.width, seed=cell.seed)
    checks, disp, extra = [], [], []
    cache: dict = {}  # the original's norms and statistics, computed once for all ratios
    for indicator in (config.indicator, "random"):
        for r in config.ratios:
            locked, _ = extract(model, r, indicator, seed=0)
            m = measure(model, locked, x[:n], y[:n], constants=Constants(), initial=initial, cache=cache)
            where = {**ident, "indicator": indicator, "ratio": r}
            checks.append(_with_ident(m.layers.copy(), where))
            disp.append(_with_ident(_disparity_quantiles(m.samples), where))
            extra.append({"indicator": indicator, "random_seed": 0, "ratio": r, **_bound_summary(m)})
    return pd.concat(checks, ignore_index=True), pd.concat(disp, ignore_index=True), pd.DataFrame(extra)


def critical_ratio_table(model, x, y, config, l1_curve: pd.DataFrame, ident: dict) -> pd.DataFrame:
    """The smallest ratio reaching each target (selection half / held-out half), 1 % resolution in k."""
    crit = []
    for target in config.targets:
        try:
            below = l1_curve[l1_curve["top1"] <= target]
            start = int(below["n_extracted"].iloc[0]) if len(below) else int(l1_curve["n_extracted"].iloc[-1])
            found = ratio_for_utility(
                model, x, y, target, indicator=config.indicator, seed=0, start_k=start, window=0, rel_resolution=0.01
            ).as_row()
            found["status"] = "found"
        except UserError as exc:  # the network starts below the target, or no ratio reaches it
            found = {"status": str(exc)}
        crit.append({**ident, "indicator": config.indicator, "target": target, **found})
    return pd.DataFrame(crit)
