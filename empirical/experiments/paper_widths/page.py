# ruff: noqa: E501  (the page template is prose)
"""The paper-widths docs page (``docs/results/paper-widths.md``) and its README line, from the committed runs:
``results/paper-region`` (the claimed region, 7 × 4000 retrained to epoch 50 on one host), ``results/paper-corner``
(the earlier corner cells) and ``results/epoch-trend`` (50 epochs at width 400, for the backtests). Every verdict
comes from ``paper_widths.claims``, the functions the report uses."""

from __future__ import annotations

import pandas as pd

from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.verdicts import line
from empirical.experiments.paper_widths import cost, projection
from empirical.experiments.paper_widths import report as pwr
from empirical.experiments.paper_widths.claims import (
    CLAIMS,
    PAPER_EPOCHS,
    TOLERANCE_PP,
    claim_region,
    measured_cells,
    region_cells,
)
from empirical.experiments.paper_widths.config import HALF, PRESETS
from empirical.experiments.paper_widths.report import verdicts

REGION, CORNER, TREND = "results/paper-region", "results/paper-corner", "results/epoch-trend"
PAGE = "docs/results/paper-widths.md"
TITLE = "Figure 5 at the paper's own widths, epoch by epoch"
NAV = "Figure 5 at the paper's widths"
FIGURES = (REGION,)  # the runs whose figures the page shows (scripts/docs.py appends any not in the text)
H100_FP32_TFLOPS = 30.0  # an assumed sustained fp32 (TF32 off) throughput for the GPU-time estimates, not a measurement


def _runs() -> dict[str, dict]:
    return {"paper-region": pwr.load_run(REGION), "paper-corner": pwr.load_run(CORNER)}


def glance() -> str:
    """The README's line: each collapse claim's verdict with the region's count behind it (``report.verdicts``)."""
    v = verdicts(REGION, earlier_run=CORNER)
    return (
        "* *Figure 5 at the paper's widths*: "
        + "; ".join(f"{r.where.removeprefix('Figure 5, ')}: {line(r, where=False)}" for r in v.itertuples())
        + " ([page](@docs/results/paper-widths.md)).\n"
    )


def cell_rows(runs: dict[str, dict]) -> pd.DataFrame:
    """One row per measured cell (its furthest-trained run): regions, epoch, accuracies, the critical ratios at that
    epoch, time per epoch and host."""
    cells = measured_cells(runs)
    rows = []
    for r in cells.itertuples():
        t = runs[r.run]
        crit, elog = t["critical"], t["epoch_log"]
        c = crit[(crit.hidden_layers == r.hidden_layers) & (crit.width == r.width) & (crit.status == "found")]
        c = c[c.epoch <= r.epoch].sort_values("epoch")
        latest = {k: g.iloc[-1] for k, g in c.groupby("criterion")}
        e = elog[(elog.hidden_layers == r.hidden_layers) & (elog.width == r.width)]
        ratio = lambda k: f"{100 * latest[k].ratio:.3g} (ep {int(latest[k].epoch)})" if k in latest else "—"  # noqa: E731
        regions = [f"claim {i + 1}: {claim_region(r.hidden_layers, r.width, cl)}" for i, cl in enumerate(CLAIMS)]
        rows.append(
            {
                "cell": f"{r.hidden_layers} × {r.width}",
                "run": r.run,
                "regions": ", ".join(regions),
                "epochs": f"{r.epoch} of {PAPER_EPOCHS}",
                "test acc. (%)": f"{100 * r.acc_original:.2f}",
                "ℓ1 0.002 %: weights": int(r.n_extracted),
                "acc. after (%)": f"{100 * r.acc_extracted:.2f}",
                "r_half (%)": ratio(HALF),
                "r50 (%)": ratio("0.5"),
                "r15 (%)": ratio("0.15"),
                "train s / epoch": f"{e.train_seconds.median():.0f}",
                "eval s / epoch": f"{e.eval_seconds.median():.0f}",
                "host": r.host,
            }
        )
    return pd.DataFrame(rows)


def backtest_text(bt: pd.DataFrame) -> str:
    """The paper-width cells' own backtests, one line per cell × criterion × window: each form's worst miss."""
    if not len(bt):
        return "(no paper-width cell measured long enough to backtest)"
    own = bt[bt.run != "epoch-trend"]
    lines = []
    for (run, cell, crit, window, epochs), g in own.groupby(
        ["run", "cell", "criterion", "fit_epochs", "predicted_epochs"]
    ):
        forms = ", ".join(f"{r.form} {r.mean_error:+.2f} (worst {r.worst_error:.2f})" for r in g.itertuples())
        lines.append(f"* {cell} ({run}), r_{crit}: fitted on epochs {window}, predicting {epochs}: {forms} decades")
    trend = bt[bt.run == "epoch-trend"]
    for window, g in trend.groupby("fit_epochs"):
        worst = g.groupby("form")["worst_error"].max()
        lines.append(
            f"* `epoch-trend` (width 400, 3 cells × 2 criteria), fitted on epochs {window}, predicting 50: worst "
            + ", ".join(f"{f} {v:.2f}" for f, v in worst.items())
            + " decades"
        )
    return "\n".join(lines)


def cross_run_backtest(runs: dict[str, dict]) -> pd.DataFrame:
    """The real backtest of the earlier run's projection: each form fitted on ``paper-corner``'s epochs of a cell that
    ``paper-region`` retrained to epoch 50, predicting the rerun's measured epoch 50 (r15 against r15; r50 against
    r_half, whose level — half the original, about 49 % — differs a little from 50 %). Decades, predicted − measured."""
    early, late = runs["paper-corner"]["critical"], runs["paper-region"]["critical"]
    rows = []
    for (h, w), g in pwr.series(late, HALF).groupby(["hidden_layers", "width"]):
        if g["epoch"].max() < PAPER_EPOCHS:
            continue
        for early_crit, late_crit in (("0.5", HALF), ("0.15", "0.15")):
            e = pwr.series(early, early_crit)
            e = e[(e.hidden_layers == h) & (e.width == w)].sort_values("epoch")
            m = pwr.series(late, late_crit)
            m = m[(m.hidden_layers == h) & (m.width == w) & (m.epoch == PAPER_EPOCHS)]
            if len(e) < 5 or not len(m):
                continue
            for form in projection.FORMS:
                pred = float(projection.fit_form(form, e["epoch"], e["y"])(PAPER_EPOCHS))
                rows.append({"cell": f"{h} × {w}", "fitted": f"r_{early_crit}, paper-corner epochs "
                             f"{e.epoch.min()}–{e.epoch.max()}", "measured": f"r_{late_crit} at epoch 50",
                             "form": form, "predicted (%)": f"{100 * 10**pred:.3g}",
                             "measured (%)": f"{100 * 10 ** m.y.iloc[0]:.3g}",
                             "error (decades)": f"{pred - m.y.iloc[0]:+.2f}"})  # fmt: skip
    return pd.DataFrame(rows)


def gpu_table() -> pd.DataFrame:
    """The claimed region's cells in the order a GPU slice runs them, with the training FLOP of 50 epochs and the
    time that takes at an assumed sustained throughput (``H100_FP32_TFLOPS``), not a measurement."""
    rows = []
    for h, w, epochs in PRESETS["paper-region"].cells:
        params = 784 * w + w + (h - 1) * (w * w + w) + 10 * w + 10
        flop = 6 * params * 60_000 * epochs
        regions = ", ".join(f"claim {i + 1}" for i, cl in enumerate(CLAIMS) if claim_region(h, w, cl) == "inside")
        rows.append(
            {
                "cell": f"{h} × {w}",
                "in": regions,
                "parameters (M)": f"{params / 1e6:.0f}",
                "training PFLOP (50 epochs)": f"{flop / 1e15:.1f}",
                f"minutes at {H100_FP32_TFLOPS:g} TFLOP/s": f"{flop / H100_FP32_TFLOPS / 1e12 / 60:.1f}",
            }
        )
    return pd.DataFrame(rows)


def page() -> str:
    runs = _runs()
    rows = verdicts(REGION, earlier_run=CORNER)
    diffs = pwr.rerun_differences({"paper-region": REGION, "paper-corner": CORNER})
    noise = pwr.rerun_noise(diffs)
    bt = pwr.paper_backtests(runs, pwr.load_run(TREND))
    region = runs["paper-region"]
    share = cost.eval_share(region["epoch_log"]) if len(region["epoch_log"]) else pd.DataFrame()
    projections = pd.concat(
        [pwr.projection_rows(t["critical"], noise).assign(run=n) for n, t in runs.items()], ignore_index=True
    )
    sentences = []
    if len(projections):
        for (run, h, w, crit), g in projections.groupby(["run", "hidden_layers", "width", "criterion"]):
            sentences.append(f"* {int(h)} × {int(w)} ({run}), r_{crit}: {pwr.projection_sentence(g)}")
    rerun = (
        diffs.groupby(["cell", "source", "quantity", "unit"], as_index=False)["difference"].agg(
            epochs="count", largest=lambda d: d.abs().max()
        )
        if len(diffs)
        else pd.DataFrame()
    )
    n1, n2 = (len(region_cells(c)) for c in CLAIMS)
    cross = cross_run_backtest(runs)
    return f"""Section 5.1.2 of the paper: *"the performance of most networks with more than 6 hidden layers and more than
3,000 neurons in each layer decreases by more than 50 %, and networks with more than 9 hidden layers and more than
5,000 neurons ... drop to a mere 10 %"*, with 0.002 % of the weights extracted by ℓ1 after 50 epochs of training
(Figure 5). On the paper's grid claim 1 covers **{n1} cells** (7–13 hidden layers × 4000–8000 neurons) and claim 2
**{n2} cells** (10–13 × 6000–8000). The `cpu` grid (widths ≤ 800) cannot test either claim, so cells of the claimed
region are trained here with the paper's protocol (MNIST, Adam 1e-3, batch 128, fp32) and evaluated after every
epoch (`corelocker-bounds paper-widths --preset paper-region --out results/paper-region --only 7x4000`; report:
[`results/paper-region/report.md`](results/paper-region/report.md)).

**Verdicts.** One threshold per claim, the paper's own: claim 1 is met by a cell whose locked accuracy at 0.002 % is at
most half its original, claim 2 by one at most 15 % (chance + 5 pp), each within {TOLERANCE_PP} pp. A cell counts
only at epoch {PAPER_EPOCHS}; a claim about *most* of its region is PASS only when the cells that meet it are more than
half of the region, FAIL only when those that do not are at least half, and otherwise NOT DECIDED with the count behind
it (`paper_widths.claims`). No cell is dropped for its accuracy: a cell short of epoch 50 is provisional.

{chr(10).join(f"* {line(r)}" for r in rows.itertuples())}

![Figure 5 at the paper's grid](results/paper-region/figures/paper_grid.png)

Cells at the furthest epoch reached (the critical ratios at that epoch or the last one searched; r_half halves the
original accuracy, r50 reaches 50 % in the earlier run, r15 reaches 15 %):

{md_table(cell_rows(runs))}

**Projections to epoch 50**, for cells short of it with at least five found epochs: claim 1's critical ratio and
chance + 5 pp's are projected together (linear, quadratic and saturating forms in log r; the r15 series is r_half plus
a gap ≥ 0, so r15 ≥ r_half at every projected epoch), forms compared by AICc, 95 % moving-block bootstrap intervals
widened by the largest rerun difference measured ({noise:.2f} decades), and "no form reaches 0.002 %" said only where
no widened interval reaches it:

{chr(10).join(sentences) or "* (no cell short of epoch 50 with five found epochs)"}

**Backtests on the paper-width cells themselves** (predicted − measured, decades; negative = projected more vulnerable
than training gave):

{backtest_text(bt)}

**The earlier run's projection against the measured epoch 50** (7 × 4000 fitted on its first run's epochs 2–13,
predicting what the rerun measured at epoch 50):

{md_table(cross) if len(cross) else "(no cell measured to epoch 50 in both runs yet)"}

**Rerun noise** (cells trained twice: the same protocol, another process or host; later minus earlier):

{md_table(rerun) if len(rerun) else "(no cell trained twice)"}

**Cost of the evaluation** (`results/paper-region`, budget 20 % of training time; the full sweep every 5 epochs and the
random baseline every 10 carry most of it, the search for r15 runs every second epoch and at every epoch from 45 on):

{md_table(share) if len(share) else "(no epoch yet)"}

Per denormal mode: epochs that ran with float32 denormals flushed to zero (FTZ/DAZ, `train`'s default on the CPU
since the epoch log records the mode) have the same weights bit for bit and an Adam step about 10× faster
([benchmarks](../benchmarks.md)); the evaluation keeps its cadence, so its share of the shorter epochs grows:

{md_table(cost.by_mode(region["epoch_log"])) if len(share) else "(no epoch yet)"}

**The claimed region on one GPU, in slices.** `paper-region` orders the {n1} cells corners first; `--deadline
SECONDS` stops before an epoch that would not finish in time, with every finished epoch's rows written, so each window
continues where the last stopped (`scripts/gpu_slice.sh OUT SECONDS`: fp32, TF32 off, recorded in every row). The
time below is the training FLOP of 50 epochs at an assumed {H100_FP32_TFLOPS:g} TFLOP/s, an estimate to plan windows
with, not a measurement (evaluation adds to it):

{md_table(gpu_table())}

The epoch trend at a small width (`--preset epoch-trend`, 50 epochs; [`results/epoch-trend/report.md`](results/epoch-trend/report.md)):
{md_table(cell_rows({"epoch-trend": pwr.load_run(TREND)}).drop(columns=["regions", "r_half (%)"]))}
"""
