"""Statistics over a grid's tables (pandas/scipy, no torch): Figure 5's trends and their uncertainty.

* ``cell_table``: one row per (depth, width) cell at one ratio (mean over training seeds).
* ``clearest_ratio``: the ratio of the list at which the ℓ1 accuracy drop varies most across
  cells (largest standard deviation) — where a trend over depth and width can show at all.
* ``trend``: Spearman ρ of a per-cell value with depth and with width, and Δρ = ρ_depth − ρ_width,
  each with a percentile bootstrap interval over cells ("depth matters more than width" ⇔ Δρ > 0
  with its interval above 0).
* ``theory_correlations``: Spearman ρ of each theory quantity with the measured accuracy drop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as stats

THEORY_QUANTITIES = {
    "lambda_property1": "λ (Property 1, measured K_s)",
    "lambda_measured": "λ measured (max ‖W∗‖₂)",
    "mu_max": "μ measured (max ‖ΔW‖₂)",
    "eta_measured_deep": "η at layer H (λ measured)",
    "theorem3_property1_deep_median": "Theorem 3 bound at layer H (λ Prop. 1)",
}


def cell_table(results: pd.DataFrame, ratio: float, indicator: str = "l1") -> pd.DataFrame:
    """One row per (hidden_layers, width): accuracies and theory columns at ``ratio``, mean over seeds."""
    sub = results[(results["indicator"] == indicator) & np.isclose(results["ratio"], ratio)]
    if indicator == "random":
        sub = sub[sub["random_seed"] == 0]
    num = sub.select_dtypes("number").columns.difference(["hidden_layers", "width"])
    return sub.groupby(["hidden_layers", "width"], as_index=False)[list(num)].mean()


def clearest_ratio(results: pd.DataFrame, indicator: str = "l1") -> float:
    """The ratio with the largest across-cell standard deviation of the accuracy drop."""
    sub = results[results["indicator"] == indicator]
    sd = sub.groupby("ratio")["acc_drop"].std()
    return float(sd.idxmax())


def _rho(a, b) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def trend(cells: pd.DataFrame, value: str, n_boot: int = 2000, seed: int = 0) -> dict:
    """Spearman ρ of ``value`` with depth and width, Δρ, and 95 % percentile bootstrap intervals over cells."""
    v = cells[value].to_numpy(dtype=float)
    d = cells["hidden_layers"].to_numpy(dtype=float)
    w = cells["width"].to_numpy(dtype=float)
    ok = np.isfinite(v)
    v, d, w = v[ok], d[ok], w[ok]
    out = {"value": value, "n_cells": int(ok.sum())}
    if len(v) < 4:
        return {**out, **{k: float("nan") for k in ("rho_depth", "rho_width", "delta")}}
    rd, rw = _rho(v, d), _rho(v, w)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(v), len(v))
        boots.append((_rho(v[i], d[i]), _rho(v[i], w[i])))
    b = np.array(boots, dtype=float)
    b = b[np.isfinite(b).all(axis=1)]
    delta = b[:, 0] - b[:, 1]
    q = lambda x: (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5)))  # noqa: E731
    return {
        **out,
        "rho_depth": rd,
        "rho_depth_ci": q(b[:, 0]),
        "rho_width": rw,
        "rho_width_ci": q(b[:, 1]),
        "delta": rd - rw,
        "delta_ci": q(delta),
        "n_boot": len(b),
    }


def theory_correlations(cells: pd.DataFrame) -> pd.DataFrame:
    """Spearman ρ (and p-value) of each theory quantity with ``acc_drop`` across cells."""
    rows = []
    for q, label in THEORY_QUANTITIES.items():
        if q not in cells:
            continue
        x, y = cells[q].to_numpy(dtype=float), cells["acc_drop"].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
        if ok.sum() < 4 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
            rho, p = float("nan"), float("nan")
        else:
            res = stats.spearmanr(x[ok], y[ok])
            rho, p = float(res.statistic), float(res.pvalue)
        rows.append({"quantity": q, "label": label, "spearman_rho": rho, "p_value": p, "n_cells": int(ok.sum())})
    return pd.DataFrame(rows)


def verdict_from_ci(ci: tuple[float, float], positive: bool = True, margin: float | None = None) -> str:
    """PASS when the interval lies on the claimed side of 0, FAIL when on the other, else INCONCLUSIVE; with an
    equivalence ``margin``, NO EFFECT when the whole interval lies within ±margin (the effect, whatever its sign,
    is too small to matter: checked first, so a tiny but significant effect reads NO EFFECT, not PASS or FAIL)."""
    lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "INCONCLUSIVE"
    if margin is not None and -margin <= lo and hi <= margin:
        return "NO EFFECT"
    if (lo > 0) if positive else (hi < 0):
        return "PASS"
    if (hi < 0) if positive else (lo > 0):
        return "FAIL"
    return "INCONCLUSIVE"
