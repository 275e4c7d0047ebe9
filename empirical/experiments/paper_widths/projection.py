"""Where a per-epoch trend is headed: the critical ratio at the paper's epoch 50, projected under several forms.

A cell of ``paper-widths`` short of its 50 epochs has a measured series y_t = log10 r(t) (the critical ratio
after epoch t). One straight line through it assumes the decline goes on at its average pace, while the
measured declines slow down. So the projection to the paper's horizon is made under three forms, each with
its own uncertainty, and the verdict states only what they agree on:

* ``linear``:      y = a + b·t
* ``quadratic``:   y = a + b·t + c·t²
* ``saturating``:  y = a + b·exp(−t/τ)  (τ profiled over a log grid, a and b by least squares)

For each form: the value at the horizon; a 95 % interval from a moving-block bootstrap of the residuals
(blocks of consecutive epochs keep their serial correlation; the form is refitted on every replicate);
AIC = n·ln(RSS/n) + 2(p + 1); and, when a run measured to the horizon is given (``results/epoch-trend``),
the backtest error: the form fitted on that run's epochs ``fit_epochs`` predicts its measured horizon
(decades, predicted − measured; negative = the form projected a *more* vulnerable network than trained).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMS = ("linear", "quadratic", "saturating")
N_PARAMS = {"linear": 2, "quadratic": 3, "saturating": 3}
_TAUS = np.geomspace(0.5, 2000.0, 241)


def fit_form(form: str, t, y):
    """Least-squares fit of ``form`` to (t, y); returns a function t ↦ ŷ."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    if form in ("linear", "quadratic"):
        coef = np.polyfit(t, y, 1 if form == "linear" else 2)
        return lambda s: np.polyval(coef, np.asarray(s, float))
    if form != "saturating":
        raise ValueError(f"unknown form {form!r}; choose one of {FORMS}")
    # profile τ: for fixed τ the model is linear in (a, b); the simple-regression solution for every τ at once
    e = np.exp(-t[:, None] / _TAUS)  # (n, taus)
    e_c, y_c = e - e.mean(0), y - y.mean()
    sxx = (e_c**2).sum(0)
    b_all = np.where(sxx > 0, (e_c * y_c[:, None]).sum(0) / np.where(sxx > 0, sxx, 1), 0.0)
    a_all = y.mean() - b_all * e.mean(0)
    rss = ((y[:, None] - a_all - b_all * e) ** 2).sum(0)
    i = int(np.argmin(rss))
    tau, a, b = _TAUS[i], a_all[i], b_all[i]
    return lambda s: a + b * np.exp(-np.asarray(s, float) / tau)


def aic(form: str, t, y) -> float:
    """Akaike's criterion n·ln(RSS/n) + 2(p + 1) of the fitted form (p coefficients plus the noise variance)."""
    y = np.asarray(y, float)
    rss = float(np.sum((y - fit_form(form, t, y)(t)) ** 2))
    n = len(y)
    return n * np.log(max(rss, 1e-300) / n) + 2 * (N_PARAMS[form] + 1)


def block_bootstrap(form: str, t, y, at, n_boot: int = 1000, block: int = 3, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates (n_boot, len(at)) of the fitted form's values at ``at``: residuals resampled in moving
    blocks of ``block`` consecutive epochs, added to the fitted values, the form refitted."""
    t, y, at = np.asarray(t, float), np.asarray(y, float), np.atleast_1d(np.asarray(at, float))
    fitted = fit_form(form, t, y)(t)
    resid = y - fitted
    n, rng = len(y), np.random.default_rng(seed)
    starts = np.arange(max(n - block + 1, 1))
    reps = np.empty((n_boot, len(at)))
    for i in range(n_boot):
        idx = np.concatenate([np.arange(s, min(s + block, n)) for s in rng.choice(starts, n // block + 1)])[:n]
        reps[i] = fit_form(form, t, fitted + resid[idx])(at)
    return reps


def project(
    t, y, horizon: int = 50, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per form: one summary row (the projected y at ``horizon`` with its bootstrap interval, the AIC and ΔAIC),
    and the band (fit, low, high at every epoch from the first measured one to ``horizon``) for the figures."""
    rows, bands = [], []
    grid = np.arange(int(np.min(t)), int(horizon) + 1)
    for form in FORMS:
        if len(t) < N_PARAMS[form] + 2:
            continue
        reps = block_bootstrap(form, t, y, grid, n_boot, seed=seed)
        lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
        fit = fit_form(form, t, y)(grid)
        rows.append(dict(form=form, projected=float(fit[-1]), low=float(lo[-1]), high=float(hi[-1]),
                         aic=aic(form, t, y)))  # fmt: skip
        bands.append(pd.DataFrame(dict(form=form, epoch=grid, fit=fit, low=lo, high=hi)))
    out = pd.DataFrame(rows)
    if len(out):
        out["delta_aic"] = out["aic"] - out["aic"].min()
    return out, (pd.concat(bands, ignore_index=True) if bands else pd.DataFrame())


def backtest(series: pd.DataFrame, fit_epochs: tuple[int, int] = (2, 18), horizon: int = 50) -> pd.DataFrame:
    """Each form fitted on ``fit_epochs`` of a fully measured series predicts its ``horizon``.

    ``series``: columns ``cell, epoch, y`` (y = log10 of the quantity); one row per cell × form with the
    error in decades (predicted − measured)."""
    rows = []
    for cell, g in series.groupby("cell"):
        at = g[g["epoch"] == horizon]
        fit = g[g["epoch"].between(*fit_epochs)]
        if not len(at) or len(fit) < 5:
            continue
        for form in FORMS:
            pred = float(fit_form(form, fit["epoch"], fit["y"])(horizon))
            rows.append(dict(cell=cell, form=form, predicted=pred, measured=float(at["y"].iloc[0]),
                             error=pred - float(at["y"].iloc[0])))  # fmt: skip
    return pd.DataFrame(rows)


def agreement(rows: pd.DataFrame, level_value: float) -> str:
    """What every form says about reaching ``level_value`` at the horizon: ``none`` (every interval lies above
    it), ``all`` (every interval lies below), else ``undecided``."""
    if not len(rows):
        return "undecided"
    if (rows["low"] > level_value).all():
        return "none"
    if (rows["high"] < level_value).all():
        return "all"
    return "undecided"
