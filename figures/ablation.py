"""The |γ| of every BN layer per training recipe (tables in, Figure out; ``empirical.experiments.ablation.run``)."""

from __future__ import annotations

import pandas as pd

from figures._base import new_figure


def gamma_distributions(gammas: pd.DataFrame, title: str = "|γ| per BN layer (median, 5–95 % band, max)"):
    """One panel per architecture: for each recipe the median |γ| per BN layer with its 5–95 % band and the
    layer's maximum (dots) — where a global ranking by |γ| will take its channels.

    ``gammas``: ``gammas.csv`` rows (``arch, recipe, bn_index, gamma_q05, gamma_median, gamma_q95, gamma_max``).
    """
    archs = list(dict.fromkeys(gammas["arch"]))
    fig = new_figure((5 * len(archs), 3.8))
    axes = fig.subplots(1, len(archs), squeeze=False, sharey=True)[0]
    for ax, arch in zip(axes, archs):
        sub = gammas[gammas["arch"] == arch]
        for i, (recipe, g) in enumerate(sub.groupby("recipe", sort=False)):
            g = g.sort_values("bn_index")
            c = f"C{i}"
            ax.plot(g["bn_index"], g["gamma_median"], "-", color=c, label=recipe)
            ax.fill_between(g["bn_index"], g["gamma_q05"], g["gamma_q95"], color=c, alpha=0.15)
            ax.plot(g["bn_index"], g["gamma_max"], ".", color=c, ms=5)
        ax.set_title(arch)
        ax.set_xlabel("BN layer (module order)")
        ax.set_yscale("log")
    axes[0].set_ylabel("|γ|")
    axes[-1].legend(fontsize=7)
    fig.suptitle(title)
    return fig
