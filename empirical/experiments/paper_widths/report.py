"""The report of a ``paper-widths`` run (tables in, ``report.md`` and figures out): the paper's two Figure 5 claims
on the cells measured (``claims``: one threshold per claim, the region's count behind each verdict), the critical
ratios against the epoch, their projection to epoch 50 where a cell is short of it, the rerun noise, the
backtests, and what training and evaluation cost.

**Projections that agree with each other.** The critical ratio for claim 1's level (half the original; runs
written before that criterion existed: 50 %) and the one for chance + 5 pp are projected together
(``projection.project_pair``), so the second never falls below the first; the forms are compared by AICc; every
interval is widened by the rerun noise measured on cells trained twice; and "no form reaches 0.002 %" is said only
where no widened interval reaches it.
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
from empirical.experiments.common.statistics import crossing, ols_hc3
from empirical.experiments.common.tables import load_grid_run
from empirical.experiments.paper_widths import projection
from empirical.experiments.paper_widths.claims import (
    CLAIMS,
    PAPER_EPOCHS,
    TOLERANCE_PP,
    last_rows,
    measured_cells,
    verdict_rows,
)
from empirical.experiments.paper_widths.config import HALF, TABLES, cell_name, criterion
from empirical.experiments.paper_widths.cost import EVAL_BUDGET, by_mode, eval_share
from empirical.experiments.paper_widths.extrapolate import extrapolation_section
from empirical.experiments.paper_widths.reruns import rerun_differences, rerun_noise
from figures.paper_widths import accuracy_at_paper_ratio, critical_ratio_vs_epoch, paper_grid, with_criterion

EPOCH_COLUMNS = ("hidden_layers", "width", "seed", "epoch", "indicator", "ratio", "acc_original", "acc_extracted")
SCHEMAS = {
    "critical": ("hidden_layers", "width", "epoch", "target", "status"),
    "epoch_log": ("hidden_layers", "width", "epoch", "test_acc", "train_seconds", "eval_seconds"),
}


def load_run(run_dir) -> dict[str, pd.DataFrame]:
    """The top-level tables of a paper-widths run (``epochs.csv`` is required), validated, and its ``config``;
    ``critical`` carries a ``criterion`` column (``half`` or the accuracy level)."""
    t = load_tables(
        run_dir, (*TABLES, "cells"), "epochs", "paper-widths", "paper-widths", columns=EPOCH_COLUMNS, schemas=SCHEMAS
    )
    if len(t["critical"]):
        t["critical"] = with_criterion(t["critical"])
    return t


def high_criterion(critical: pd.DataFrame) -> str:
    """Claim 1's criterion as the run searched it: ``half``, or 50 % in runs written before ``half`` existed."""
    return HALF if len(critical) and (critical["criterion"] == HALF).any() else "0.5"


def series(critical: pd.DataFrame, crit: str, first_epoch: int = 2) -> pd.DataFrame:
    """Per cell the found critical ratios of criterion ``crit`` from ``first_epoch`` on: ``hidden_layers, width,
    epoch, y`` (y = log10 of the ratio as a fraction)."""
    c = critical[(critical["status"] == "found") & (critical["criterion"] == crit) & (critical["epoch"] >= first_epoch)]
    return c.assign(y=np.log10(c["ratio"].astype(float)))[["hidden_layers", "width", "epoch", "y"]]


def trend_rows(critical: pd.DataFrame, crit: str) -> pd.DataFrame:
    """Per cell: log10 of the critical ratio against the epoch from epoch 2 on, least squares with an HC3 interval
    (a negative slope: training longer makes the network *more* vulnerable, toward the paper's claim)."""
    rows = []
    for (h, w), g in series(critical, crit).groupby(["hidden_layers", "width"]):
        g = g.sort_values("epoch")
        row = dict(
            hidden_layers=h,
            width=w,
            criterion=crit,
            epochs=len(g),
            first_epoch=int(g["epoch"].min()),
            last_epoch=int(g["epoch"].max()),
            ratio_first=float(10 ** g["y"].iloc[0]),
            ratio_last=float(10 ** g["y"].iloc[-1]),
        )
        if len(g) >= 4:
            X = np.column_stack([np.ones(len(g)), g["epoch"].to_numpy(float)])
            fit = ols_hc3(X, g["y"].to_numpy(float), ["a", "slope"])
            lo, hi = fit.ci()[1]
            direction = "more vulnerable" if hi < 0 else "less vulnerable" if lo > 0 else "no clear trend"
            at, at_lo, at_hi = crossing(fit, np.log10(PAPER_RATIO))
            row.update(
                slope_per_epoch=float(fit.coef[1]),
                slope_ci_low=float(lo),
                slope_ci_high=float(hi),
                direction=direction,
                epoch_at_paper_ratio=at if hi < 0 else float("nan"),
            )
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- projections
def projection_rows(critical: pd.DataFrame, noise: float = 0.0, n_boot: int = 1000, bands=None) -> pd.DataFrame:
    """For each cell short of epoch 50 with at least 5 found epochs: claim 1's critical ratio and chance + 5 pp's
    projected together to epoch 50 under each form (% of the candidates, 95 % bootstrap interval widened by
    ``noise`` decades, ΔAICc). ``bands``: a list that receives the per-epoch bands (ratios in %) for the figure."""
    hi_c = high_criterion(critical)
    rows = []
    for (h, w), g in series(critical, hi_c).groupby(["hidden_layers", "width"]):
        if g["epoch"].max() >= PAPER_EPOCHS or len(g) < 5:
            continue
        g = g.sort_values("epoch")
        low = series(critical, "0.15")
        low = low[(low.hidden_layers == h) & (low.width == w)].sort_values("epoch")
        pr, band = projection.project_pair(g["epoch"], g["y"], low["epoch"], low["y"], PAPER_EPOCHS, n_boot)
        pr = projection.widen(pr, noise)
        names = {"high": hi_c, "low": "0.15"}
        if bands is not None and len(band):
            band = projection.widen(band, noise)
            pct = {c: 100 * 10 ** band[c] for c in ("fit", "low", "high")}
            bands.append(band.assign(hidden_layers=h, width=w, criterion=band["series"].map(names), **pct))
        for r in pr.itertuples():
            rows.append(
                dict(
                    hidden_layers=h,
                    width=w,
                    criterion=names[r.series],
                    epochs=f"{g['epoch'].min()}-{g['epoch'].max()}",
                    form=r.form,
                    ratio_at_50_pct=100 * 10**r.projected,
                    low_pct=100 * 10**r.low,
                    high_pct=100 * 10**r.high,
                    delta_aicc=r.delta_aicc,
                )
            )
    return pd.DataFrame(rows)


def projection_sentence(rows: pd.DataFrame) -> str:
    """What every form agrees on for one cell and criterion: ``no form reaches 0.002 %`` only where no (widened)
    interval reaches it, ``every form reaches it`` only where every interval lies below it, else undecided."""
    agree = projection.agreement(rows.assign(low=rows["low_pct"], high=rows["high_pct"]), PAPER_RATIO * 100)
    lo, hi = rows["low_pct"].min(), rows["high_pct"].max()
    if agree == "none":
        return f"no form reaches 0.002 % by epoch 50 (lowest 95 % bound {lo:.3g} %, rerun noise included)"
    if agree == "all":
        return f"every form reaches 0.002 % by epoch 50 (highest 95 % bound {hi:.3g} %, rerun noise included)"
    top = f"{hi:.3g} %" if hi <= 100 else "beyond 100 % (the forms are unbounded in log r; a ratio stops at 100 %)"
    return f"undecided: the 95 % intervals span {lo:.3g} % to {top}, 0.002 % inside (rerun noise included)"


def paper_backtests(runs: dict[str, dict], trend=None, windows=((2, 13), (2, 18))) -> pd.DataFrame:
    """Each form's backtest on the paper-width cells themselves — a cell short of epoch 50 with at least 18 epochs
    fitted on epochs 2–9 predicting 10–18, a cell measured to epoch 50 fitted on epochs 2–13 predicting 50 — and,
    with ``trend`` (the epoch-trend run's tables, measured to 50), on its cells fitted on each of ``windows`` (the
    windows of the cells projected) predicting 50. Errors in decades (predicted − measured)."""
    out = []
    for name, t in [*runs.items(), *([("epoch-trend", trend)] if trend is not None else [])]:
        crit = t["critical"]
        for crit_name in sorted(set(crit["criterion"])) if len(crit) else ():
            s = series(crit, crit_name)
            s = s.assign(cell=s["hidden_layers"].astype(str) + " × " + s["width"].astype(str))
            for _, g in s.groupby("cell"):
                last = int(g["epoch"].max())
                if name == "epoch-trend":
                    fits = [(w, PAPER_EPOCHS) for w in windows]
                else:
                    fits = ([((2, 13), PAPER_EPOCHS)] if last >= PAPER_EPOCHS else []) + (
                        [((2, 9), (10, 18))] if 18 <= last < PAPER_EPOCHS else []
                    )
                for fit_epochs, horizon in fits:
                    bt = projection.backtest(g, fit_epochs, horizon)
                    if len(bt):
                        out.append(bt.assign(run=name, criterion=crit_name))
    if not out:
        return pd.DataFrame()
    bt = pd.concat(out, ignore_index=True)
    return (
        bt.assign(abs_error=bt["error"].abs())
        .groupby(["run", "cell", "criterion", "fit_epochs", "form"], as_index=False)
        .agg(
            predicted_epochs=("epoch", lambda e: f"{e.min()}-{e.max()}" if e.min() != e.max() else str(e.min())),
            mean_error=("error", "mean"),
            worst_error=("abs_error", "max"),
        )
    )


# ------------------------------------------------------------------------------------------ report
def projection_section(projections, backtests, diffs, noise: float) -> list[str]:
    """The report's projections to epoch 50, the backtests and the rerun noise."""
    return [
        f"## Projected to epoch {PAPER_EPOCHS}",
        "",
        f"Claim 1's ratio and chance + 5 pp's are projected together (`projection.project_pair`: the second is the "
        f"first plus a gap ≥ 0, so it never falls below it); forms: {', '.join(projection.FORMS)}; 95 % intervals "
        f"from a moving-block bootstrap, widened by the rerun noise ({noise:.2f} decades, below); ΔAICc within each "
        "series.",
        "",
        md_table(projections) if len(projections) else "(no cell short of epoch 50 with at least 5 found epochs)",
        "",
        "### Backtests on the paper-width cells",
        "",
        "Each form fitted on a cell's early epochs predicting its later measured ones (decades, predicted − measured; "
        "negative: the form projected a more vulnerable network than training gave).",
        "",
        md_table(backtests) if len(backtests) else "(no cell measured long enough to backtest)",
        "",
        "### Rerun noise",
        "",
        (
            md_table(
                diffs.groupby(["cell", "source", "quantity", "unit"], as_index=False)["difference"].agg(
                    epochs="count", largest=lambda d: d.abs().max(), mean="mean"
                )
            )
            if len(diffs)
            else "(no cell trained twice in this run)"
        ),
        "",
    ]


def trend_sections(crit: pd.DataFrame) -> list[str]:
    """One section per criterion: the critical ratio against the epoch, with its slope per epoch."""
    parts: list[str] = []
    for crit_name in sorted(set(crit["criterion"]), key=lambda c: (c != HALF, c)) if len(crit) else ():
        tr = trend_rows(crit, crit_name)
        label = "half the original accuracy" if crit_name == HALF else f"accuracy <= {float(crit_name):.0%}"
        parts += [
            f"## Critical ratio for {label} against the epoch",
            "",
            md_table(tr) if len(tr) else "(fewer than 4 epochs with a found ratio)",
            "",
        ]
    return parts


def save_figures(run_dir: Path, name: str, epochs, crit, bands, measured) -> list[Path]:
    """The report's three figures: accuracy at 0.002 % per epoch, the critical ratio with its projections, and
    Figure 5 at the paper's grid."""
    return [
        figures.save(
            accuracy_at_paper_ratio(epochs, f"{name}: ℓ1 at the paper's 0.002 %"),
            run_dir / "figures" / "accuracy_at_paper_ratio.png",
        ),
        figures.save(
            critical_ratio_vs_epoch(
                crit, f"{name}: critical ℓ1 ratio vs epoch (projections to epoch 50)", bands, PAPER_EPOCHS
            ),
            run_dir / "figures" / "critical_ratio_vs_epoch.png",
        ),
        figures.save(
            paper_grid(
                measured,
                [(c["name"], c["depth"], c["width"]) for c in CLAIMS],
                f"{name}: Figure 5 at the paper's grid, drop at 0.002 % (pp) and epoch reached",
            ),
            run_dir / "figures" / "paper_grid.png",
        ),
    ]


def runs_of(run_dir, earlier_run=None) -> dict[str, dict]:
    """The run's tables by its preset's name, and the earlier run's beside them."""
    t = load_run(run_dir)
    tables = {t["config"].get("preset", Path(run_dir).name): t}
    if earlier_run is not None:
        other = load_run(earlier_run)
        tables[other["config"].get("preset", Path(earlier_run).name)] = other
    return tables


def verdicts(run_dir, earlier_run=None) -> pd.DataFrame:
    """Figure 5's two claims at the paper's widths on the cells measured in ``run_dir`` (and ``earlier_run``: the
    furthest-trained row of a cell wins), as the common verdict rows (``claims.verdict_rows``)."""
    return verdict_rows(measured_cells(runs_of(run_dir, earlier_run)))


def write_report(run_dir, grid_run=None, backtest_run=None, earlier_run=None) -> Path:
    """``report.md`` and ``figures/`` of a paper-widths run, from its tables (a partial run included). ``grid_run``:
    also extrapolate the grid's critical-ratio laws to the cells measured here; ``backtest_run``: a run measured to
    epoch 50 (``results/epoch-trend``) whose cells backtest the projection forms; ``earlier_run``: another
    paper-widths run whose cells join the claims and the grid figure and give the rerun noise where a cell was
    trained in both."""
    run_dir = Path(run_dir)
    tables = runs_of(run_dir, earlier_run)
    name, t = next(iter(tables.items()))
    cfg, cells, epochs, crit, elog = t["config"], t["cells"], t["epochs"], t["critical"], t["epoch_log"]
    runs = dict(zip(tables, (run_dir, Path(earlier_run or run_dir))))
    diffs = rerun_differences(runs)
    noise = rerun_noise(diffs)
    bands: list[pd.DataFrame] = []
    projections = projection_rows(crit, noise, bands=bands) if len(crit) else pd.DataFrame()
    bands = pd.concat(bands, ignore_index=True) if bands else pd.DataFrame()
    measured = measured_cells(tables)
    trend = load_run(backtest_run) if backtest_run is not None else None
    backtests = paper_backtests(tables, trend)
    paths = save_figures(run_dir, name, epochs, crit, bands, measured)
    last = last_rows(epochs)
    parts = [
        f"# Figure 5 at the paper's own widths, epoch by epoch ({name})",
        "",
        f"MNIST, Adam lr {cfg.get('lr')}, batch {cfg.get('batch_size')}, {cfg.get('precision')} (TF32 off on a GPU), "
        f"seed {cfg.get('seed')}; after every epoch the ℓ1 accuracy at the paper's 0.002 % of the candidate weights "
        f"(W⁽²⁾..W⁽ᴴ⁾) and the critical ratios ({', '.join(map(criterion, cfg.get('targets', [])))}) on the whole "
        f"test set; the full sweep over {len(cfg.get('ratios', []))} ratios every {cfg.get('sweep_every', 1)} epochs, "
        f"the random baseline every {cfg.get('random_every')}"
        + (
            f"; the search for {criterion(cfg['targets'][1])} every {cfg['target_every'][1]} epochs and every epoch "
            f"from {cfg.get('dense_from')} on"
            if cfg.get("target_every")
            else ""
        )
        + ".",
        "",
        "## Cells",
        "",
        md_table(cells) if len(cells) else "(none yet)",
        "",
        "## The paper's claims on the cells measured here"
        + (f" and in `{Path(earlier_run).name}`" if earlier_run is not None else ""),
        "",
        f"A cell meets claim 1 when its locked accuracy at 0.002 % is at most half its original, claim 2 when it is "
        f"at most 15 % (chance + 5 pp), each within {TOLERANCE_PP} pp; it counts only at epoch {PAPER_EPOCHS}. A "
        "claim about *most* of its region is PASS only when the cells that meet it are more than half of the region, "
        "FAIL only when the cells that do not are at least half, else NOT DECIDED (`paper_widths.claims`).",
        "",
        md_table(verdict_rows(measured)),
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
        else "(none yet)",
        "",
    ]
    parts += trend_sections(crit)
    parts += projection_section(projections, backtests, diffs, noise)
    if len(elog):
        share = eval_share(elog)
        parts += [
            "## Training and evaluation cost",
            "",
            f"Evaluation's share of training time, against a budget of {EVAL_BUDGET:.0%}, and the epochs that ran "
            "with denormals kept or flushed (the epoch log has every epoch's seconds, threads, denormals and host):",
            "",
            md_table(share),
            "",
            "Per denormal mode (training on the CPU has flushed them since the epoch log began to record the mode: "
            "the same weights, a faster Adam step; the evaluation's cadence is fixed by the configuration, so its "
            "share of the shorter epochs grows):",
            "",
            md_table(by_mode(elog)),
            "",
        ]
    if grid_run is not None and len(crit):
        parts += extrapolation_section(crit, load_grid_run(grid_run))
    parts += ["## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in paths] + [""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path


__all__ = ["cell_name", "write_report"]
