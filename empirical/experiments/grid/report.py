"""The report of a grid run: one verdict per claim of the paper, figures, the errata table.

``claims(run_dir)`` returns one row per claim — Properties 1–6, Lemmas 2 and 4, Theorems 1–4,
Figure 5's trends, Table 1 / Table 5 — with a verdict, the numbers behind it and the tolerance
used. Verdicts: PASS, FAIL, VACUOUS (a probability outside (0, 1)), INCONCLUSIVE (an interval
that straddles 0), NOT TESTED (the claim is about conv layers; FCN grids cannot test it), INFO.
Tolerances: deterministic inequalities use the measurement's float tolerance (already applied
per sample by ``empirical.measure.fcn``); Monte-Carlo checks use 2 standard errors of the estimate;
trends use a 95 % bootstrap interval over cells.

``write_figures`` and ``write_report`` write ``figures/*.png`` and ``report.md`` atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

import bounds
import figures
from empirical._io import write_text
from empirical.errors import UserError
from empirical.experiments.common import statistics
from empirical.experiments.common.bound_claims import (
    _lemma2_rows,
    _lemma4_row,
    _pct,
    _row,
    conv_claims,
    property_claims,
    theorem1_claims,
    theorem23_claims,
)
from empirical.experiments.common.markdown import heat_text, md_table
from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.common.tables import load_grid_run
from empirical.experiments.common.verdicts import section, table
from empirical.experiments.grid import analysis
from empirical.experiments.grid.trends import DROP_MARGIN, trend_claims
from empirical.lock.ratio import check_ratio

PAPER_MEAN_ACCURACY = 0.986  # Section 5.1.1: mean test accuracy of the 80 trained FCNs
UNDERTRAINED = 0.9  # a grid whose mean test accuracy is below this gets a warning in its report


load_run = load_grid_run  # the grid run's tables, validated (common.tables: another experiment reads them too)


RESULT_COLUMNS = ("hidden_layers", "width", "seed", "indicator", "ratio", "acc_original", "acc_extracted")


def figure5_claims(res: pd.DataFrame, crit: pd.DataFrame, n_boot: int = 2000, train_log=None) -> list[dict]:
    """Section 5.1.1's accuracy, Figure 5's trends, ℓ1 vs random (Table 1) and monotonicity (Table 5)."""
    rows = []
    unstable = statistics.unstable_cells(train_log) if train_log is not None and len(train_log) else pd.DataFrame()
    if len(unstable):
        rows.append(
            _row(
                "training runs whose final loss or accuracy path is an outlier (flagged)",
                "Section 5.1.1",
                "INFO",
                "; ".join(f"{r.hidden_layers} × {r.width}: {r.reason}" for r in unstable.itertuples()),
                "loss > 2.5 × depth median, or > 5 pp over the last 7 epochs",
            )
        )
    l1 = res[res["indicator"] == "l1"]
    acc0 = l1.groupby(["hidden_layers", "width", "seed"])["acc_original"].first()
    rows.append(
        _row(
            "mean test accuracy of the trained networks (paper: 98.6 % after 50 epochs)",
            "Section 5.1.1",
            "INFO",
            f"{acc0.mean():.4f} (min {acc0.min():.4f}, max {acc0.max():.4f}) over {len(acc0)} networks",
        )
    )
    paper = closest_ratio(res, PAPER_RATIO)  # the paper's 0.002 %, or the closest ratio a custom list has
    cells_paper = analysis.cell_table(res, paper)
    clear = analysis.clearest_ratio(res)
    cells_clear = analysis.cell_table(res, clear)
    statements = [
        (
            f"ratio {_pct(paper)} (Figure 5's)"
            if paper == PAPER_RATIO
            else f"ratio {_pct(paper)} (closest to Figure 5's)",
            cells_paper,
        ),
        (f"ratio {_pct(clear)} (clearest)", cells_clear),
    ]
    crit50 = crit[(crit["target"] == 0.5) & (crit["status"] == "found")] if len(crit) else crit
    if len(crit50):
        c = crit50.groupby(["hidden_layers", "width"], as_index=False)["ratio"].mean()
        c["neg_log_critical"] = -np.log10(c["ratio"])
        statements.append(("−log₁₀ critical ratio for 50 % accuracy", c))
    for label, cells in statements:
        value = "neg_log_critical" if "neg_log_critical" in cells else "acc_drop"
        rows += trend_claims(
            label, cells, value, n_boot, unstable, None if value == "neg_log_critical" else DROP_MARGIN
        )
    rnd = res[res["indicator"] == "random"]
    if len(rnd):
        m_l1 = l1.groupby("ratio")["acc_drop"].mean()
        m_rn = rnd.groupby("ratio")["acc_drop"].mean()
        better = (m_l1 >= m_rn - 1e-12).mean()
        rows.append(
            _row(
                "ℓ1 extraction hurts more than random extraction of as many weights",
                "Table 1",
                "PASS" if better == 1 else "FAIL",
                f"mean drop ℓ1 vs random at the largest ratio {_pct(m_l1.index.max())}: "
                f"{100 * m_l1.iloc[-1]:.1f} vs {100 * m_rn.iloc[-1]:.1f} pp; ℓ1 ahead at {better:.0%} of the ratios",
            )
        )
    mono = (
        l1.sort_values("ratio")
        .groupby(["hidden_layers", "width", "seed"])["acc_extracted"]
        .apply(lambda a: bool(np.all(np.diff(a.to_numpy()) <= 0.005)))
    )
    strict = (
        l1.sort_values("ratio")
        .groupby(["hidden_layers", "width", "seed"])["acc_extracted"]
        .apply(lambda a: bool(np.all(np.diff(a.to_numpy()) <= 0)))
    )
    rows.append(
        _row(
            "accuracy falls smoothly (non-increasing) as the ratio grows",
            "Table 5 / Figure 6",
            "PASS" if mono.all() else "FAIL",
            f"{mono.mean():.0%} of {len(mono)} networks non-increasing over the ratio list within 0.5 pp "
            f"({strict.mean():.0%} strictly, with no tolerance)",
            "0.5 pp (a rise of at most 0.5 pp between consecutive ratios counts as non-increasing)",
        )
    )
    return rows


def claims(run_dir, n_boot: int = 2000, conv_checks: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim of the paper, checked on the grid run in ``run_dir`` (see the module doc);
    the conv-layer claims on ``conv_checks`` (a Table 1 run's ``bounds_checks.csv``) when given."""
    t = load_run(run_dir)
    rng = np.random.default_rng(0)
    rows = property_claims(t["bounds_checks"])
    rows += conv_claims(conv_checks)
    rows.append(_lemma4_row(rng))
    rows += _lemma2_rows(rng)
    rows += theorem1_claims(t["theorem1_mc"])
    rows += theorem23_claims(t["bounds_checks"])
    rows += figure5_claims(t["results"], t["critical_ratios"], n_boot, t["train_log"])
    return pd.DataFrame(rows)


def verdicts(run_dir, n_boot: int = 2000) -> pd.DataFrame:
    """The grid's verdict rows (``claims``) with the scope each speaks for: the run's networks, epochs and seeds."""
    cfg = load_run(run_dir)["config"]
    widths, depths, seeds = cfg.get("widths", []), cfg.get("hidden_layers", []), cfg.get("seeds", [0])
    n = len(widths) * len(depths)
    scope = (
        f"`{cfg.get('preset')}` grid: {n} MNIST FCNs, widths {min(widths)}–{max(widths)} × {min(depths)}–"
        f"{max(depths)} hidden layers, {cfg.get('epochs')} epochs, "
        + ("one seed per cell" if len(seeds) == 1 else f"{len(seeds)} seeds per cell")
    )
    cl = claims(run_dir, n_boot=n_boot)
    return table([{**r, "scope": scope} for r in cl.to_dict("records")])


# ------------------------------------------------------------------------------------------- files
def closest_ratio(res: pd.DataFrame, ratio: float) -> float:
    """The ratio of the run's list closest to ``ratio`` in log scale (the paper's 0.002 % when present)."""
    have = np.array(sorted(res["ratio"].unique()), dtype=float)
    return float(have[np.argmin(np.abs(np.log(have) - math.log(ratio)))])


def ratio_label(r: float) -> str:
    """How a figure names the ratio it shows: the paper's own, or near it (within a factor of 2), or neither."""
    if r == PAPER_RATIO:
        return f"{_pct(r)} (the paper's)"
    if 0.5 <= r / PAPER_RATIO <= 2:
        return f"{_pct(r)} (near the paper's 0.002 %)"
    return _pct(r)


def write_figures(
    run_dir, ratio: float | None = None, fmt: str = "png", vmax: float = 100.0, notes: list | None = None
) -> list[Path]:
    """Draw every figure of a grid run into ``run_dir/figures``; returns the paths. ``ratio``: also Figure 5
    at that ratio, or at the closest one of the run's list (a line in ``notes`` says which); ``vmax``: the drop
    map's fixed scale in pp."""
    if ratio is not None:
        check_ratio(ratio)
    run_dir = Path(run_dir)
    t = load_run(run_dir)
    res, crit, disp, mc = t["results"], t["critical_ratios"], t["disparities"], t["theorem1_mc"]
    out = run_dir / "figures"
    paths = []
    clear = analysis.clearest_ratio(res)
    paper = closest_ratio(res, PAPER_RATIO)
    todo = [(paper, "figure5_paper_ratio"), (clear, "figure5_clearest_ratio")]
    if ratio is not None:
        r = closest_ratio(res, ratio)
        if r != ratio and notes is not None:
            notes.append(f"--ratio {ratio:g} is not in the run; Figure 5 drawn at its closest ratio, {r:g}")
        todo.append((r, f"figure5_ratio_{r:g}"))
    for r, stem in todo:
        fig = figures.figure5(analysis.cell_table(res, r), ratio_label(r), vmax=vmax)
        paths.append(figures.save(fig, out / f"{stem}.{fmt}"))
    if len(crit):
        paths.append(figures.save(figures.critical_ratio_heatmap(crit), out / f"critical_ratios.{fmt}"))
    if len(disp):
        big = disp[(disp["indicator"] == "l1")]
        h, w = big["hidden_layers"].max(), big["width"].max()
        sel = big[(big["hidden_layers"] == h) & (big["width"] == w) & np.isclose(big["ratio"], clear)]
        sel = sel[sel["seed"] == sel["seed"].min()]
        fig = figures.disparity_profile(sel, f"{h} × {w} FCN, ℓ1 ratio {_pct(clear)}: measured d vs bounds")
        paths.append(figures.save(fig, out / f"disparity_profile.{fmt}"))
    cells = analysis.cell_table(res, clear)
    rho = analysis.theory_correlations(cells)
    if len(rho):
        fig = figures.theory_vs_drop(cells, rho, f"theory quantities vs measured accuracy drop, ratio {_pct(clear)}")
        paths.append(figures.save(fig, out / f"theory_vs_drop.{fmt}"))
    if len(mc):
        fig = figures.theorem1_monte_carlo(mc, "Theorem 1: variance over re-initialised networks")
        paths.append(figures.save(fig, out / f"theorem1_monte_carlo.{fmt}"))
    return paths


def regression_section(t: dict) -> list[str]:
    """The critical ratios' elasticities in depth and width (with and without the interaction)."""
    crit = t["critical_ratios"]
    found = crit[crit["status"] == "found"] if len(crit) else crit
    parts = []
    for target in sorted(found["target"].unique(), reverse=True) if len(found) else []:
        c = found[found["target"] == target].groupby(["hidden_layers", "width"], as_index=False)["ratio"].mean()
        if len(c) < 6:
            continue
        c["log10_ratio"] = np.log10(c["ratio"])
        parts += [
            f"## Critical ratio for accuracy <= {target:.0%}: elasticities in depth and width",
            "",
            "log10 r = a + b·log10 H + c·log10 w (and with the centred interaction), least squares with HC3 "
            "95 % intervals. `depth_minus_width (c − b)` > 0: r falls faster with depth than with width.",
            "",
            md_table(statistics.elasticity_rows(c, "log10_ratio", f"log10 r{int(100 * target)}")),
            "",
        ]
    return parts


def seed_section(t: dict, seeds_run) -> list[str]:
    """Seed variance: the cells of ``seeds_run`` (other training seeds of some of this grid's cells) beside
    this grid's seed 0 — per cell the spread of log10 r50 over seeds, against the spread across widths."""
    other = load_run(seeds_run)
    cols = ["hidden_layers", "width", "seed"]
    if not all(c in df for df in (t["critical_ratios"], other["critical_ratios"]) for c in cols):
        raise UserError(f"--seeds-run {seeds_run}: critical_ratios.csv lacks the columns {cols}")
    both = pd.merge(*(df[cols].drop_duplicates() for df in (t["critical_ratios"], other["critical_ratios"])))
    if len(both):
        h, w, s = both.iloc[0]
        raise UserError(
            f"--seeds-run {seeds_run} holds {h} × {w} seed {s}, which this run holds too (a copy of it?): "
            "give a run of other training seeds"
        )
    crit = pd.concat([t["critical_ratios"], other["critical_ratios"]], ignore_index=True)
    c = crit[(crit["target"] == 0.5) & (crit["status"] == "found")].copy()
    c["log10_r50"] = np.log10(c["ratio"])
    keys = other["critical_ratios"][["hidden_layers", "width"]].drop_duplicates()
    c = c.merge(keys, on=["hidden_layers", "width"])
    spread = statistics.seed_spread(c, "log10_r50")
    if not len(spread):
        return []
    within = float(np.sqrt((spread["log10_r50_sd"] ** 2).mean()))
    across = c.groupby(["hidden_layers", "width"], as_index=False)["log10_r50"].mean()
    between = float(across.groupby("hidden_layers")["log10_r50"].std().mean())
    fit_all = statistics.elasticity_rows(c.reset_index(drop=True), "log10_r50", "log10 r50, every seed")
    return [
        "## Seed variance (training seeds)",
        "",
        f"Cells trained with seeds {sorted(c['seed'].unique())} (`{Path(seeds_run).name}` beside this run's seed 0). "
        f"Root-mean-square seed SD of log10 r50: **{within:.3f}** decades; mean SD across widths within a depth: "
        f"**{between:.3f}** decades.",
        "",
        md_table(spread),
        "",
        "The regression on every (cell, seed) observation (HC3 95 % intervals):",
        "",
        md_table(fit_all),
        "",
    ]


def write_report(run_dir, n_boot: int = 2000, ratio: float | None = None, seeds_run=None) -> Path:
    """``report.md``: config, accuracy, Figure 5 tables, critical ratios, claims with verdicts, errata."""
    run_dir = Path(run_dir)
    t = load_run(run_dir)
    paths = write_figures(run_dir, ratio)
    cl = verdicts(run_dir, n_boot=n_boot)
    res, crit, cfg = t["results"], t["critical_ratios"], t["config"]
    clear = analysis.clearest_ratio(res)
    n_cells = res.groupby(["hidden_layers", "width", "seed"]).ngroups
    n_expected = len(cfg.get("widths", [])) * len(cfg.get("hidden_layers", [])) * len(cfg.get("seeds", [0]))
    parts = [
        f"# CoreLocker claims checked on a grid of trained MNIST FCNs ({run_dir.name})",
        "",
        f"Configuration (`config.json`): preset `{cfg.get('preset')}`, widths {cfg.get('widths')}, hidden layers "
        f"{cfg.get('hidden_layers')}, {cfg.get('epochs')} epochs, {cfg.get('precision')} training, Adam lr "
        f"{cfg.get('lr')}, batch {cfg.get('batch_size')}, training seeds {cfg.get('seeds')}, "
        f"{cfg.get('random_seeds')} random-baseline seeds, bound checks on {cfg.get('n_check')} test images. "
        f"Cells finished: {n_cells} of {n_expected}"
        + (
            " — **a partial grid: every number below covers the finished cells only**." if n_cells < n_expected else "."
        ),
        "",
    ]
    acc0 = res.groupby(["hidden_layers", "width", "seed"])["acc_original"].first()
    if acc0.mean() < UNDERTRAINED:
        parts += [
            f"**Warning: under-trained networks** (mean test accuracy {acc0.mean():.3f} < {UNDERTRAINED}): what "
            "extraction does to them says little about the trained networks the paper studies; read every verdict "
            "below with that in mind.",
            "",
        ]
    parts += [
        "Ratios are shares of the *candidate* weights (W⁽²⁾..W⁽ᴴ⁾, Section 3.1); `share_of_parameters` in "
        '`results.csv` gives the same extraction as a share of all parameters (the paper\'s "global ratio").',
        "",
        *section(cl),
        "## Figure 5",
        "",
        f"Accuracy drop (pp) after ℓ1 extraction at the paper's {_pct(PAPER_RATIO)}"
        + (
            ""
            if closest_ratio(res, PAPER_RATIO) == PAPER_RATIO
            else f" (closest in this run: {_pct(closest_ratio(res, PAPER_RATIO))})"
        )
        + ":",
        "",
        heat_text(analysis.cell_table(res, closest_ratio(res, PAPER_RATIO)), "acc_drop", lambda v: f"{100 * v:.2f}"),
        "",
        f"At {_pct(clear)}, the ratio of the list where the drop varies most across cells:",
        "",
        heat_text(analysis.cell_table(res, clear), "acc_drop", lambda v: f"{100 * v:.1f}"),
        "",
        "Original test accuracy (%):",
        "",
        heat_text(analysis.cell_table(res, PAPER_RATIO), "acc_original", lambda v: f"{100 * v:.2f}"),
        "",
    ]
    found = crit[crit["status"] == "found"] if len(crit) else crit
    for target in sorted(found["target"].unique(), reverse=True) if len(found) else []:
        c = (
            found[found["target"] == target]
            .groupby(["hidden_layers", "width"], as_index=False)[["ratio", "accuracy_heldout"]]
            .mean()
        )
        parts += [
            f"Critical ℓ1 ratio (%) for accuracy <= {target:.0%} (chosen on even test images; the held-out odd "
            f"images give accuracy {c['accuracy_heldout'].min():.3f}–{c['accuracy_heldout'].max():.3f}):",
            "",
            heat_text(c, "ratio", lambda v: f"{100 * v:.3g}"),
            "",
        ]
    parts += regression_section(t)
    if seeds_run is not None:
        parts += seed_section(t, seeds_run)
    parts += ["## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in paths] + [""]
    parts += ["## Errata", "", md_table(pd.DataFrame([vars(e) for e in bounds.ERRATA])), ""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path
