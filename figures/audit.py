"""The audit's utility curves (tables in, Figure out; ``empirical.experiments.audit``)."""

from __future__ import annotations

import pandas as pd

from figures._base import new_figure


def utility_curves(curve: pd.DataFrame, keys: pd.DataFrame, target: float):
    """Test accuracy against the extraction ratio (log scale) per unit kind, with the target and each kind's
    chosen key marked.

    ``curve``: ``unit_kind, ratio, top1`` rows; ``keys``: ``unit_kind, ratio, accuracy_heldout`` (one per kind).
    """
    fig = new_figure((6.5, 4))
    ax = fig.subplots()
    for i, (kind, g) in enumerate(curve.groupby("unit_kind", sort=False)):
        g = g.sort_values("ratio")
        ax.semilogx(g["ratio"], 100 * g["top1"], "o-", ms=3, color=f"C{i}", label=kind)
        k = keys[keys["unit_kind"] == kind]
        if len(k):
            ax.semilogx(k["ratio"], 100 * k["accuracy_heldout"], "*", ms=12, color=f"C{i}")
    ax.axhline(100 * target, color="k", ls=":", lw=0.8, label=f"target {100 * target:.0f} %")
    ax.set_xlabel("extraction ratio (share of the candidate units)")
    ax.set_ylabel("test accuracy (%); ★ the key for the target (held out)")
    ax.legend(fontsize=7)
    return fig
