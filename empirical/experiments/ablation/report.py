"""The ablation's report (``empirical.experiments.ablation.run``): which ingredient makes each extraction variant lock,
counted over seeds, with the γ spreads and key sizes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import figures
from empirical._io import write_text
from empirical.experiments.ablation.config import (
    LOCK_THRESHOLD,
    RECIPES,
    TABLES,
    _config_of,
    sparsity_dose,
    with_seed,
)
from empirical.experiments.common.markdown import md_table, span
from empirical.experiments.common.rundir import load_tables
from empirical.experiments.common.verdicts import counted, section, table
from figures.ablation import gamma_distributions


def verdict_rows(locked: pd.DataFrame, trained: float = 0.5) -> pd.DataFrame:
    """Per architecture and extraction variant: the recipes under which it reaches chance + 5 pp — counting
    only networks that learned something (original accuracy >= ``trained``: an untrained net is at chance
    before any lock). A recipe trained with several seeds counts as reaching only when every seed does;
    seeds on both sides of the threshold make it **borderline**, and the count is a range."""
    locked = with_seed(locked)
    orig = locked[locked["variant"] == "original"].set_index(["arch", "recipe", "seed"])["accuracy"]
    rows = []
    for (arch, variant), g in locked[locked["variant"] != "original"].groupby(["arch", "variant"], sort=False):
        ok = g[[orig.get((a, r, s), 0) >= trained for a, r, s in zip(g["arch"], g["recipe"], g["seed"])]]
        per = ok.groupby("recipe", sort=False)["accuracy"].agg(["min", "max", "count"])
        reach = per[per["max"] <= LOCK_THRESHOLD]
        border = per[(per["min"] <= LOCK_THRESHOLD) & (per["max"] > LOCK_THRESHOLD)]
        lo, hi = len(reach), len(reach) + len(border)
        rows.append(
            dict(
                arch=arch,
                variant=variant,
                recipes_trained=len(per),
                seeds=", ".join(f"{r}: {int(c)}" for r, c in per["count"].items() if c > 1) or "1 each",
                best_accuracy=float(ok["accuracy"].min()) if len(ok) else float("nan"),
                recipes_locking=f"{lo}" if lo == hi else f"{lo}–{hi}",
                recipes_reaching_chance_plus_5pp=", ".join(reach.index) or "none",
                borderline=", ".join(
                    f"{r} ({100 * a:.1f}–{100 * b:.1f} %)"
                    for r, a, b in zip(border.index, border["min"], border["max"])
                )
                or "—",
            )
        )
    return pd.DataFrame(rows)


BN_GLOBAL = "bn-scale (global |γ|)"  # the authors' demo: one global ranking by |γ|, γ = β = 0
DOSE = "all-ns-dose"  # Network Slimming's sparsity dose (``config.sparsity_dose``)


def dose_row(dose: pd.DataFrame) -> dict:
    """The verdict under Network Slimming's sparsity dose from its bn-scale (global |γ|) rows: an architecture locks
    when every seed reaches chance + 5 pp and does not when none does; seeds on both sides leave it undecided, and
    the verdict says INCONCLUSIVE with the range of architectures that may lock (as the grid's recipes)."""
    per = [
        (arch, g.sort_values("seed")) for arch, g in dose.groupby("arch", sort=False)
    ]  # in the run's order of architectures
    hits = [int((g.accuracy <= LOCK_THRESHOLD).sum()) for _, g in per]
    every, some = sum(h == len(g) for h, (_, g) in zip(hits, per)), sum(h > 0 for h in hits)
    n = len(per)
    verdict = (
        counted(every, n, "architectures") if every == some else f"INCONCLUSIVE ({every}–{some} of {n} architectures)"
    )
    return dict(
        where="Table 1 (bn-scale as the authors' demo ranks it)",
        claim="with Network Slimming's sparsity dose (s·Σlr/(1 − m) ≈ 3) global |γ| extraction brings each "
        "architecture to chance",
        scope=f"Fashion-MNIST, {', '.join(a for a, _ in per)}, {span(dose.groupby('arch')['seed'].nunique())} seeds "
        "per architecture",
        verdict=verdict,
        numbers="; ".join(
            f"{a} {h} of {len(g)} seed(s) ({', '.join(f'{100 * v:.1f}' for v in g.accuracy)} %)"
            for (a, g), h in zip(per, hits)
        ),
        tolerance=f"chance + 5 pp ({100 * LOCK_THRESHOLD:.0f} %); an architecture counts when every seed reaches it",
    )


def verdicts(run_dir) -> pd.DataFrame:
    """The ablation's verdicts: per architecture, whether bn-scale (global |γ|) brings it to chance under each of the
    grid's recipes (a recipe counts when every seed does; seeds on both sides make it INCONCLUSIVE), the same under
    Network Slimming's sparsity dose, and ℓ1 filters over every network of the grid."""
    run_dir = Path(run_dir)
    t = load_tables(run_dir, TABLES, "locked", "ablation", "ablation")
    locked, cfg = with_seed(t["locked"]), t["config"]
    grid = locked[locked.recipe.isin(cfg["recipes"])]
    rows = []
    tolerance = f"chance + 5 pp ({100 * LOCK_THRESHOLD:.0f} %); a recipe counts when every seed reaches it"
    for r in verdict_rows(grid).itertuples():
        if r.variant != BN_GLOBAL:
            continue
        runs = grid[(grid.arch == r.arch) & (grid.variant == BN_GLOBAL)]
        lo, _, hi = r.recipes_locking.partition("–")
        verdict = counted(int(lo), r.recipes_trained, "recipes")
        if hi:
            verdict = f"INCONCLUSIVE ({r.recipes_locking} of {r.recipes_trained} recipes)"
        seeds = runs.groupby("recipe")["seed"].nunique()
        rows.append(
            dict(
                where="Table 1 (bn-scale as the authors' demo ranks it)",
                claim=f"global |γ| extraction at {cfg['ratio']:g} brings {r.arch} to chance under each training recipe",
                scope=f"Fashion-MNIST, {r.arch} {cfg['sizes'][r.arch][0]} × {cfg['sizes'][r.arch][1]}, recipes "
                f"{', '.join(cfg['recipes'])}, {span(seeds)} seeds per recipe",
                verdict=verdict,
                numbers=f"{int((runs.accuracy <= LOCK_THRESHOLD).sum())} of {len(runs)} seed runs reach it; best "
                f"{100 * r.best_accuracy:.1f} %" + (f"; borderline {r.borderline}" if r.borderline != "—" else ""),
                tolerance=tolerance,
            )
        )
    dose = locked[(locked.recipe == DOSE) & (locked.variant == BN_GLOBAL)]
    if len(dose):
        rows.append(dose_row(dose))
    l1 = grid[(grid.variant == "l1 filters") & (grid.seed == 0)]
    rows.append(
        dict(
            where="Table 1 (ℓ1)",
            claim=f"ℓ1 filter extraction at {cfg['ratio']:g} brings each network to chance",
            scope=f"Fashion-MNIST, {l1.arch.nunique()} architectures × {l1.recipe.nunique()} recipes, seed 0",
            verdict=counted(int((l1.accuracy <= LOCK_THRESHOLD).sum()), len(l1), "networks"),
            numbers=f"the others at {100 * l1.accuracy[l1.accuracy > LOCK_THRESHOLD].min():.1f}–"
            f"{100 * l1.accuracy.max():.1f} %"
            if (l1.accuracy > LOCK_THRESHOLD).any()
            else "every one",
            tolerance=f"chance + 5 pp ({100 * LOCK_THRESHOLD:.0f} %)",
        )
    )
    return table(rows)


def _spread_section(spread: pd.DataFrame) -> list[str]:
    """How far each recipe moved γ, epoch by epoch (cells trained since the per-epoch log exists)."""
    if not len(spread):
        return []
    g = spread.groupby(["arch", "recipe", "seed", "epoch"], as_index=False).agg(
        gamma_q05=("gamma_q05", "min"), gamma_median=("gamma_median", "median"), gamma_q95=("gamma_q95", "max")
    )
    return [
        "## |γ| spread after every epoch (5th percentile: lowest layer; median of layer medians; 95th: highest)",
        "",
        md_table(g.round(4)),
        "",
    ]


def write_report(run_dir) -> Path:
    """``report.md`` and the |γ| figure from the tables."""
    run_dir = Path(run_dir)
    t = load_tables(run_dir, TABLES, "locked", "ablation", "ablation")
    locked, gammas, models, cfg = with_seed(t["locked"]), with_seed(t["gammas"]), with_seed(t["models"]), t["config"]
    if "epoch" in gammas:  # per-epoch γ logs: the tables and the figure show each network after training
        last = gammas.groupby(["arch", "recipe", "seed"])["epoch"].transform("max")
        spread = gammas[gammas["epoch"].notna()]
        gammas = gammas[gammas["epoch"].isna() | (gammas["epoch"] == last)]
    else:
        spread = gammas.iloc[:0]
    conf = _config_of(cfg)
    models["sparsity_dose"] = [
        sparsity_dose(conf.spec(a, r, s)) for a, r, s in zip(models["arch"], models["recipe"], models["seed"])
    ]
    paths = []
    if len(gammas):
        base = gammas[gammas["seed"] == 0]
        paths.append(figures.save(gamma_distributions(base), run_dir / "figures" / "gamma_by_layer.png"))
    wide = locked.pivot_table(index=["arch", "recipe", "seed"], columns="variant", values="accuracy", sort=False) * 100
    bn = locked[locked["indicator"] == "bn-scale"][
        ["arch", "recipe", "seed", "mode", "accuracy", "counts_per_layer", "top_class_share", "class_histogram"]
    ]
    keys = locked[locked["variant"].isin(["l1 filters", "random filters (seed 0)", "bn-scale (global |γ|)"])]
    parts = (
        [
            "# Table 1 as the authors ran it: an ablation of bn-scale locking",
            "",
            f"Fashion-MNIST (first {cfg.get('train_subset')} training images), ratio {cfg.get('ratio')} of the "
            f"candidate units; Adam recipes {cfg.get('epochs_adam')} epochs, SGD recipes {cfg.get('epochs_sgd')} "
            "epochs; every accuracy on the whole test set. Recipes: "
            + "; ".join(f"`{k}` = {v}" for k, v in RECIPES.items() if k in cfg.get("recipes", RECIPES))
            + ".",
            "",
            *section(verdicts(run_dir)),
            "## Trained networks",
            "",
            md_table(models),
            "",
            "## Test accuracy (%) of each locked model (rows: architecture × recipe; columns: extraction variant)",
            "",
            md_table(wide.round(2).reset_index()),
            "",
            "## Which ingredient makes each variant reach chance + 5 pp (15 %)",
            "",
            md_table(verdict_rows(locked)),
            "",
            "## bn-scale: where the extracted channels are and what the locked model predicts",
            "",
            "A locked model that predicts one class for every image scores exactly 10.00 % on the balanced test set.",
            "",
            md_table(bn),
            "",
            "## Key size as a share of all parameters",
            "",
            md_table(keys[["arch", "recipe", "seed", "variant", "k", "key_share_of_parameters"]]),
            "",
            "## |γ| per BN layer",
            "",
            md_table(
                gammas[
                    [
                        "arch",
                        "recipe",
                        "seed",
                        "bn_index",
                        "channels",
                        "gamma_q05",
                        "gamma_median",
                        "gamma_q95",
                        "gamma_max",
                        "folded_median",
                        "folded_max",
                    ]
                ]
            )
            if len(gammas)
            else "",
            "",
        ]
        + _spread_section(spread)
        + [f"![{p.stem}](figures/{p.name})" for p in paths]
        + [""]
    )
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path
