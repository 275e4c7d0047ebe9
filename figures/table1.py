"""Figure 6 at CPU scale: top-1 accuracy vs extraction ratio per conv architecture (tables in, Figure out)."""

from __future__ import annotations

import pandas as pd

from figures._base import new_figure

STYLE = {"l1": ("C3", "CoreLocker ℓ1 (filters)"), "bn-scale": ("C0", "CoreLocker bn-scale (|γ|)")}


def accuracy_vs_ratio(curves: pd.DataFrame, table_ratio: float | None = None, chance: float = 0.1):
    """``curves``: rows of ``arch, indicator, seed, ratio, top1`` (``empirical.experiments.table1.run``), one panel
    per arch; the random baseline is its seeds' mean with a ±1 sd band."""
    archs = list(dict.fromkeys(curves["arch"]))
    fig = new_figure((4.2 * len(archs), 3.4), layout="tight")
    axes = fig.subplots(1, len(archs), squeeze=False, sharey=True)
    for ax, arch in zip(axes[0], archs):
        c = curves[curves.arch == arch]
        for ind, (color, label) in STYLE.items():
            s = c[c.indicator == ind].sort_values("ratio")
            ax.plot(s.ratio, s.top1 * 100, "o-", color=color, label=label, ms=4)
        r = c[c.indicator == "random"].groupby("ratio")["top1"].agg(["mean", "std"]).fillna(0) * 100
        ax.plot(r.index, r["mean"], "s--", color="0.4", label="random filters (mean ± sd)", ms=3)
        ax.fill_between(r.index, r["mean"] - r["std"], r["mean"] + r["std"], color="0.4", alpha=0.2)
        ax.axhline(chance * 100, color="k", lw=0.8, ls=":", label="chance")
        if table_ratio is not None:
            ax.axvline(table_ratio, color="0.7", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(arch)
        ax.set_xlabel("extraction ratio (share of candidate units)")
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    return fig
