"""Statistics for Figure 5's depth/width verdicts that a referee accepts (on result tables; no training).

* ``elasticities``: ordinary least squares of a log quantity on log depth and log width (optionally
  their interaction) with heteroscedasticity-robust HC3 standard errors (MacKinnon & White 1985:
  ω_i = e_i²/(1 − h_i)²; HC3 equals the sum of squared leave-one-out coefficient changes, which the
  tests check by refitting). When two factors vary, a coefficient with its interval beats a
  marginal rank correlation: the "depth matters more than width" claim becomes the difference of
  the two elasticities with its own interval, not Δρ between two differently spread axes.
* ``within_depth_permutation``: the width effect tested inside each depth (widths permuted within
  depth), so a depth trend cannot pose as a width effect.
* ``seed_spread``: per cell the spread over training seeds, beside the spread across widths.
* ``unstable_cells``: training runs whose final loss or accuracy path is an outlier (flagged, and
  verdicts shown with and without them).
* ``crossing``: where a fitted trend reaches a level (e.g. the epoch at which the critical ratio would
  reach the paper's 0.002 %), with Fieller's interval.
* ``welch``, ``holm``, ``mcnemar``: the attack verdicts' tests (Welch's t-test with the difference's
  interval; Holm's step-down adjustment for the secondary attacks; McNemar's exact test on paired per-image
  predictions).
* ``extrapolation``: candidate laws for the critical ratio fitted on one grid and scored on cells
  measured elsewhere (e.g. the paper's widths), by held-out error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class OLSFit:
    names: list[str]
    coef: np.ndarray
    cov_hc3: np.ndarray
    n: int
    resid: np.ndarray

    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_hc3))

    def ci(self, level: float = 0.95) -> np.ndarray:
        """(p, 2) intervals with Student t quantiles on n − p degrees of freedom."""
        q = stats.t.ppf(0.5 + level / 2, max(self.n - len(self.coef), 1))
        return np.stack([self.coef - q * self.se(), self.coef + q * self.se()], axis=1)

    def contrast(self, weights, level: float = 0.95) -> tuple[float, tuple[float, float]]:
        """A linear combination wᵀβ with its HC3 interval."""
        w = np.asarray(weights, dtype=float)
        est = float(w @ self.coef)
        se = float(np.sqrt(w @ self.cov_hc3 @ w))
        q = stats.t.ppf(0.5 + level / 2, max(self.n - len(self.coef), 1))
        return est, (est - q * se, est + q * se)


def crossing(fit: OLSFit, level_value: float, level: float = 0.95) -> tuple[float, float, float]:
    """Where the fitted line a + b·x of ``fit`` (names [intercept, slope]) reaches ``level_value``: the point
    estimate x* = (level_value − a)/b and Fieller's interval, the set of x whose interval for a + b·x
    (HC3, Student t) contains ``level_value`` — solved exactly as a quadratic in x. The interval is
    (nan, nan) when it is unbounded (the slope is not significantly non-zero)."""
    (a, b), V = fit.coef, fit.cov_hc3
    q = stats.t.ppf(0.5 + level / 2, max(fit.n - 2, 1))
    x_hat = (level_value - a) / b if b != 0 else float("nan")
    # (a + b x − c)² <= q²(V00 + 2x V01 + x² V11)  ⇔  A x² + B x + C <= 0
    A = b * b - q * q * V[1, 1]
    B = 2 * b * (a - level_value) - 2 * q * q * V[0, 1]
    C = (a - level_value) ** 2 - q * q * V[0, 0]
    disc = B * B - 4 * A * C
    if A <= 0 or disc < 0:
        return float(x_hat), float("nan"), float("nan")
    r = np.sqrt(disc)
    lo, hi = sorted(((-B - r) / (2 * A), (-B + r) / (2 * A)))
    return float(x_hat), float(lo), float(hi)


def ols_hc3(X: np.ndarray, y: np.ndarray, names: list[str]) -> OLSFit:
    """Least squares with the HC3 covariance (X is n × p with its intercept column)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    n, p = X.shape
    if n <= p:
        raise ValueError(f"{n} observations cannot fit {p} coefficients")
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ X.T @ y
    resid = y - X @ beta
    h = np.einsum("ij,jk,ik->i", X, xtx_inv, X)  # leverages
    omega = resid**2 / (1 - h) ** 2
    cov = xtx_inv @ (X.T * omega) @ X @ xtx_inv
    return OLSFit(names, beta, cov, n, resid)


def elasticities(cells: pd.DataFrame, value: str, interaction: bool = False) -> OLSFit:
    """``value`` (already on a log10 scale) = a + b·log10 H + c·log10 w [+ d·log10 H·log10 w]."""
    lh, lw = np.log10(cells["hidden_layers"].to_numpy(float)), np.log10(cells["width"].to_numpy(float))
    cols, names = [np.ones(len(cells)), lh, lw], ["intercept", "log10_depth", "log10_width"]
    if interaction:  # centred, so b and c stay the effects at the grid's mean depth and width
        cols.append((lh - lh.mean()) * (lw - lw.mean()))
        names.append("log10_depth_x_log10_width")
    return ols_hc3(np.column_stack(cols), cells[value].to_numpy(float), names)


def elasticity_rows(cells: pd.DataFrame, value: str, label: str) -> pd.DataFrame:
    """Coefficients, HC3 intervals and the depth-minus-width contrast, with and without the interaction."""
    rows = []
    for inter in (False, True):
        fit = elasticities(cells, value, inter)
        ci = fit.ci()
        for i, name in enumerate(fit.names[1:], start=1):
            rows.append(
                dict(
                    quantity=label,
                    model="with interaction" if inter else "additive",
                    term=name,
                    estimate=fit.coef[i],
                    ci_low=ci[i, 0],
                    ci_high=ci[i, 1],
                    n_cells=fit.n,
                )
            )
        w = np.zeros(len(fit.coef))
        w[1], w[2] = -1.0, 1.0  # c − b: > 0 when the quantity falls faster with depth than with width
        est, (lo, hi) = fit.contrast(w)
        model = "with interaction" if inter else "additive"
        term = "depth_minus_width (c − b)"
        rows.append(dict(quantity=label, model=model, term=term, estimate=est, ci_low=lo, ci_high=hi, n_cells=fit.n))
    return pd.DataFrame(rows)


def within_depth_permutation(cells: pd.DataFrame, value: str, n_perm: int = 5000, seed: int = 0) -> dict:
    """The width coefficient of the additive fit, against widths permuted *within* each depth (two-sided p)."""
    rng = np.random.default_rng(seed)
    obs = elasticities(cells, value).coef[2]
    groups = [g.index.to_numpy() for _, g in cells.groupby("hidden_layers")]
    widths = cells["width"].to_numpy().copy()
    null = np.empty(n_perm)
    for i in range(n_perm):
        perm = widths.copy()
        for idx in groups:
            pos = cells.index.get_indexer(idx)
            perm[pos] = rng.permutation(widths[pos])
        null[i] = elasticities(cells.assign(width=perm), value).coef[2]
    p = (1 + np.sum(np.abs(null) >= abs(obs))) / (n_perm + 1)
    return {"width_coef": float(obs), "p_value": float(p), "n_perm": n_perm, "null_sd": float(null.std())}


def seed_spread(cells: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per (depth, width): mean and sd of ``value`` over training seeds (cells with ≥ 2 seeds)."""
    g = cells.groupby(["hidden_layers", "width"])[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    return out[out["count"] >= 2].rename(columns={"mean": f"{value}_mean", "std": f"{value}_sd", "count": "n_seeds"})


def unstable_cells(
    train_log: pd.DataFrame, last: int = 7, loss_factor: float = 2.5, jump_pp: float = 5.0
) -> pd.DataFrame:
    """Training runs to flag: final loss above ``loss_factor`` × the median final loss of the same depth,
    or test accuracy moving by more than ``jump_pp`` points over the last ``last`` epochs."""
    keys = ["hidden_layers", "width", "seed"] if "seed" in train_log else ["hidden_layers", "width"]
    rows = []
    final = train_log.sort_values("epoch").groupby(keys).tail(1).set_index(keys)["loss"]
    for key, g in train_log.sort_values("epoch").groupby(keys):
        depth = key[0]
        peers = final[final.index.get_level_values(0) == depth]
        tail = g["test_acc"].tail(last) * 100
        loss, med = float(g["loss"].iloc[-1]), float(peers.median())
        reasons = []
        if loss > loss_factor * med:
            reasons.append(f"final loss {loss:.3f} vs depth median {med:.3f}")
        if tail.max() - tail.min() > jump_pp:
            reasons.append(f"test accuracy {tail.min():.1f}–{tail.max():.1f} % over the last {len(tail)} epochs")
        if reasons:
            rows.append({**dict(zip(keys, key)), "reason": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=[*keys, "reason"])


FORMS = {
    "power law in depth and width": lambda lh, lw, h, w: [np.ones_like(lh), lh, lw],
    "power law with interaction": lambda lh, lw, h, w: [np.ones_like(lh), lh, lw, lh * lw],
    "exponential in depth, power in width": lambda lh, lw, h, w: [np.ones_like(lh), h, lw],
    "power in the number of parameters": lambda lh, lw, h, w: [np.ones_like(lh), np.log10(h * w * w + 784 * w)],
    "power law in depth only": lambda lh, lw, h, w: [np.ones_like(lh), lh],
}


def _design(form, cells):
    h, w = cells["hidden_layers"].to_numpy(float), cells["width"].to_numpy(float)
    return np.column_stack(FORMS[form](np.log10(h), np.log10(w), h, w))


def extrapolation(train: pd.DataFrame, test: pd.DataFrame, value: str) -> pd.DataFrame:
    """Each candidate form fitted on ``train`` (log10 value) and scored on ``test``: per test cell the
    prediction, and the form's AIC on the training cells."""
    rows = []
    for form in FORMS:
        X = _design(form, train)
        y = train[value].to_numpy(float)
        fit = ols_hc3(X, y, [f"b{i}" for i in range(X.shape[1])])
        rss = float(np.sum(fit.resid**2))
        aic = len(y) * np.log(rss / len(y)) + 2 * X.shape[1]
        pred = _design(form, test) @ fit.coef
        for (_, cell), p in zip(test.iterrows(), pred):
            where = dict(hidden_layers=int(cell["hidden_layers"]), width=int(cell["width"]))
            rows.append(
                dict(
                    form=form,
                    aic_train=aic,
                    **where,
                    predicted=float(p),
                    measured=float(cell[value]),
                    error=float(p - cell[value]),
                )
            )
    return pd.DataFrame(rows)


def welch(a, b, level: float = 0.95) -> dict:
    """Welch's two-sample t-test of mean(a) − mean(b): the difference, its interval (Welch–Satterthwaite
    degrees of freedom) and the two-sided p-value."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's test needs at least two values per group")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff, se = a.mean() - b.mean(), np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else float("inf")
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue) if se > 0 else float(diff == 0 or 0.0)
    q = stats.t.ppf(0.5 + level / 2, df) if np.isfinite(df) else stats.norm.ppf(0.5 + level / 2)
    return dict(diff=float(diff), low=float(diff - q * se), high=float(diff + q * se), df=float(df), p=p)


def paired_t(a, b, level: float = 0.95) -> dict:
    """The paired t-test of mean(a − b) (a[i] and b[i] share a unit: a seed's data subset): the difference, its
    two-sided ``level`` interval, the two-sided p-value, the one-sided p for a > b and the one-sided lower bound
    at ``level`` (above 0 exactly where the one-sided test at 1 − ``level`` rejects)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError("a paired test needs two or more pairs")
    d = a - b
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    se = sd / np.sqrt(n)
    if se == 0:
        p_two, p_greater = (1.0, 1.0) if mean == 0 else (0.0, 0.0 if mean > 0 else 1.0)
    else:
        t = mean / se
        p_two, p_greater = float(2 * stats.t.sf(abs(t), n - 1)), float(stats.t.sf(t, n - 1))
    q2, q1 = stats.t.ppf(0.5 + level / 2, n - 1), stats.t.ppf(level, n - 1)
    return dict(
        diff=mean, low=mean - q2 * se, high=mean + q2 * se, p=p_two, p_greater=p_greater, bound=mean - q1 * se, pairs=n
    )


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control over the given tests)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    adj = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p) - rank) * p[i])
        adj[i] = min(running, 1.0)
    return adj


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test on paired per-image outcomes: b01 = images only ``a`` gets right, b10 = only ``b``;
    two-sided binomial p-value of min(b01, b10) given b01 + b10 (p = 1 with no discordant pair)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired outcomes must have the same shape")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    p = float(stats.binomtest(min(only_a, only_b), n, 0.5).pvalue) if n else 1.0
    return dict(only_a=only_a, only_b=only_b, p=p)


def paired_difference(correct_a, correct_b, level: float = 0.95) -> dict:
    """The difference of two accuracies on the same images, acc(a) − acc(b) = (only_a − only_b)/n, with its
    Wald interval for paired proportions: var = (only_a + only_b − (only_a − only_b)²/n)/n² (Agresti,
    *Categorical Data Analysis*, §10.1)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired outcomes must have the same, non-zero length")
    n, only_a, only_b = a.size, int((a & ~b).sum()), int((~a & b).sum())
    diff = (only_a - only_b) / n
    se = np.sqrt(max(only_a + only_b - (only_a - only_b) ** 2 / n, 0.0)) / n
    q = stats.norm.ppf(0.5 + level / 2)
    return dict(diff=float(diff), low=float(diff - q * se), high=float(diff + q * se))
