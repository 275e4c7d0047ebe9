# ruff: noqa: E501  (the page template is prose)
"""The paper-widths results page, from results/paper-corner and results/epoch-trend (``scripts/docs.py`` writes
it). Every verdict comes from ``empirical.experiments.paper_widths.report``, the functions the report uses."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd

from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.paper_widths import report as pwr

pw = importlib.import_module("empirical.experiments.paper_widths.run")

CORNER, TREND = "results/paper-corner", "results/epoch-trend"
PAGE = "docs/results/paper-widths.md"
TITLE = "Figure 5 at the paper's own widths, epoch by epoch"
NAV = "Figure 5 at the paper's widths"  # its entry in the docs' navigation


def glance() -> str:
    """The README's line for the collapse claims at the paper's widths."""
    corner = pwr.load_run(CORNER)
    backtests = {t: pwr.backtest_errors(TREND, t) for t in (0.5, 0.15)}
    summary = pwr.claim_summary(pwr.claim_verdicts(corner["epochs"], corner["critical"], backtests))
    first = lambda line: line.split(" — ")[0]  # noqa: E731  (the verdict, without the per-cell numbers)
    return f"* *Figure 5 at the paper's widths*: {first(summary[0])}; {first(summary[1])} ([page](@docs/results/paper-widths.md)).\n"


def cell_rows(run: str) -> pd.DataFrame:
    t = pwr.load_run(run)
    last = pwr.last_epochs(t["epochs"])
    crit, elog = t["critical"], t["epoch_log"]
    rows = []
    for r in last.itertuples():
        c = crit[(crit.hidden_layers == r.hidden_layers) & (crit.width == r.width) & (crit.epoch == r.epoch)]
        ratio = {t_: c[(c.target == t_) & (c.status == "found")]["ratio"] for t_ in (0.5, 0.15)}
        e = elog[(elog.hidden_layers == r.hidden_layers) & (elog.width == r.width)]
        region = pwr.claim_region(r.hidden_layers, r.width, pwr.CLAIMS[0])
        rows.append({
            "cell": f"{r.hidden_layers} × {r.width}",
            "claim 1 region": region,
            "epochs": f"{r.epoch} of {pwr.PAPER_EPOCHS}",
            "test acc. (%)": f"{100 * r.acc_original:.2f}",
            "ℓ1 0.002 %: weights": int(r.n_extracted),
            "acc. after (%)": f"{100 * r.acc_extracted:.2f}",
            "drop (pp)": f"{100 * r.acc_drop:+.2f}",
            "r50 (%)": f"{100 * ratio[0.5].iloc[0]:.3g}" if len(ratio[0.5]) else "—",
            "r15 (%)": f"{100 * ratio[0.15].iloc[0]:.3g}" if len(ratio[0.15]) else "—",
            "decades above 0.002 % (r50)": f"{np.log10(ratio[0.5].iloc[0] / PAPER_RATIO):.2f}" if len(ratio[0.5]) else "—",
            "train s / epoch": f"{e.train_seconds.median():.0f}",
            "eval s / epoch": f"{e.eval_seconds.median():.0f}",
        })  # fmt: skip
    return pd.DataFrame(rows)


def trend_text(run: str) -> str:
    t = pwr.load_run(run)
    parts = []
    for target in (0.5, 0.15):
        for r in pwr.trend_rows(t["critical"], target).itertuples():
            if not np.isfinite(getattr(r, "slope_per_epoch", np.nan)):
                continue
            parts.append(
                f"{r.hidden_layers} × {r.width}, r{int(100 * target)}: {100 * r.ratio_first:.3g} % → {100 * r.ratio_last:.3g} % "
                f"(epochs {r.first_epoch}–{r.last_epoch}; slope of log10 r {r.slope_per_epoch:+.4f} per epoch "
                f"[{r.slope_ci_low:+.4f}, {r.slope_ci_high:+.4f}], HC3 95 %: {r.direction})"
            )
    return "\n".join(f"* {p}" for p in parts)


def projection_table(run: str, backtest_run: str) -> pd.DataFrame:
    t = pwr.load_run(run)
    rows = []
    for target in (0.5, 0.15):
        bt = pwr.backtest_errors(backtest_run, target)
        pr = pwr.projection_rows(t["critical"], target, bt)
        for r in pr.itertuples():
            rows.append({"cell": f"{r.hidden_layers} × {r.width}", "target": f"{target:.0%}", "epochs fitted": r.epochs,
                         "form": r.form, "r at epoch 50 (%)": f"{r.ratio_at_50_pct:.3g}",
                         "95 % interval (%)": f"[{r.low_pct:.3g}, {r.high_pct:.3g}]", "ΔAIC": f"{r.delta_aic:.1f}",
                         "backtest error, mean / worst (decades)": f"{r.backtest_mean_error:+.2f} / {r.backtest_worst_error:.2f}"})  # fmt: skip
    return pd.DataFrame(rows)


def reruns_text(run: str) -> str:
    """How far earlier runs of the same cell (kept as ``*.previous*.csv`` when a fresh machine retrained it) land
    from the current rows at the epochs both reached."""
    t = pwr.load_run(run)
    crit = t["critical"]
    parts = []
    for c in t["cells"][t["cells"].epochs_reached > 0].itertuples():
        cdir = Path(run) / "cells" / pw.cell_name(c.hidden_layers, c.width, 0)
        now = crit[(crit.hidden_layers == c.hidden_layers) & (crit.width == c.width) & (crit.target == 0.5)
                   & (crit.status == "found")]  # fmt: skip
        for prev in sorted(cdir.glob("critical.previous*.csv")):
            p = pd.read_csv(prev)
            both = now.merge(p[(p.target == 0.5) & (p.status == "found")], on="epoch", suffixes=("", "_prev"))
            if len(both):
                gap = np.abs(np.log10(both.ratio / both.ratio_prev))
                same = int((gap == 0).sum())
                parts.append(f"{c.hidden_layers} × {c.width} vs `{prev.name}`: r50 within {gap.max():.2f} decades at the "
                             f"{len(both)} epochs both reached (identical at {same})")  # fmt: skip
    return "; ".join(parts)


def page() -> str:
    t = pwr.load_run(CORNER)
    verdicts = pwr.claim_verdicts(t["epochs"], t["critical"], {g: pwr.backtest_errors(TREND, g) for g in (0.5, 0.15)})
    summary = "\n".join(f"* {line}" for line in pwr.claim_summary(verdicts))
    reruns = reruns_text(CORNER)
    return f"""Section 5.1.2 of the paper: *"the performance of most networks with more than 6 hidden layers and more than
3,000 neurons in each layer decreases by more than 50 %, and networks with more than 9 hidden layers and more than
5,000 neurons ... drop to a mere 10 %"*, with 0.002 % of the weights extracted by ℓ1 after 50 epochs of training
(Figure 5). Read strictly, **claim 1 starts at 7 × 4000** (7 × 3000 is its boundary) and **claim 2 at 10 × 6000**; a
verdict counts only cells strictly inside, and is provisional until a cell has reached the paper's epoch 50. The
`cpu` grid (widths ≤ 800) cannot test either claim, so the cells are measured here with the paper's protocol
(MNIST, Adam 1e-3, batch 128, fp32), evaluated after every epoch
(`corelocker-bounds paper-widths --preset paper-corner --out results/paper-corner --only HxW`; report:
[`results/paper-corner/report.md`](../runs/paper-corner/report.md)). Cells at the last epoch reached:

{md_table(cell_rows(CORNER))}

**Verdicts** (locked accuracy at most half the original for claim 1, at most 15 % for claim 2, each within
{pwr.TOLERANCE_PP} pp; `paper_widths_report.claim_summary`):

{summary}

**Projection to epoch 50.** Short of epoch 50, the critical ratio r50 (the smallest ℓ1 share of the hidden weights
that brings accuracy to 50 %) and r15 (chance + 5 pp) are projected to epoch 50 under three forms (linear in
log r, quadratic, saturating exponential), each with a 95 % moving-block bootstrap interval and its backtest
error on `results/epoch-trend` (fit epochs 2–18, predict the measured epoch 50; negative = projected more
vulnerable than measured):

{md_table(projection_table(CORNER, TREND))}

The quadratic's backtest misses by up to several decades (it bends back up), so it is shown, not relied on.
{("Reproducibility: " + reruns + ".") if reruns else ""}

![critical ratio vs epoch](../runs/paper-corner/figures/critical_ratio_vs_epoch.png)

The epoch trend at a small width (`--preset epoch-trend`, 50 epochs, every epoch swept;
[`results/epoch-trend/report.md`](../runs/epoch-trend/report.md)):

{md_table(cell_rows(TREND))}

{trend_text(TREND)}

At the paper's widths:

{trend_text(CORNER) or "* (not enough epochs yet for a trend)"}

![critical ratio vs epoch, epoch-trend](../runs/epoch-trend/figures/critical_ratio_vs_epoch.png)
"""
