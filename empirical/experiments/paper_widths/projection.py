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
AICc = n·ln(RSS/n) + 2k + 2k(k + 1)/(n − k − 1) with k = p + 1 (the small-sample criterion: n ≈ 12 epochs);
and the backtest error: the form fitted on a measured series' epochs ``fit_epochs`` predicts its measured
horizon (decades, predicted − measured; negative = the form projected a *more* vulnerable network than trained).

Two critical ratios of one network are ordered: the ratio that brings accuracy down to a lower level (chance + 5
pp) is never below the one for a higher level (half the original). ``project_pair`` keeps that order at every
projected epoch: it projects the lower-level ratio and the gap between the two (≥ 0, clipped per bootstrap
replicate), never the two apart. ``widen`` adds a measured rerun noise (decades) to both ends of an interval.
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
    """Akaike's criterion n·ln(RSS/n) + 2k of the fitted form (k = p coefficients plus the noise variance)."""
    y = np.asarray(y, float)
    rss = float(np.sum((y - fit_form(form, t, y)(t)) ** 2))
    n = len(y)
    return n * np.log(max(rss, 1e-300) / n) + 2 * (N_PARAMS[form] + 1)


def aicc(form: str, t, y) -> float:
    """AIC with the small-sample correction 2k(k + 1)/(n − k − 1) (Hurvich and Tsai 1989); inf where n ≤ k + 1."""
    n, k = len(np.asarray(y)), N_PARAMS[form] + 1
    return aic(form, t, y) + (2 * k * (k + 1) / (n - k - 1) if n > k + 1 else np.inf)


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
        rows.append(
            dict(form=form, projected=float(fit[-1]), low=float(lo[-1]), high=float(hi[-1]), aicc=aicc(form, t, y))
        )
        bands.append(pd.DataFrame(dict(form=form, epoch=grid, fit=fit, low=lo, high=hi)))
    out = pd.DataFrame(rows)
    if len(out):
        out["delta_aicc"] = out["aicc"] - out["aicc"].min()
    return out, (pd.concat(bands, ignore_index=True) if bands else pd.DataFrame())


def project_pair(t, y_high, t_low, y_low, horizon: int = 50, n_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """Two ordered critical ratios projected together: ``y_high`` (log10 of the ratio for the higher accuracy
    level, e.g. half the original) at epochs ``t``, and ``y_low`` (the lower level, e.g. chance + 5 pp: a larger
    ratio) at epochs ``t_low`` (a subset, when it is searched less often). The low-level series is projected as
    the high-level projection plus the gap ``y_low − y_high`` (fitted by the same form on the epochs both have,
    clipped at 0 in every replicate), so the projected ratios keep their order at every epoch and in every
    replicate. Returns ``(rows, bands)`` as ``project`` does, with a column ``series``: ``high`` or ``low``."""
    t, y_high = np.asarray(t, float), np.asarray(y_high, float)
    both = np.isin(np.asarray(t_low, float), t)
    t_gap = np.asarray(t_low, float)[both]
    gap = np.asarray(y_low, float)[both] - y_high[np.searchsorted(t, t_gap)]
    rows, bands = [], []
    grid = np.arange(int(np.min(t)), int(horizon) + 1)
    for form in FORMS:
        if len(t) < N_PARAMS[form] + 2:
            continue
        high_reps = block_bootstrap(form, t, y_high, grid, n_boot, seed=seed)
        high_fit = fit_form(form, t, y_high)(grid)
        out = [("high", high_fit, high_reps, aicc(form, t, y_high))]
        if len(t_gap) >= N_PARAMS[form] + 2:
            gap_reps = np.maximum(block_bootstrap(form, t_gap, gap, grid, n_boot, seed=seed + 1), 0.0)
            gap_fit = np.maximum(fit_form(form, t_gap, gap)(grid), 0.0)
            out.append(("low", high_fit + gap_fit, high_reps + gap_reps, aicc(form, t_gap, gap)))
        for series, fit, reps, crit in out:
            lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
            rows.append(
                dict(
                    series=series, form=form, projected=float(fit[-1]), low=float(lo[-1]), high=float(hi[-1]), aicc=crit
                )
            )
            bands.append(pd.DataFrame(dict(series=series, form=form, epoch=grid, fit=fit, low=lo, high=hi)))
    out = pd.DataFrame(rows)
    if len(out):
        out["delta_aicc"] = out["aicc"] - out.groupby("series")["aicc"].transform("min")
    return out, (pd.concat(bands, ignore_index=True) if bands else pd.DataFrame())


def widen(rows: pd.DataFrame, noise_decades: float) -> pd.DataFrame:
    """Each interval (``low``, ``high``, decades) widened by the rerun noise on both ends."""
    return rows.assign(low=rows["low"] - noise_decades, high=rows["high"] + noise_decades)


def backtest(series: pd.DataFrame, fit_epochs: tuple[int, int] = (2, 18), horizon=50) -> pd.DataFrame:
    """Each form fitted on ``fit_epochs`` of a measured series predicts its later epochs.

    ``series``: columns ``cell, epoch, y`` (y = log10 of the quantity); ``horizon``: the epoch to predict, or a
    ``(first, last)`` range of them. One row per cell × form × predicted epoch with the error in decades
    (predicted − measured)."""
    rows = []
    targets = range(horizon[0], horizon[1] + 1) if isinstance(horizon, tuple) else (horizon,)
    for cell, g in series.groupby("cell"):
        fit = g[g["epoch"].between(*fit_epochs)]
        if len(fit) < 5:
            continue
        for form in FORMS:
            if len(fit) < N_PARAMS[form] + 2:
                continue
            f = fit_form(form, fit["epoch"], fit["y"])
            for e in targets:
                at = g[g["epoch"] == e]
                if len(at):
                    pred = float(f(e))
                    rows.append(
                        dict(
                            cell=cell,
                            form=form,
                            fit_epochs=f"{fit_epochs[0]}-{fit_epochs[1]}",
                            epoch=e,
                            predicted=pred,
                            measured=float(at["y"].iloc[0]),
                            error=pred - float(at["y"].iloc[0]),
                        )
                    )
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
