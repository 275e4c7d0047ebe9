"""The report of a ``paper-widths`` run: the paper's two Figure 5 claims on the cells they cover, the per-epoch
trends, the projection to the paper's epoch 50 and the cost (tables in, ``report.md`` and figures out).

**Which cells a claim covers.** Section 5.1.2: "the performance of most networks with *more than* 6 hidden
layers and *more than* 3,000 neurons in each layer decreases by more than 50 %, and networks with *more than*
9 hidden layers and *more than* 5,000 neurons ... drop to a mere 10 %". Read strictly, the first claim starts
at 7 × 4000 (7 × 3000 is its boundary) and the second at 10 × 6000. A verdict rests on the cells strictly
inside a region; boundary cells are reported beside it, never counted.

**Measured or projected.** The claims are about networks trained for the paper's 50 epochs. A cell that
reached epoch 50 is judged on its measured epoch-50 row; a cell short of it gets a provisional verdict: its
last measured row, and what the projection of its critical ratio to epoch 50 (``projection``: three forms,
bootstrap intervals, backtested on a run measured to epoch 50) says about reaching 0.002 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import figures
from empirical._io import write_text
from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.common.rundir import load_tables
from empirical.experiments.common.statistics import crossing, extrapolation, ols_hc3
from empirical.experiments.common.tables import load_grid_run as load_grid
from empirical.experiments.paper_widths import projection
from empirical.experiments.paper_widths.config import TABLES
from figures.paper_widths import accuracy_at_paper_ratio, critical_ratio_vs_epoch

PAPER_EPOCHS = 50  # Section 5.1.1: every network of Figure 5 is trained for 50 epochs
TOLERANCE_PP = 1.0  # sampling error of one accuracy on 10,000 test images is about 0.2–0.5 pp
# §5.1.1: "after 50 epochs of training, these FCNs achieve 98.6 % test accuracy on average"; a cell more than
# 5 pp below that is not yet the network the claim is about (13 × 8000 after one epoch: 65.6 %), so it is shown
# but not counted in a claim's verdict
PAPER_MEAN_ACC = 0.986
TRAINED_ACC = PAPER_MEAN_ACC - 0.05


CLAIMS = (
    # more than ``depth`` hidden layers and more than ``width`` neurons; ``target``: the critical-ratio level the
    # claim is about (0.5: "decreases by more than 50 %" is judged against half the original accuracy)
    dict(name="claim 1 (> 6 layers, > 3000 neurons: loses more than half)", depth=6, width=3000, target=0.5),
    dict(name="claim 2 (> 9 layers, > 5000 neurons: drops to about 10 %)", depth=9, width=5000, target=0.15),
)


def claim_region(h: int, w: int, claim: dict) -> str:
    """``inside`` (strictly more layers and more neurons than the claim names), ``boundary`` (one of the two
    numbers equal to the named one, the other beyond it: the paper's shorter phrase "beyond 6 layers and 3000
    neurons" may be read as including it), or ``outside``."""
    if h > claim["depth"] and w > claim["width"]:
        return "inside"
    if (h > claim["depth"] and w == claim["width"]) or (h == claim["depth"] and w > claim["width"]):
        return "boundary"
    return "outside"


EPOCH_COLUMNS = ("hidden_layers", "width", "seed", "epoch", "indicator", "ratio", "acc_original", "acc_extracted")
SCHEMAS = {
    "critical": ("hidden_layers", "width", "epoch", "target", "status"),
    "epoch_log": ("hidden_layers", "width", "epoch", "test_acc", "train_seconds", "eval_seconds"),
}


def load_run(run_dir) -> dict[str, pd.DataFrame]:
    """The top-level tables of a paper-widths run (``epochs.csv`` is required) and its ``config``."""
    return load_tables(run_dir, (*TABLES, "cells"), "epochs", "paper-widths", "paper-widths",
                       columns=EPOCH_COLUMNS, schemas=SCHEMAS)


def last_epochs(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per cell the ℓ1 row at 0.002 % of the last epoch reached, with the retained share of accuracy."""
    l1 = epochs[(epochs["indicator"] == "l1") & np.isclose(epochs["ratio"], PAPER_RATIO)]
    last = l1.sort_values("epoch").groupby(["hidden_layers", "width"]).tail(1).copy()
    last["retained"] = last["acc_extracted"] / last["acc_original"]
    return last.sort_values(["width", "hidden_layers"]).reset_index(drop=True)


def trend_rows(critical: pd.DataFrame, target: float = 0.5) -> pd.DataFrame:
    """Per cell: log10 of the critical ratio against the epoch (from epoch 2 on, the first epoch is far
    from converged), least squares with an HC3 interval; a negative slope means longer training makes the
    network *more* vulnerable (toward the paper's claim). ``epoch_at_paper_ratio`` (with Fieller's 95 %
    interval, nan where unbounded): the epoch at which the fitted line would reach the paper's 0.002 % —
    an extrapolation that assumes the log-linear trend holds beyond the epochs measured."""
    rows = []
    found = critical[(critical["status"] == "found") & (critical["target"] == target) & (critical["epoch"] >= 2)]
    for (h, w), g in found.groupby(["hidden_layers", "width"]):
        g = g.sort_values("epoch")
        row = dict(hidden_layers=h, width=w, target=target, epochs=len(g), first_epoch=int(g["epoch"].min()),
                   last_epoch=int(g["epoch"].max()), ratio_first=float(g["ratio"].iloc[0]),
                   ratio_last=float(g["ratio"].iloc[-1]))  # fmt: skip
        if len(g) >= 4:
            X = np.column_stack([np.ones(len(g)), g["epoch"].to_numpy(float)])
            fit = ols_hc3(X, np.log10(g["ratio"].to_numpy(float)), ["a", "slope"])
            lo, hi = fit.ci()[1]
            direction = "more vulnerable" if hi < 0 else "less vulnerable" if lo > 0 else "no clear trend"
            at, at_lo, at_hi = crossing(fit, np.log10(PAPER_RATIO))
            row.update(slope_per_epoch=float(fit.coef[1]), slope_ci_low=float(lo), slope_ci_high=float(hi),
                       direction=direction, epoch_at_paper_ratio=at if hi < 0 else float("nan"),
                       epoch_at_paper_ratio_low=at_lo, epoch_at_paper_ratio_high=at_hi)  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def series(critical: pd.DataFrame, target: float, first_epoch: int = 2) -> pd.DataFrame:
    """Per cell the found critical ratios from ``first_epoch`` on: columns ``hidden_layers, width, epoch, y``
    (y = log10 of the ratio as a fraction)."""
    c = critical[(critical["status"] == "found") & np.isclose(critical["target"], target)]
    c = c[c["epoch"] >= first_epoch]
    return c.assign(y=np.log10(c["ratio"].astype(float)))[["hidden_layers", "width", "epoch", "y"]]


def backtest_errors(backtest_run, target: float) -> pd.DataFrame:
    """Per form the error (decades) of a fit on epochs 2–18 predicting epoch 50, on a run measured to epoch 50
    (``results/epoch-trend``): one row per cell × form."""
    if backtest_run is None:
        return pd.DataFrame()
    s = series(load_run(backtest_run)["critical"], target)
    s = s.assign(cell=s["hidden_layers"].astype(str) + " × " + s["width"].astype(str))
    return projection.backtest(s, (2, 18), PAPER_EPOCHS)


def projection_rows(critical: pd.DataFrame, target: float, backtest=None, n_boot: int = 1000, bands=None):
    """For each cell short of epoch 50: each form's projected critical ratio at epoch 50 (%, with its 95 %
    block-bootstrap interval), ΔAIC, and the form's backtest error (mean and worst, decades). ``bands``: a list
    that receives each cell's per-epoch bands (ratios in %) for the figure."""
    rows = []
    s = series(critical, target)
    for (h, w), g in s.groupby(["hidden_layers", "width"]):
        if g["epoch"].max() >= PAPER_EPOCHS or len(g) < 5:
            continue
        g = g.sort_values("epoch")
        pr, band = projection.project(g["epoch"].to_numpy(), g["y"].to_numpy(), PAPER_EPOCHS, n_boot)
        if bands is not None and len(band):
            pct = {c: 100 * 10 ** band[c] for c in ("fit", "low", "high")}
            bands.append(band.assign(hidden_layers=h, width=w, target=target, **pct))
        for r in pr.itertuples():
            row = dict(hidden_layers=h, width=w, target=target, epochs=f"{g['epoch'].min()}-{g['epoch'].max()}",
                       form=r.form, ratio_at_50_pct=100 * 10**r.projected, low_pct=100 * 10**r.low,
                       high_pct=100 * 10**r.high, delta_aic=r.delta_aic)  # fmt: skip
            if backtest is not None and len(backtest):
                b = backtest[backtest["form"] == r.form]["error"]
                row.update(backtest_mean_error=float(b.mean()), backtest_worst_error=float(b.abs().max()))
            rows.append(row)
    return pd.DataFrame(rows)


def projection_sentence(rows: pd.DataFrame) -> str:
    """What every form agrees on for one cell's rows (``projection_rows``), as a sentence. Where backtest errors
    are known, a form counts as *decisive* when its 95 % bound is farther from 0.002 % (in decades) than the
    form's own worst backtest miss; forms that missed by more are named as uninformative."""
    ratio = PAPER_RATIO * 100
    agree = projection.agreement(rows.assign(low=rows["low_pct"], high=rows["high_pct"]), ratio)
    lo, hi = rows["low_pct"].min(), rows["high_pct"].max()
    if agree == "undecided":
        return f"the forms disagree on reaching 0.002 % by epoch 50 (95 % bounds span {lo:.3g}–{hi:.3g} %)"
    bound = rows["low_pct"] if agree == "none" else rows["high_pct"]
    gap = np.abs(np.log10(bound / ratio))
    head = (f"no fitted form reaches 0.002 % by epoch 50 (lowest 95 % bound {lo:.3g} %, {gap.min():.2f} decades above)"
            if agree == "none" else
            f"every fitted form reaches 0.002 % by epoch 50 (highest 95 % bound {hi:.3g} %)")  # fmt: skip
    if "backtest_worst_error" not in rows:
        return head + "; no backtest run given"
    decisive = rows["form"][gap > rows["backtest_worst_error"]].tolist()
    loose = [f"{r.form} (missed by up to {r.backtest_worst_error:.2f})" for r, g in zip(rows.itertuples(), gap)
             if not g > r.backtest_worst_error]  # fmt: skip
    return head + (f"; beyond their worst backtest miss for {', '.join(decisive)}" if decisive else
                   "; within every form's worst backtest miss: not decisive") + (
        f"; uninformative: {', '.join(loose)}" if loose and decisive else "")  # fmt: skip


def claim_verdicts(epochs: pd.DataFrame, critical: pd.DataFrame, backtests: dict | None = None,
                   projections: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per claim × covered cell: region (inside / boundary), the last measured row at 0.002 %, whether
    it meets the claim (locked accuracy at or below the claim's level, within ``TOLERANCE_PP``), and, short of
    epoch 50, the projection sentence of its critical ratio for the claim's level. ``backtests``: target →
    ``backtest_errors`` rows; ``projections``: ``projection_rows`` already computed (not bootstrapped again)."""
    last = last_epochs(epochs)
    rows = []
    for claim in CLAIMS:
        for r in last.itertuples():
            region = claim_region(r.hidden_layers, r.width, claim)
            if region == "outside":
                continue
            level = claim["target"] if claim["target"] < 0.5 else r.acc_original * 0.5
            meets = bool(100 * r.acc_extracted <= 100 * level + TOLERANCE_PP)
            row = dict(claim=claim["name"], cell=f"{r.hidden_layers} × {r.width}", region=region, epoch=int(r.epoch),
                       acc_original=r.acc_original, acc_at_paper_ratio=r.acc_extracted, level=level,
                       meets=meets, measured_at_50=bool(r.epoch >= PAPER_EPOCHS),
                       trained=bool(r.acc_original >= TRAINED_ACC), projection="")  # fmt: skip
            if r.epoch < PAPER_EPOCHS:
                if projections is not None and len(projections):
                    pr = projections[(projections.hidden_layers == r.hidden_layers) & (projections.width == r.width)
                                     & np.isclose(projections.target, claim["target"])]  # fmt: skip
                else:
                    pr = projection_rows(critical[(critical.hidden_layers == r.hidden_layers) &
                                                  (critical.width == r.width)], claim["target"],
                                         (backtests or {}).get(claim["target"]))  # fmt: skip
                row["projection"] = projection_sentence(pr) if len(pr) else "too few epochs to project"
            rows.append(row)
    return pd.DataFrame(rows)


def claim_summary(verdicts: pd.DataFrame) -> list[str]:
    """One line per claim: PASS / FAIL / MIXED on the trained cells strictly inside (test accuracy at least
    ``TRAINED_ACC``), measured at epoch 50 or provisional, or NOT TESTED where no trained cell inside has a row;
    undertrained cells inside are listed with their numbers, not counted."""
    lines = []
    for claim in CLAIMS:
        v = verdicts[verdicts["claim"] == claim["name"]] if len(verdicts) else verdicts
        inside_all = v[v["region"] == "inside"] if len(v) else v
        trained = inside_all["trained"] if "trained" in inside_all else pd.Series(True, index=inside_all.index)
        inside, under = inside_all[trained], inside_all[~trained]
        not_counted = "; ".join(
            f"{r.cell} at epoch {r.epoch}: {100 * r.acc_original:.2f} → {100 * r.acc_at_paper_ratio:.2f} %"
            for r in under.itertuples()
        )
        not_counted = (f"; not counted, undertrained (test accuracy below {100 * TRAINED_ACC:.1f} %, 5 pp under the "
                       f"paper's {100 * PAPER_MEAN_ACC:.1f} % mean): {not_counted}") if len(under) else ""  # fmt: skip
        if not len(inside):
            boundary = ", ".join(v[v["region"] == "boundary"]["cell"]) if len(v) else ""
            lines.append(f"{claim['name']}: **NOT TESTED** — no trained cell strictly inside (boundary cells: "
                         f"{boundary or 'none'}){not_counted}")  # fmt: skip
            continue
        meets = inside["meets"]
        verdict = (
            "PASS" if meets.all() else "FAIL" if not meets.any() else f"MIXED ({int(meets.sum())} of {len(meets)})"
        )
        short = inside[~inside["measured_at_50"]]
        if len(short):
            verdict += " so far (provisional: " + ", ".join(f"{r.cell} at epoch {r.epoch} of 50"
                                                            for r in short.itertuples()) + ")"  # fmt: skip
        cells = "; ".join(
            f"{r.cell}: {100 * r.acc_original:.2f} → {100 * r.acc_at_paper_ratio:.2f} % at epoch {r.epoch}"
            + (f" ({r.projection})" if r.projection else "")
            for r in inside.itertuples()
        )
        lines.append(f"{claim['name']}: **{verdict}** — {cells}{not_counted}")
    return lines


def extrapolation_section(crit: pd.DataFrame, grid_run, target: float = 0.5) -> list[str]:
    """Candidate laws for the critical ratio fitted on a grid run (e.g. ``results/cpu``), scored on the cells
    measured here (their last epoch with a found ratio)."""

    g = load_grid(grid_run)["critical_ratios"]
    g = g[(g["target"] == target) & (g["status"] == "found")]
    train_cells = g.groupby(["hidden_layers", "width"], as_index=False)["ratio"].mean()
    here = crit[(crit["target"] == target) & (crit["status"] == "found")].sort_values("epoch")
    test = here.groupby(["hidden_layers", "width"], as_index=False).tail(1)[
        ["hidden_layers", "width", "ratio", "epoch"]
    ]
    if not len(train_cells) or not len(test):
        return []
    for df in (train_cells, test):
        df["log10_ratio"] = np.log10(df["ratio"])
    ex = extrapolation(train_cells, test.reset_index(drop=True), "log10_ratio")
    score = (
        ex.assign(abs_error=ex["error"].abs())
        .groupby("form", as_index=False)
        .agg(aic_on_grid=("aic_train", "first"), max_abs_error_decades=("abs_error", "max"),
             mean_error_decades=("error", "mean"))
        .sort_values("max_abs_error_decades")
    )  # fmt: skip
    ruled_out = score[score["max_abs_error_decades"] > 1.0]["form"].tolist()
    return [
        f"## Extrapolating the critical ratio ({target:.0%}) from `{Path(grid_run).name}` to the widths measured here",
        "",
        "Each form is fitted on the grid's cells (log10 of the critical ratio, least squares) and predicts the cells "
        "measured here at their last epoch (which are trained longer than the grid's cells: read the errors as "
        "including that difference).",
        "",
        md_table(score),
        "",
        md_table(ex),
        "",
        "Forms off by more than one decade on some measured cell: "
        + (", ".join(ruled_out) if ruled_out else "none")
        + ".",
        "",
    ]


def write_report(run_dir, grid_run=None, backtest_run=None) -> Path:
    """``report.md`` and ``figures/`` of a paper-widths run, from its tables (a partial run included).
    ``grid_run``: also extrapolate the grid's critical-ratio laws to the cells measured here; ``backtest_run``:
    a run measured to epoch 50 (``results/epoch-trend``) that scores the projection forms."""

    run_dir = Path(run_dir)
    t = load_run(run_dir)
    cfg, cells, epochs, crit, elog = t["config"], t["cells"], t["epochs"], t["critical"], t["epoch_log"]
    name = cfg.get("preset", run_dir.name)
    targets = sorted(crit["target"].unique(), reverse=True) if len(crit) else []
    backtests = {tg: backtest_errors(backtest_run, tg) for tg in targets}
    bands: list[pd.DataFrame] = []
    projections = pd.concat([projection_rows(crit, tg, backtests[tg], bands=bands) for tg in targets]
                            or [pd.DataFrame()], ignore_index=True)  # fmt: skip
    bands = pd.concat(bands, ignore_index=True) if bands else pd.DataFrame()
    paths = [
        figures.save(accuracy_at_paper_ratio(epochs, f"{name}: ℓ1 at the paper's 0.002 %"),
                     run_dir / "figures" / "accuracy_at_paper_ratio.png"),
        figures.save(critical_ratio_vs_epoch(crit, f"{name}: critical ℓ1 ratio vs epoch (projections to epoch 50)",
                                             bands, PAPER_EPOCHS),
                     run_dir / "figures" / "critical_ratio_vs_epoch.png"),
    ]  # fmt: skip
    last = last_epochs(epochs)
    verdicts = claim_verdicts(epochs, crit, backtests, projections)
    parts = [
        f"# Figure 5 at the paper's own widths, epoch by epoch ({name})",
        "",
        f"MNIST, Adam lr {cfg.get('lr')}, batch {cfg.get('batch_size')}, {cfg.get('precision')}, "
        f"seed {cfg.get('seed')}; "
        "after every epoch the ℓ1 accuracy at the paper's 0.002 % of the candidate weights (W⁽²⁾..W⁽ᴴ⁾) and the "
        "critical ratios for 50 % and chance + 5 pp on the whole test set; the full sweep over "
        f"{len(cfg.get('ratios', []))} ratios every {cfg.get('sweep_every', 1)} epochs (and the first and last), the "
        f"random baseline ({cfg.get('random_seeds')} seed(s)) every {cfg.get('random_every')}.",
        "",
        "## Cells",
        "",
        md_table(cells) if len(cells) else "(none yet)",
        "",
        "## The paper's claims at the widths measured",
        "",
        'Section 5.1.2: "the performance of most networks with more than 6 hidden layers and more than 3,000 '
        "neurons in each layer decreases by more than 50 %, and networks with more than 9 hidden layers and more "
        'than 5,000 neurons ... drop to a mere 10 %", with 0.002 % of the weights extracted by ℓ1 after 50 epochs '
        "of training. Read strictly, claim 1 starts at 7 × 4000 and claim 2 at 10 × 6000; the verdict counts only "
        "cells strictly inside (boundary cells such as 7 × 3000 are listed, not counted). A cell meets claim 1 when "
        f"its locked accuracy is at most half its original, claim 2 when it is at most 15 % (chance + 5 pp), each "
        f"within {TOLERANCE_PP} pp. Short of epoch 50 the verdict is provisional and the projection of the "
        "critical ratio to epoch 50 is given beside it.",
        "",
        *[f"* {line}" for line in claim_summary(verdicts)],
        "",
        md_table(verdicts) if len(verdicts) else "(no covered cell measured yet)",
        "",
        "Every cell at the last epoch reached (ℓ1, 0.002 %):",
        "",
        md_table(
            last[
                [
                    "hidden_layers",
                    "width",
                    "epoch",
                    "n_extracted",
                    "acc_original",
                    "acc_extracted",
                    "acc_drop",
                    "retained",
                ]
            ]
        )
        if len(last)
        else "(none yet)",  # fmt: skip
        "",
    ]
    for target in targets:
        tr = trend_rows(crit, target)
        shown = [c for c in tr.columns if not c.startswith("epoch_at_paper_ratio")]
        pr = projections[projections["target"] == target] if len(projections) else projections
        parts += [
            f"## Critical ratio for accuracy <= {target:.0%} against the epoch",
            "",
            "log10(critical ratio) = a + slope·epoch from epoch 2 on, least squares with an HC3 95 % interval; a "
            "negative slope means training longer makes the network *more* vulnerable (toward the paper's claim).",
            "",
            md_table(tr[shown]) if len(tr) else "(fewer than 4 epochs with a found ratio)",
            "",
            f"### Projected to epoch {PAPER_EPOCHS}",
            "",
            "Each form (" + ", ".join(projection.FORMS) + "; `empirical.experiments.paper_widths.projection`) fitted to log10 r "
            "from epoch 2 on; the 95 % interval from a moving-block bootstrap of the residuals (blocks of 3 epochs, "
            "1000 replicates, the form refitted each time); ΔAIC against the best form; the backtest error is the "
            "form fitted on epochs 2–18 of "
            + (f"`{Path(backtest_run).name}`" if backtest_run else "a run measured to epoch 50 (none given)")
            + " predicting its measured epoch 50 (decades, predicted − measured; negative: the form projected a "
            "more vulnerable network than training gave).",
            "",
            md_table(pr) if len(pr) else "(no cell short of epoch 50 with at least 5 found epochs)",
            "",
        ]
        bt = backtests[target]
        if len(bt):
            parts += [f"Backtest on `{Path(backtest_run).name}` ({target:.0%}):", "", md_table(bt), ""]
    if len(elog):
        elog = elog.assign(host=elog["host"].fillna("unrecorded") if "host" in elog else "unrecorded")
        kinds = lambda s: ", ".join(sorted({str(v) for v in s}))  # noqa: E731
        per = elog.groupby(["hidden_layers", "width"]).agg(
            epochs=("epoch", "max"), train_s_per_epoch=("train_seconds", "median"),
            eval_s_per_epoch=("eval_seconds", "median"), peak_rss_gib=("peak_rss_gib", "max"),
            final_loss=("loss", "last"), final_test_acc=("test_acc", "last"), device=("device", kinds),
            torch_threads=("torch_threads", kinds), host=("host", kinds),
        ).reset_index()  # fmt: skip
        parts += ["## Training and evaluation cost, and the machine each cell ran on", "",
                  "Seconds are medians over the cell's epochs; the host is the CPU model (recorded since 2026-12-07; "
                  "floats differ between CPU vendors, so a cell retrained on another kind of host does not reproduce "
                  "its rows bit for bit).", "", md_table(per), ""]  # fmt: skip
    if grid_run is not None and len(crit):
        parts += extrapolation_section(crit, grid_run)
    parts += ["## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in paths] + [""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path
