"""Predicting the utility ↔ ratio map from the theory (Section 5.2's remark), beside a plain baseline.

Section 5.2 says the free constants of the bounds "can be estimated from a few random extraction
ratio experiments". Made concrete on a grid run's ``results.csv`` (ℓ1 rows):

**Theory model.** Theorem 3 bounds the disparity the extraction adds at the deepest extracted
layer m = H by η = μ L^m λ^(m−1) ‖x‖₂, and Property 3 bounds μ by 6 C_e C_w √D_w, so

    log η(r) = log(6 C_w √D_w(r)) + (H − 1) log λ(C_s) + c,    λ(C_s) = √N + C_s K_s² (√N + τ)

(L = 1; D_w(r) = the most weights extracted from one layer at ratio r, C_w = max |w| and K_s =
max row norm measured, N = width, τ = 2; c collects C_e, ‖x‖₂ and the margin the logits can
lose). The bound says nothing about accuracy, so a link is needed: the normalised accuracy
a(r) = (acc(r) − chance)/(acc₀ − chance) is modelled as 1 / (1 + exp(s·(log η(r) − b))).
Free constants: the slope s and offset b of the link (b absorbs C_e and c) and C_s — which only
matters across networks of different depth (within one network (H − 1) log λ is a constant).

**Baselines (no theory).** One network: linear interpolation of the accuracy in log ratio between
the measured points (flat beyond them). Across networks: the same logistic link on
α + β log r + γ H + δ log w, fitted by least squares like the theory model.

**Evaluation.** One network: fit on every other ratio of the list, predict the rest and the ratio
for the target (against ``critical_ratios.csv``). Across networks: two folds of cells
(checkerboard over depth × width), fit on one, predict the other, both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from empirical.lock.utility import CHANCE

TAU = 2.0


def _logistic(z):
    return 1.0 / (1.0 + np.exp(np.clip(z, -50, 50)))


def prepare(results: pd.DataFrame) -> pd.DataFrame:
    """ℓ1 rows with the columns the models need: normalised accuracy, log D_w, K_s², log ratio."""
    df = results[(results["indicator"] == "l1")].copy()
    if "random_seed" in df:
        df = df[df["random_seed"] == 0]
    need = ["hidden_layers", "width", "ratio", "acc_original", "acc_extracted", "D_w", "C_w", "lambda_property1"]
    missing = [c for c in need if c not in df]
    if missing:
        raise ValueError(f"results table lacks {missing}")
    df = df.dropna(subset=need)
    sqrt_n = np.sqrt(df["width"].astype(float))
    df["K_s_sq"] = (df["lambda_property1"] - sqrt_n) / (sqrt_n + TAU)  # λ at C_s = 1 → K_s²
    df["acc_norm"] = ((df["acc_extracted"] - CHANCE) / (df["acc_original"] - CHANCE)).clip(0, 1.2)
    df["log_ratio"] = np.log(df["ratio"])
    df["log_mu"] = np.log(6 * df["C_w"] * np.sqrt(df["D_w"]))
    return df.reset_index(drop=True)


def log_eta(df: pd.DataFrame, C_s: float) -> np.ndarray:
    """log(6 C_w √D_w) + (H − 1) log λ(C_s) for each row (Theorem 3 at m = H, Property 3's μ)."""
    sqrt_n = np.sqrt(df["width"].to_numpy(dtype=float))
    lam = sqrt_n + C_s * df["K_s_sq"].to_numpy() * (sqrt_n + TAU)
    return df["log_mu"].to_numpy() + (df["hidden_layers"].to_numpy() - 1) * np.log(lam)


@dataclass
class TheoryFit:
    slope: float
    offset: float
    C_s: float

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Normalised accuracy a(r) for each row."""
        return _logistic(self.slope * (log_eta(df, self.C_s) - self.offset))


def fit_theory(df: pd.DataFrame, fit_C_s: bool = True) -> TheoryFit:
    """Least squares on the normalised accuracy; C_s ∈ [0, 100] when fitted (else 1)."""
    y = df["acc_norm"].to_numpy()

    def resid(p):
        return _logistic(p[0] * (log_eta(df, p[2] if fit_C_s else 1.0) - p[1])) - y

    best = None
    for c0 in [0.01, 0.1, 1.0, 10.0] if fit_C_s else [1.0]:
        le = log_eta(df, c0)
        x0 = [2.0, float(np.median(le)), c0]
        lo, hi = [1e-3, -1e3, 0.0], [1e3, 1e3, 100.0 if fit_C_s else 1.0 + 1e-9]
        x0[2] = min(max(x0[2], lo[2]), hi[2] - 1e-12)
        r = least_squares(resid, x0, bounds=(lo, hi))
        if best is None or r.cost < best.cost:
            best = r
    return TheoryFit(float(best.x[0]), float(best.x[1]), float(best.x[2]) if fit_C_s else 1.0)


@dataclass
class BaselineFit:
    coef: np.ndarray  # α, β (log r), γ (H), δ (log w)

    @staticmethod
    def features(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [np.ones(len(df)), df["log_ratio"], df["hidden_layers"].astype(float), np.log(df["width"].astype(float))]
        )

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return _logistic(self.features(df) @ self.coef)


def fit_baseline(df: pd.DataFrame) -> BaselineFit:
    X, y = BaselineFit.features(df), df["acc_norm"].to_numpy()
    r = least_squares(lambda c: _logistic(X @ c) - y, np.array([-10.0, -1.0, 0.0, 0.0]))
    return BaselineFit(r.x)


def interpolate(fit_df: pd.DataFrame, log_ratio: np.ndarray) -> np.ndarray:
    """Baseline for one network: the measured normalised accuracy, linear in log ratio, flat outside."""
    f = fit_df.sort_values("log_ratio")
    return np.interp(log_ratio, f["log_ratio"], f["acc_norm"])


def _log_dw_line(df: pd.DataFrame) -> tuple[float, float]:
    """log D_w ≈ p + q log r for one network (least squares over its ratios)."""
    q, p = np.polyfit(df["log_ratio"], np.log(df["D_w"]), 1)
    return float(p), float(q)


def theory_ratio_for(fit: TheoryFit, cell: pd.DataFrame, target: float) -> float:
    """The ratio at which the theory model's accuracy equals ``target`` for one network."""
    a0 = float(cell["acc_original"].iloc[0])
    t = (target - CHANCE) / (a0 - CHANCE)
    if not 0 < t < 1:
        return float("nan")
    le_star = fit.offset + math.log(1 / t - 1) / fit.slope
    row = cell.iloc[[0]]
    const = float(log_eta(row, fit.C_s)[0] - row["log_mu"].iloc[0])  # (H − 1) log λ
    log_dw = 2 * (le_star - const - math.log(6 * float(row["C_w"].iloc[0])))
    p, q = _log_dw_line(cell)
    return float(np.exp((log_dw - p) / q))


def interpolated_ratio_for(fit_df: pd.DataFrame, target: float) -> float:
    """Baseline: first crossing of ``target`` by the piecewise-linear curve (in log ratio); NaN if none."""
    f = fit_df.sort_values("log_ratio")
    a0 = float(f["acc_original"].iloc[0])
    t = (target - CHANCE) / (a0 - CHANCE)
    x, y = f["log_ratio"].to_numpy(), f["acc_norm"].to_numpy()
    for i in range(1, len(x)):
        if y[i] <= t < y[i - 1]:
            return float(np.exp(x[i - 1] + (t - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1])))
    return float("nan")


def baseline_ratio_for(fit: BaselineFit, cell: pd.DataFrame, target: float) -> float:
    a0 = float(cell["acc_original"].iloc[0])
    t = (target - CHANCE) / (a0 - CHANCE)
    if not 0 < t < 1:
        return float("nan")
    a, b, g, d = fit.coef
    H, w = float(cell["hidden_layers"].iloc[0]), float(cell["width"].iloc[0])
    return float(np.exp((math.log(1 / t - 1) - a - g * H - d * math.log(w)) / b))


def _log10_err(predicted: float, measured: float) -> float:
    """|log₁₀(predicted / measured)|: decades between a predicted and a measured ratio (NaN if either is missing)."""
    return abs(math.log10(predicted / measured)) if predicted > 0 and measured > 0 else float("nan")


def _cells(df):
    return df.groupby(["hidden_layers", "width"])


def evaluate(results: pd.DataFrame, critical: pd.DataFrame | None, target: float = 0.5) -> dict:
    """Held-out errors of the theory model and the baselines (see the module doc), as tables and a summary."""
    df = prepare(results)
    crit = {}
    if critical is not None and len(critical):
        c = critical[(np.isclose(critical["target"], target)) & (critical["status"] == "found")]
        crit = {(h, w): float(r) for (h, w), r in c.groupby(["hidden_layers", "width"])["ratio"].mean().items()}

    # ---- one network at a time: fit on every other ratio ------------------------------------
    per_net = []
    for (h, w), cell in _cells(df):
        cell = cell.sort_values("ratio").reset_index(drop=True)
        fit_rows, held = cell.iloc[0::2], cell.iloc[1::2]
        if len(fit_rows) < 3 or len(held) < 1:
            continue
        th = fit_theory(fit_rows, fit_C_s=False)
        err_th = np.abs(th.predict(held) - held["acc_norm"]) * (cell["acc_original"].iloc[0] - CHANCE)
        err_in = np.abs(interpolate(fit_rows, held["log_ratio"].to_numpy()) - held["acc_norm"]) * (
            cell["acc_original"].iloc[0] - CHANCE
        )
        meas = crit.get((h, w), float("nan"))
        r_th, r_in = theory_ratio_for(th, cell, target), interpolated_ratio_for(fit_rows, target)
        per_net.append(
            {
                "hidden_layers": h,
                "width": w,
                "acc_err_theory": float(err_th.mean()),
                "acc_err_interp": float(err_in.mean()),
                "ratio_measured": meas,
                "ratio_theory": r_th,
                "ratio_interp": r_in,
                "log10_err_theory": _log10_err(r_th, meas),
                "log10_err_interp": _log10_err(r_in, meas),
            }
        )
    per_net = pd.DataFrame(per_net)

    # ---- across networks: two checkerboard folds ----------------------------------------------
    hs, ws = sorted(df["hidden_layers"].unique()), sorted(df["width"].unique())
    fold = (df["hidden_layers"].map(hs.index) + df["width"].map(ws.index)) % 2
    across = []
    fits = {}
    for k in (0, 1):
        train_df, test_df = df[fold != k], df[fold == k]
        if train_df.groupby(["hidden_layers", "width"]).ngroups < 3 or not len(test_df):
            continue
        th, bl = fit_theory(train_df), fit_baseline(train_df)
        fits[k] = (th, bl)
        span = test_df["acc_original"] - CHANCE
        for (h, w), cell in _cells(test_df):
            s = span.loc[cell.index]
            meas = crit.get((h, w), float("nan"))
            r_th, r_bl = theory_ratio_for(th, cell, target), baseline_ratio_for(bl, cell, target)
            across.append(
                {
                    "hidden_layers": h,
                    "width": w,
                    "fold": k,
                    "C_s_fitted": th.C_s,
                    "acc_err_theory": float((np.abs(th.predict(cell) - cell["acc_norm"]) * s).mean()),
                    "acc_err_baseline": float((np.abs(bl.predict(cell) - cell["acc_norm"]) * s).mean()),
                    "ratio_measured": meas,
                    "ratio_theory": r_th,
                    "ratio_baseline": r_bl,
                    "log10_err_theory": _log10_err(r_th, meas),
                    "log10_err_baseline": _log10_err(r_bl, meas),
                }
            )
    across = pd.DataFrame(across)
    summary = {"target": target, "n_networks": int(df.groupby(["hidden_layers", "width"]).ngroups)}
    for name, tab, cols in (
        ("one_network", per_net, ("theory", "interp")),
        ("across_networks", across, ("theory", "baseline")),
    ):
        for c in cols:
            if len(tab):
                summary[f"{name}_acc_err_pp_{c}"] = 100 * float(tab[f"acc_err_{c}"].median())
                summary[f"{name}_log10_ratio_err_{c}"] = float(tab[f"log10_err_{c}"].median())
                summary[f"{name}_ratio_predicted_{c}"] = int(tab[f"ratio_{c}"].notna().sum())
    if len(per_net):  # the ratio errors again, on the networks where both one-network models predict one
        both = per_net.dropna(subset=["log10_err_theory", "log10_err_interp"])
        summary["one_network_common_n"] = len(both)
        if len(both):
            summary["one_network_common_log10_ratio_err_theory"] = float(both["log10_err_theory"].median())
            summary["one_network_common_log10_ratio_err_interp"] = float(both["log10_err_interp"].median())
    return {"one_network": per_net, "across_networks": across, "summary": summary, "fits": fits}


def predict_ratios(results: pd.DataFrame, target: float) -> tuple[pd.DataFrame, TheoryFit, BaselineFit]:
    """Fit both models on every network of the run; predicted ratio for ``target`` per network."""
    df = prepare(results)
    th, bl = fit_theory(df), fit_baseline(df)
    rows = []
    for (h, w), cell in _cells(df):
        rows.append(
            {
                "hidden_layers": h,
                "width": w,
                "acc_original": float(cell["acc_original"].iloc[0]),
                "ratio_theory": theory_ratio_for(th, cell, target),
                "ratio_baseline": baseline_ratio_for(bl, cell, target),
                "ratio_interp": interpolated_ratio_for(cell, target),
            }
        )
    return pd.DataFrame(rows), th, bl
