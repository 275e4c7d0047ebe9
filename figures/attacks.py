"""Recovered accuracy against the attacker's share of the training data (tables in, Figure out)."""

from __future__ import annotations

import pandas as pd

from figures._base import new_figure


def recovered_vs_data(finetune: pd.DataFrame, summary: pd.DataFrame):
    """One panel per locked model (zero fill): test accuracy after each fine-tuning attack and after training
    from scratch (dashed; SGD and Adam where both ran; mean ± sd over seeds) against the share of training
    data, with the original and the locked accuracy as lines.

    ``finetune``: ``finetune.csv`` rows (``model, fill, attack, fraction, seed, accuracy``; fractions);
    ``summary``: ``summary.csv`` rows (``model, fill, acc_original, acc_locked``).
    """
    zero = finetune[finetune["fill"] == "zero"]
    models = list(dict.fromkeys(zero["model"]))
    fig = new_figure((4.6 * max(len(models), 1), 3.8))
    axes = fig.subplots(1, max(len(models), 1), squeeze=False, sharey=True)[0]
    for ax, model in zip(axes, models):
        sub = zero[zero["model"] == model]
        for i, (attack, g) in enumerate(sub.groupby("attack", sort=False)):
            s = g.groupby("fraction")["accuracy"].agg(["mean", "std"]).fillna(0) * 100
            style = "k--" if attack == "from scratch" else f"C{i}--" if attack.startswith("from scratch") else f"C{i}-"
            ax.errorbar(
                s.index * 100,
                s["mean"],
                yerr=s["std"],
                fmt=style,
                marker="o",
                ms=3,
                capsize=2,
                label="from scratch (SGD)" if attack == "from scratch" else attack,
            )
        row = summary[(summary["model"] == model) & (summary["fill"] == "zero")].iloc[0]
        ax.axhline(row["acc_original"] * 100, color="g", lw=0.8, ls=":", label="original")
        ax.axhline(row["acc_locked"] * 100, color="r", lw=0.8, ls=":", label="locked")
        ax.set_xscale("log")
        ticks = sorted(sub["fraction"].unique() * 100)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("attacker's data (% of the training set)")
        ax.set_title(model)
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize=7)
    return fig
