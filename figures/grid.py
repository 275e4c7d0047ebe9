"""Figures of a grid run (Figure 5 and beyond). Each function takes tables and returns a Figure.

No torch import, no statistics: every number drawn is a column of the tables given
(``results.csv``, ``critical_ratios.csv``, ``disparities.csv``, ``theorem1_mc.csv``, or the
summaries ``empirical.experiments.grid.analysis`` derives from them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, TwoSlopeNorm
from matplotlib.ticker import LogLocator, NullFormatter

from figures._base import new_figure


def _heatmap(ax, table: pd.DataFrame, fmt, cmap, label, vmin=None, vmax=None, norm=None, na=None):
    """``table``: index = hidden layers, columns = widths. ``na``: a same-shaped boolean table of cells to
    mark "n/a" (no value by construction, e.g. a network that starts below the target), kept apart from
    cells that are simply missing ("—")."""
    vals = table.to_numpy(dtype=float)
    im = ax.imshow(
        vals,
        cmap=cmap,
        aspect="auto",
        origin="lower",
        vmin=None if norm else vmin,
        vmax=None if norm else vmax,
        norm=norm,
    )
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
    ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
    ax.set_xlabel("width (neurons per hidden layer)")
    ax.set_ylabel("hidden layers")
    na_vals = (
        na.reindex(index=table.index, columns=table.columns).fillna(False).to_numpy(bool) if na is not None else None
    )
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            v = vals[i, j]
            r, g, b, _ = im.cmap(im.norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # text colour from the cell's luminance
            text = fmt(v) if np.isfinite(v) else ("n/a" if na_vals is not None and na_vals[i, j] else "—")
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.85)


def _signed(v: float) -> str:
    """Enough decimals to tell the sign: +0.12, −0.05, 0 (exactly)."""
    if v == 0:
        return "0"
    digits = 1 if abs(v) >= 1 else 2
    while round(v, digits) == 0 and digits < 6:  # never print a non-zero value as 0
        digits += 1
    return f"{v:+.{digits}f}".replace("-", "−")


def figure5(cells: pd.DataFrame, ratio_label: str, title: str = "", vmax: float = 100.0):
    """Figure 5: accuracy drop (pp) and locked accuracy (%) over depth × width.

    ``cells``: one row per cell with ``hidden_layers, width, acc_drop, acc_extracted`` (ℓ1, one ratio),
    both as **fractions** (``acc_drop`` 0.33 = a 33 pp drop; negative when extraction *raised* the
    accuracy). The drop map is diverging and centred on 0 on one fixed scale, ±``vmax`` pp (100 by
    default) for every ratio, so a wobble of a few test images looks like noise and a collapse like one;
    a gain is never drawn like no change.
    """
    if not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be a positive number of pp, got {vmax}")
    for col in ("acc_drop", "acc_extracted"):
        if len(cells) and cells[col].abs().max() > 1:
            raise ValueError(
                f"{col} must be a fraction in [-1, 1] (0.33 = 33 pp), got values up to {cells[col].abs().max():g}"
            )
    drop = cells.pivot_table(index="hidden_layers", columns="width", values="acc_drop") * 100
    acc = cells.pivot_table(index="hidden_layers", columns="width", values="acc_extracted") * 100
    fig = new_figure((12, 4.8))
    a1, a2 = fig.subplots(1, 2)
    _heatmap(
        a1,
        drop,
        _signed,
        "RdBu_r",
        f"accuracy drop (pp, scale ±{vmax:g}; < 0: accuracy rose)",
        norm=TwoSlopeNorm(0, -vmax, vmax),
    )
    a1.set_title(f"accuracy drop (pp), ℓ1 ratio {ratio_label}", fontsize=10)
    _heatmap(a2, acc, lambda v: f"{v:.1f}", "viridis", "locked test accuracy (%)", vmin=0, vmax=100)
    a2.set_title("locked test accuracy (%)", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def critical_ratio_heatmap(critical: pd.DataFrame, title: str = ""):
    """Per cell, the smallest ratio (share of candidate weights, %) that brings accuracy to each target.

    ``critical``: ``critical_ratios.csv`` rows (``hidden_layers, width, target, ratio``; ``ratio`` as a
    fraction, ``status`` other than "found" when there is none). Cells without a ratio are marked "n/a"
    (e.g. a network that starts below the target, or never reaches it), never dropped.
    """
    targets = sorted(critical["target"].unique(), reverse=True)
    fig = new_figure((6 * len(targets), 4.8))
    axes = fig.subplots(1, len(targets), squeeze=False)
    for ax, t in zip(axes[0], targets):
        sub = critical[critical["target"] == t]
        table = sub.pivot_table(index="hidden_layers", columns="width", values="ratio", dropna=False) * 100
        cells = sub.pivot_table(index="hidden_layers", columns="width", values="target", aggfunc="size")
        table = table.reindex(index=cells.index, columns=cells.columns)
        na = table.isna() & cells.notna()
        finite = table.to_numpy(dtype=float)
        finite = finite[np.isfinite(finite) & (finite > 0)]
        norm = LogNorm(finite.min(), finite.max()) if finite.size and finite.min() < finite.max() else None
        _heatmap(
            ax,
            table,
            lambda v: f"{v:.2g}",
            "magma",
            "critical ratio (% of candidates, log colour scale)",
            norm=norm,
            na=na,
        )
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
    fig = new_figure((7, 4.2))
    ax = fig.subplots()
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
    ``rho``: ``quantity, label, spearman_rho, p_value`` rows (``grid.analysis.theory_correlations``).
    """
    n = len(rho)
    fig = new_figure((3.6 * n, 3.4))
    axes = fig.subplots(1, n, squeeze=False)
    for ax, (_, r) in zip(axes[0], rho.iterrows()):
        sc = ax.scatter(
            points[r["quantity"]], points["acc_drop"] * 100, c=points["hidden_layers"], cmap="viridis", s=14
        )
        ax.set_xscale("log")
        ax.set_xlabel(r["label"])
        ax.set_ylabel("accuracy drop (pp)")
        ax.set_title(f"ρ = {r['spearman_rho']:.2f} (p = {r['p_value']:.2g})", fontsize=9)
    fig.colorbar(sc, ax=axes[0].tolist(), label="hidden layers", shrink=0.85)
    if title:
        fig.suptitle(title)
    return fig


def theorem1_monte_carlo(mc: pd.DataFrame, title: str = ""):
    """Theorem 1: Monte-Carlo V(y⁽ᴹ⁾) over re-initialised networks (± 2 SE) against the bound, log-log."""
    fig = new_figure((5, 4.4))
    ax = fig.subplots()
    ax.errorbar(
        mc["bound"], mc["mc_variance"], yerr=2 * mc["mc_se"], fmt="o", ms=3, alpha=0.7, label="Monte Carlo (± 2 SE)"
    )
    lo, hi = min(mc["bound"].min(), mc["mc_variance"].min()), max(mc["bound"].max(), mc["mc_variance"].max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="= bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # a few decades only: the labels must not overlap
        axis.set_major_locator(LogLocator(numticks=5))
        axis.set_minor_formatter(NullFormatter())
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
    fig = new_figure((10, 3.8))
    axes = fig.subplots(1, 2)
    for ax, col in zip(axes, ("top1", "top3")):
        for ind, sub in curves.groupby("indicator"):
            g = sub.groupby("ratio")[col]
            mean, sd = g.mean(), g.std().fillna(0)
            x = mean.index.to_numpy()
            (line,) = ax.plot(
                x * 100, mean * 100, "o-", ms=3, label=ind if sub["seed"].nunique() == 1 else f"{ind} (mean ± sd)"
            )
            if sub["seed"].nunique() > 1:  # the band in its own line's colour
                ax.fill_between(x * 100, (mean - sd) * 100, (mean + sd) * 100, alpha=0.25, color=line.get_color())
        ax.axhline(chance * 100 * (3 if col == "top3" else 1), color="gray", ls=":", label="chance")
        for i, t in enumerate(targets):
            ax.axhspan(
                t * 100 - 2.5, t * 100 + 2.5, color="orange", alpha=0.15, label="target ± 2.5 pp" if i == 0 else None
            )
        ax.set_xscale("log")
        ax.set_xlabel("extraction ratio (% of candidate units)")
        ax.set_ylabel(f"{'top-1' if col == 'top1' else 'top-3'} accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
