"""Figure 5 at the paper's widths, epoch by epoch (tables in, Figure out; ``empirical.experiments.paper_widths``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from figures._base import new_figure

PAPER_RATIO = 0.00002


def _label(h, w):
    return f"{h} × {w}"


def accuracy_at_paper_ratio(epochs: pd.DataFrame, title: str = ""):
    """Per cell: test accuracy of the original and after ℓ1 extraction of 0.002 % vs epoch (left), and the
    accuracy drop in pp (right; the paper's claim is a drop of more than half the original accuracy).

    ``epochs``: ``epochs.csv`` rows (``hidden_layers, width, epoch, indicator, ratio, acc_original,
    acc_extracted``; accuracies as fractions).
    """
    l1 = epochs[(epochs["indicator"] == "l1") & np.isclose(epochs["ratio"], PAPER_RATIO)]
    fig = new_figure((11, 4))
    a1, a2 = fig.subplots(1, 2)
    for i, ((h, w), g) in enumerate(l1.groupby(["hidden_layers", "width"])):
        g = g.sort_values("epoch")
        color = f"C{i}"
        a1.plot(g["epoch"], g["acc_original"] * 100, "_-", ms=8, color=color, alpha=0.5)  # a tick shows one epoch
        a1.plot(g["epoch"], g["acc_extracted"] * 100, "o", ms=3, color=color, label=_label(h, w))
        a2.plot(g["epoch"], (g["acc_original"] - g["acc_extracted"]) * 100, "o-", ms=3, color=color, label=_label(h, w))
    a1.set_xlabel("epoch")
    a1.set_ylabel("test accuracy (%): original (line, ticks), ℓ1 0.002 % (dots)")
    a2.axhline(0, color="k", lw=0.8)
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy drop at 0.002 % (pp; < 0: rose)")
    for ax in (a1, a2):
        ax.legend(fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return fig


FORM_STYLES = {"linear": "--", "quadratic": "-.", "saturating": ":"}


def critical_ratio_vs_epoch(critical: pd.DataFrame, title: str = "", bands: pd.DataFrame | None = None,
                            horizon: int | None = None):  # fmt: skip
    """Per cell and target: the smallest ℓ1 ratio (% of the candidate weights, log scale) that brings
    accuracy to the target, vs epoch, with the paper's 0.002 % as a line; with ``bands``, each projection
    form's fit (line style per form) and its 95 % band up to ``horizon`` (the paper's epoch 50), so the
    distance between the trend and 0.002 % at the paper's epoch is visible.

    ``critical``: ``critical.csv`` rows (``hidden_layers, width, epoch, target, ratio, status``);
    ``bands``: ``hidden_layers, width, target, form, epoch, fit, low, high`` (ratios in %).
    """
    found = critical[critical["status"] == "found"]
    targets = sorted(critical["target"].unique(), reverse=True)
    fig = new_figure((6 * len(targets), 4.5))
    axes = fig.subplots(1, len(targets), squeeze=False)[0]
    cells = sorted({(int(h), int(w)) for h, w in zip(found["hidden_layers"], found["width"])})
    colors = {c: f"C{i}" for i, c in enumerate(cells)}
    for ax, t in zip(axes, targets):
        for (h, w), g in found[found["target"] == t].groupby(["hidden_layers", "width"]):
            g = g.sort_values("epoch")
            ax.plot(g["epoch"], g["ratio"] * 100, "o-", ms=3, color=colors[(h, w)], label=_label(h, w))
        if bands is not None and len(bands):
            for (h, w, form), b in bands[np.isclose(bands["target"], t)].groupby(["hidden_layers", "width", "form"]):
                c = colors.get((int(h), int(w)), "grey")
                ax.plot(
                    b["epoch"], b["fit"], FORM_STYLES.get(form, "--"), color=c, lw=1, label=f"{_label(h, w)}: {form}"
                )
                ax.fill_between(b["epoch"], b["low"], b["high"], color=c, alpha=0.08, lw=0)
        ax.axhline(PAPER_RATIO * 100, color="k", ls=":", lw=0.8, label="0.002 % (Figure 5)")
        if horizon:
            ax.axvline(horizon, color="grey", lw=0.6)
            ax.set_xlim(0.5, horizon + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_yscale("log")
        ax.set_ylim(top=min(ax.get_ylim()[1], 100))  # no ratio exceeds all the candidates
        ax.set_xlabel("epoch" + (f" (the paper trains {horizon})" if horizon else ""))
        ax.set_ylabel("critical ℓ1 ratio (% of candidates)")
        ax.set_title(f"accuracy <= {t:.0%}")
        ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title)
    return fig
