"""Figures of a grid run (Figure 5 and beyond). Each function takes tables and returns a Figure.

No torch import, no statistics: every number drawn is a column of the tables given
(``results.csv``, ``critical_ratios.csv``, ``disparities.csv``, ``theorem1_mc.csv``, or the
summaries ``empirical.experiments.analysis`` derives from them).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _heatmap(ax, table: pd.DataFrame, fmt, cmap, label, vmin=None, vmax=None):
    """``table``: index = hidden layers, columns = widths."""
    im = ax.imshow(table.to_numpy(dtype=float), cmap=cmap, aspect="auto", origin="lower", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
    ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
    ax.set_xlabel("width (neurons per hidden layer)")
    ax.set_ylabel("hidden layers")
    vals = table.to_numpy(dtype=float)
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            v = vals[i, j]
            r, g, b, _ = im.cmap(im.norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # text colour from the cell's luminance
            ax.text(
                j,
                i,
                "—" if not np.isfinite(v) else fmt(v),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    plt.colorbar(im, ax=ax, label=label, shrink=0.85)


def figure5(cells: pd.DataFrame, ratio_label: str, title: str = ""):
    """Figure 5: accuracy drop (pp) and locked accuracy over depth × width.

    ``cells``: one row per cell with ``hidden_layers, width, acc_drop, acc_extracted`` (l1, one ratio).
    """
    drop = cells.pivot_table(index="hidden_layers", columns="width", values="acc_drop") * 100
    acc = cells.pivot_table(index="hidden_layers", columns="width", values="acc_extracted") * 100
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    _heatmap(a1, drop, lambda v: f"{v:.1f}", "Reds", "accuracy drop (pp)", vmin=0)
    a1.set_title(f"accuracy drop after ℓ1 extraction, ratio {ratio_label}")
    _heatmap(a2, acc, lambda v: f"{v:.0f}", "viridis", "locked test accuracy (%)", vmin=0, vmax=100)
    a2.set_title("locked test accuracy (%)")
    if title:
        fig.suptitle(title)
    return fig


def critical_ratio_heatmap(critical: pd.DataFrame, title: str = ""):
    """Per cell, the smallest ratio (share of candidate weights, %) that brings accuracy to each target.

    ``critical``: ``critical_ratios.csv`` rows (``hidden_layers, width, target, ratio``).
    """
    targets = sorted(critical["target"].unique(), reverse=True)
    fig, axes = plt.subplots(1, len(targets), figsize=(6 * len(targets), 4.8), constrained_layout=True, squeeze=False)
    for ax, t in zip(axes[0], targets):
        sub = critical[critical["target"] == t]
        table = sub.pivot_table(index="hidden_layers", columns="width", values="ratio", dropna=False) * 100
        logs = np.log10(table)
        _heatmap(ax, logs, lambda v: f"{10**v:.2g}", "magma", "log10 critical ratio (%)")
        ax.set_title(f"smallest ℓ1 ratio (%) reaching accuracy <= {t:.0%}")
    if title:
        fig.suptitle(title)
    return fig


def disparity_profile(disp: pd.DataFrame, title: str = ""):
    """Measured d⁽ᵐ⁾ per layer (median, 5–95 % band) over G⁽ᵐ⁾, the sandwich and Theorem 3's bounds (log).

    ``disp``: ``disparities.csv`` rows of one cell, indicator and ratio.
    """
    disp = disp.sort_values("layer")
    m = disp["layer"].to_numpy()
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    pos = lambda col: disp[col].where(disp[col] > 0)  # noqa: E731 — zeros (no extraction yet) are not drawn on a log axis
    ax.fill_between(m, pos("d_q05"), pos("d_q95"), alpha=0.25, label="d, 5–95 %")
    ax.plot(m, pos("d_median"), "o-", label="d = ‖y − y*‖ (median)")
    ax.plot(m, pos("G_median"), "s--", label="G (median)")
    ax.plot(m, pos("sandwich_median"), "^-", label="G + Lμ‖y*⁽ᵐ⁻¹⁾‖ (deterministic)")
    ax.plot(m, pos("theorem3_measured_median"), "v-", label="Theorem 3, λ measured")
    ax.plot(m, pos("theorem3_property1_median"), "x-", label="Theorem 3, λ Property 1")
    ax.set_yscale("log")
    ax.set_xticks(m)
    ax.set_xlabel("layer m")
    ax.set_ylabel("disparity (log)")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return fig


def theory_vs_drop(points: pd.DataFrame, rho: pd.DataFrame, title: str = ""):
    """Each theory quantity against the measured accuracy drop, one panel each, Spearman ρ in the title.

    ``points``: one row per cell with ``acc_drop`` and one column per quantity;
    ``rho``: ``quantity, label, spearman_rho, p_value`` rows (``empirical.experiments.analysis.theory_correlations``).
    """
    n = len(rho)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), constrained_layout=True, squeeze=False)
    for ax, (_, r) in zip(axes[0], rho.iterrows()):
        ax.scatter(points[r["quantity"]], points["acc_drop"] * 100, c=points["hidden_layers"], cmap="viridis", s=14)
        ax.set_xscale("log")
        ax.set_xlabel(r["label"])
        ax.set_ylabel("accuracy drop (pp)")
        ax.set_title(f"ρ = {r['spearman_rho']:.2f} (p = {r['p_value']:.2g})", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def theorem1_monte_carlo(mc: pd.DataFrame, title: str = ""):
    """Theorem 1: Monte-Carlo V(y⁽ᴹ⁾) over re-initialised networks (± 2 SE) against the bound, log-log."""
    fig, ax = plt.subplots(figsize=(5, 4.4), constrained_layout=True)
    ax.errorbar(
        mc["bound"], mc["mc_variance"], yerr=2 * mc["mc_se"], fmt="o", ms=3, alpha=0.7, label="Monte Carlo (± 2 SE)"
    )
    lo, hi = min(mc["bound"].min(), mc["mc_variance"].min()), max(mc["bound"].max(), mc["mc_variance"].max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="= bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Theorem 1 bound (corrected, exponent M)")
    ax.set_ylabel("V(y⁽ᴹ⁾) over weights")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def accuracy_curves(curves: pd.DataFrame, targets=(), chance: float = 0.1, title: str = ""):
    """Figure 6 analogue: top-1 and top-3 accuracy vs ratio, ℓ1 beside the random baseline (mean ± sd).

    ``curves``: rows ``indicator, seed, ratio, top1, top3`` (``empirical.lock.sweep.accuracy_curve``).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, col in zip(axes, ("top1", "top3")):
        for ind, sub in curves.groupby("indicator"):
            g = sub.groupby("ratio")[col]
            mean, sd = g.mean(), g.std().fillna(0)
            x = mean.index.to_numpy()
            ax.plot(x * 100, mean * 100, "o-", ms=3, label=ind if sub["seed"].nunique() == 1 else f"{ind} (mean ± sd)")
            if sub["seed"].nunique() > 1:
                ax.fill_between(x * 100, (mean - sd) * 100, (mean + sd) * 100, alpha=0.25)
        ax.axhline(chance * 100 * (3 if col == "top3" else 1), color="gray", ls=":", label="chance")
        for t in targets:
            ax.axhspan(t * 100 - 2.5, t * 100 + 2.5, color="orange", alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("extraction ratio (% of candidate units)")
        ax.set_ylabel(f"{'top-1' if col == 'top1' else 'top-3'} accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
