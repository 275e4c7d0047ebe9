"""Figure 5 at the paper's widths, epoch by epoch (tables in, Figure out; ``empirical.experiments.paper_widths``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
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


def with_criterion(critical: pd.DataFrame) -> pd.DataFrame:
    """``critical`` with a ``criterion`` column: ``half`` (half the original accuracy) or the accuracy level as
    text (``0.5``, ``0.15``); runs written before the column existed searched accuracy levels only."""
    if "criterion" in critical:
        return critical.assign(criterion=critical["criterion"].astype(str))
    return critical.assign(criterion=[f"{float(t):g}" for t in critical["target"]])


def _criterion_order(c: str) -> float:
    return -1.0 if c == "half" else -float(c)


PAPER_DEPTHS, PAPER_WIDTHS = tuple(range(4, 14)), tuple(range(1000, 8001, 1000))


def paper_grid(cells: pd.DataFrame, regions: list[tuple[str, int, int]], title: str = ""):
    """Figure 5 at the paper's own grid (4..13 hidden layers × 1000..8000 neurons): each measured cell coloured by
    its accuracy drop at 0.002 % (pp) and labelled with the drop and the epoch it reached; unmeasured cells blank,
    marked "·"; each claimed region outlined (``regions``: label, more than this many layers, more than this
    many neurons).

    ``cells``: one row per measured cell: ``hidden_layers, width, epoch, acc_original, acc_extracted``.
    """
    fig = new_figure((8, 6.5))
    ax = fig.subplots()
    grid = np.full((len(PAPER_DEPTHS), len(PAPER_WIDTHS)), np.nan)
    for r in cells.itertuples():
        if r.hidden_layers in PAPER_DEPTHS and r.width in PAPER_WIDTHS:
            grid[PAPER_DEPTHS.index(r.hidden_layers), PAPER_WIDTHS.index(r.width)] = 100 * (
                r.acc_original - r.acc_extracted
            )
    im = ax.imshow(grid, origin="lower", cmap="magma_r", norm=Normalize(0, 100), aspect="auto")
    for i, h in enumerate(PAPER_DEPTHS):
        for j, w in enumerate(PAPER_WIDTHS):
            row = cells[(cells.hidden_layers == h) & (cells.width == w)]
            if len(row):
                r = row.iloc[0]
                ax.text(
                    j,
                    i,
                    f"{100 * (r.acc_original - r.acc_extracted):.1f}\nep {int(r.epoch)}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="k" if grid[i, j] < 50 else "w",
                )
            else:
                ax.text(j, i, "·", ha="center", va="center", color="0.6")
    for k, (label, depth, width) in enumerate(regions):
        i0, j0 = PAPER_DEPTHS.index(depth + 1), PAPER_WIDTHS.index(width + 1000)
        ax.add_patch(
            Rectangle(
                (j0 - 0.5, i0 - 0.5),
                len(PAPER_WIDTHS) - j0,
                len(PAPER_DEPTHS) - i0,
                fill=False,
                lw=2,
                ls="-" if k == 0 else "--",
                ec=f"C{k}",
                label=label,
            )
        )
    ax.set_xticks(range(len(PAPER_WIDTHS)), [str(w) for w in PAPER_WIDTHS])
    ax.set_yticks(range(len(PAPER_DEPTHS)), [str(h) for h in PAPER_DEPTHS])
    ax.set_xlabel("neurons per hidden layer")
    ax.set_ylabel("hidden layers")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    fig.colorbar(im, ax=ax, label="accuracy drop at 0.002 % (pp; blank · = not measured)")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def critical_ratio_vs_epoch(
    critical: pd.DataFrame, title: str = "", bands: pd.DataFrame | None = None, horizon: int | None = None
):
    """Per cell and target: the smallest ℓ1 ratio (% of the candidate weights, log scale) that brings
    accuracy to the target, vs epoch, with the paper's 0.002 % as a line; with ``bands``, each projection
    form's fit (line style per form) and its 95 % band up to ``horizon`` (the paper's epoch 50), so the
    distance between the trend and 0.002 % at the paper's epoch is visible.

    ``critical``: ``critical.csv`` rows (``hidden_layers, width, epoch, target, ratio, status``, and ``criterion``:
    ``half`` or the accuracy level, where the run records it); ``bands``: ``hidden_layers, width, criterion, form,
    epoch, fit, low, high`` (ratios in %).
    """
    critical = with_criterion(critical)
    found = critical[critical["status"] == "found"]
    targets = sorted(critical["criterion"].unique(), key=_criterion_order)
    fig = new_figure((6 * len(targets), 4.5))
    axes = fig.subplots(1, len(targets), squeeze=False)[0]
    cells = sorted({(int(h), int(w)) for h, w in zip(found["hidden_layers"], found["width"])})
    colors = {c: f"C{i}" for i, c in enumerate(cells)}
    for ax, t in zip(axes, targets):
        for (h, w), g in found[found["criterion"] == t].groupby(["hidden_layers", "width"]):
            g = g.sort_values("epoch")
            ax.plot(g["epoch"], g["ratio"] * 100, "o-", ms=3, color=colors[(h, w)], label=_label(h, w))
        if bands is not None and len(bands):
            for (h, w, form), b in bands[bands["criterion"] == t].groupby(["hidden_layers", "width", "form"]):
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
        ax.set_title("accuracy <= half the original" if t == "half" else f"accuracy <= {float(t):.0%}")
        ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title)
    return fig
