"""The attacks experiment's report (``empirical.experiments.attacks.run``): every attack beside its baselines, with
the tests that decide each verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import figures
from empirical._io import write_text
from empirical.experiments.attacks.cells import RANDOM_CONTROL
from empirical.experiments.attacks.config import SCRATCH_ADAM, TABLES
from empirical.experiments.attacks.evidence import (
    baseline_variants,
    load_converged,
    load_finetune,
    restoration_effects,
    with_chance,
)
from empirical.experiments.attacks.inference import (
    PRIMARY_ATTACK,
    SECONDARY_ATTACKS,
    converged_verdicts,
    secondary_verdicts,
)
from empirical.experiments.attacks.verdicts import verdicts
from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.rundir import load_tables
from empirical.experiments.common.verdicts import section
from empirical.lock.utility import CHANCE
from figures.attacks import recovered_vs_data

PAPER_TABLE2 = (
    "CIFAR-10, bn-scale at 0.05, 3 trials: fine-tuning with 5 % / 10 % of the training data recovers +15–17 / +24–30 pp"
)
PAPER_TABLE3 = "Fashion-MNIST: pruning 20–40 % recovers < 1 pp"


LOCK_THRESHOLD = CHANCE + 0.05  # a locked model: at most chance + 5 pp


def _mean_sd(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, as_index=False)["accuracy"]
    out = g.agg(mean="mean", sd="std", n="count")
    return out


def later_sections(t: dict, pr: pd.DataFrame, summ: pd.DataFrame, kp: pd.DataFrame) -> list[str]:
    """The report's pruning, detector and key-position sections."""
    parts: list[str] = []
    if len(pr):
        parts += [
            "## Pruning (magnitude per layer, Fine-Pruning), without and with a short fine-tune",
            "",
            f"Paper, Table 3: {PAPER_TABLE3}.",
            "",
            md_table(pr),
            "",
        ]
        parts += (
            ["Descriptive: the best row is picked after seeing every row. The verdict is McNemar's test below.", ""]
            if len(t.get("prune_test", ()))
            else verdict_prune(pr, summ)
        )
    if len(t.get("prune_test", ())):
        parts += [
            "### The pruning tests: paired images, chosen on the even, tested on the odd",
            "",
            "Every configuration above is scored on the even test images; the best one (`any configuration`) "
            "and the best without the fine-tune (`pruning alone`) are compared with the locked model on the odd "
            "images: McNemar's exact test (`only_pruned_right`, `only_locked_right`: the discordant images) "
            "and the paired difference's 95 % Wald interval (`diff_low`, `diff_high`). The attack recovers the "
            "model where `p_mcnemar` < 0.05 *and* the pruned model is the better one; Table 3's \"pruning "
            "recovers < 1 pp\" holds for pruning alone where the interval's upper end is below 1 pp.",
            "",
            md_table(t["prune_test"].round(4)),
            "",
        ] + verdict_prune_test(t["prune_test"])
    if len(t.get("detectors", ())):
        det = with_chance(t["detectors"], t["config"]["models"])
        parts += [
            "## Where is the key? Every detector against each fill",
            "",
            "Precision and recall on the key's values; the top-k detectors flag k = the key's weight values "
            "(an attacker who knows the key's size); `chance` is the mean precision of the empirical null (random "
            "sets of candidate units as large as the detector's, drawn whole where the key is made of units), "
            "`lift` the precision over it, `p_null` its +1-corrected p against the null (`p_exact`: the "
            "hypergeometric tail). The "
            "gradient detectors use the smallest data share. "
            "Targeted restoration (`restored_accuracy`) trains only the positions of the detector with the "
            "best F1 — chosen with the real key, so it is the most these detectors can give an attacker — "
            "and, as its control, on as many positions drawn at random (`random positions (control)`): "
            "restoration that the control matches comes from retraining that many weights, not from finding "
            "the key.",
            "",
            md_table(det.round(4)),
            "",
        ] + verdict_detectors(det)
    if len(kp):
        parts += [
            "## The key-position attack",
            "",
            "Detection: every exact zero of a weight and every BN channel with γ = β = 0 is guessed to be a key "
            "position (precision and recall on the values of the real key). Targeted restoration: only the "
            "detected positions are trained (SGD lr 0.01), everything else stays bit for bit.",
            "",
            md_table(kp),
            "",
        ] + verdict_keypos(kp, summ)
    return parts


def write_report(run_dir) -> Path:
    """``report.md`` (tables beside the paper's Tables 2–3, verdicts) and the recovered-accuracy figure."""
    run_dir = Path(run_dir)
    t = load_tables(run_dir, TABLES, "summary", "attacks", "attacks")
    summ, ft, pr, kp = t["summary"], load_finetune(run_dir), t["prune"], t["keypos"]
    paths = (
        [figures.save(recovered_vs_data(ft, summ), run_dir / "figures" / "recovered_vs_data.png")] if len(ft) else []
    )
    parts = [
        "# Attacks on locked models (Tables 2–3, the key-position attack, the noise fill)",
        "",
        *(section(verdicts(run_dir)) if len(ft) else []),
        "## The locked models",
        "",
        md_table(summ),
        "",
    ]
    if len(ft):
        parts += [
            "## Fine-tuning (Adi et al.) vs training from scratch on the attacker's data (mean ± sd over seeds)",
            "",
            f"Paper, Table 2: {PAPER_TABLE2}.",
            "",
            md_table(_mean_sd(ft, ["model", "fill", "attack", "fraction"])),
            "",
        ]
        conv = load_converged(run_dir)
        parts += (
            [
                "The from-scratch rows above stop at fine-tuning's step count, far from convergence: they are "
                "descriptive, not the verdict, which is the converged test below.",
                "",
            ]
            if len(conv)
            else verdict_finetune(ft, summ)
        )
        v = converged_verdicts(ft[ft["seed"].notna()], conv) if len(conv) else pd.DataFrame()
        if len(v):
            parts += [
                f"## {PRIMARY_ATTACK} (the primary attack, declared before the runs) against training from "
                "scratch to convergence",
                "",
                "Each baseline: Adam 1e-3, batch 100, early stopping on a stratified 20 % of the attacker's "
                "data (patience 5 epochs and 300 steps, cap 10× fine-tuning's steps), 5 seeds; the attacker's "
                "choice of architecture. The verdict needs the attack to beat *every* architecture: an "
                "intersection-union test of paired one-sided t-tests (seed s of both sides trains on the same "
                "subset) at α = 0.05 (`p_iut`: the largest of them; Welch's unpaired IUT in `p_iut_welch`).",
                "",
                md_table(v.round(4)),
                "",
                *variants_section(run_dir),
            ]
            sec = secondary_verdicts(ft[ft["seed"].notna()], conv)
            if len(sec):
                parts += [
                    f"Secondary attacks ({', '.join(SECONDARY_ATTACKS)}): the same test, Holm-corrected over the "
                    "three within each model and data share (`p_holm`).",
                    "",
                    md_table(sec.round(4)),
                    "",
                ]
    parts += later_sections(t, pr, summ, kp) + restoration_section(run_dir)
    parts += [f"![{p.stem}](figures/{p.name})" for p in paths] + [""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path


def variants_section(run_dir: Path) -> list[str]:
    """Where the stronger baselines ran (``scratch_refit.csv``): every variant's mean per architecture and share,
    and which one the verdicts test against (the strongest)."""
    rows = baseline_variants(run_dir)
    if not len(rows) or rows.variant.nunique() == 1:
        return []
    table = rows.pivot_table(index=["model", "baseline", "fraction"], columns="variant", values="accuracy")
    chosen = load_converged(run_dir).drop_duplicates(["model", "baseline", "fraction"])
    table["tested against"] = chosen.set_index(["model", "baseline", "fraction"])["variant"]
    return [
        "Baseline variants (mean test accuracy over seeds): Adam early stopped (above), each recipe refit on the "
        "whole share for the epochs early stopping chose, SGD-cosine (0.05, momentum 0.9, weight decay 5e-4, cosine "
        "to 0) early stopped. The verdicts test against the strongest per architecture and share, chosen on the "
        "test set — in the baselines' favour.",
        "",
        md_table(table.reset_index().round(4)),
        "",
    ]


def restoration_section(run_dir: Path) -> list[str]:
    """Where a cell measured it (``restoration.csv``): what knowing the key adds, paired by seed."""
    eff = restoration_effects(run_dir)
    if not len(eff):
        return []
    return [
        "## What knowing the key adds (restoration control over seeds)",
        "",
        "On the smallest share, per seed (each seed its own stratified subset): training only the key's own "
        "positions, only the best detector's (by F1, an oracle's pick) and only as many candidate units drawn at "
        "random, everything else frozen; differences against the random units, paired by seed, with the two-sided "
        "95 % t interval (`restoration.csv` has every row).",
        "",
        md_table(eff.round(4)),
        "",
    ]


def verdict_finetune(ft: pd.DataFrame, summ: pd.DataFrame) -> list[str]:
    """Claim "fine-tuning recovers less than training from scratch on the same data", per model and share;
    from scratch is the better of the SGD recipe and Adam (``SCRATCH_ADAM``) where both were run."""
    lines = ["Verdicts (the best fine-tuning attack's mean accuracy vs the best from-scratch training, same data):", ""]
    zero = ft[ft["fill"] == "zero"]
    baselines = ["from scratch", SCRATCH_ADAM]
    for (model, frac), g in zero.groupby(["model", "fraction"]):
        means = g.groupby("attack")["accuracy"].mean()
        base = means.reindex(baselines).dropna()
        scratch = base.max() if len(base) else np.nan
        best = means.drop(baselines, errors="ignore")
        locked = float(summ[(summ["model"] == model) & (summ["fill"] == "zero")]["acc_locked"].iloc[0])
        verdict = "PASS" if best.max() < scratch else "FAIL"
        note = ""
        if scratch <= LOCK_THRESHOLD:  # no from-scratch recipe trained: the baseline understates the attacker
            note = " (from scratch did not train, so the baseline is weak)"
        which = (" (Adam)" if base.idxmax() == SCRATCH_ADAM else " (SGD)") if len(base) > 1 else ""
        lines.append(
            f"* {model}, {100 * frac:g} % of the training data: best fine-tuning {best.idxmax()} "
            f"{100 * best.max():.2f} % (from {100 * locked:.2f} % locked) vs from scratch{which} "
            f'{100 * scratch:.2f} %{note}; claim "fine-tuning recovers less than training from '
            f'scratch": **{verdict}**'
        )
    return lines + [""]


def verdict_prune(pr: pd.DataFrame, summ: pd.DataFrame, n_test: int = 10_000) -> list[str]:
    """Table 3's claim "pruning recovers < 1 pp" (without fine-tuning), with the test set's sampling error.

    PASS when the best gain plus two binomial standard errors of the best pruned accuracy stays below 1 pp,
    FAIL when the gain minus two standard errors exceeds it, INCONCLUSIVE in between.
    """
    lines = [
        'Verdicts ("pruning recovers < 1 pp", without fine-tuning; tolerance: two binomial standard errors of '
        f"the best pruned accuracy on the {n_test} test images):",
        "",
    ]
    for model, g in pr[~pr["fine_tuned"].astype(bool)].groupby("model"):
        locked = float(summ[(summ["model"] == model) & (summ["fill"] == "zero")]["acc_locked"].iloc[0])
        best = float(g["accuracy"].max())
        gain = (best - locked) * 100
        two_se = 200 * np.sqrt(best * (1 - best) / n_test)
        verdict = "PASS" if gain + two_se < 1 else "FAIL" if gain - two_se > 1 else "INCONCLUSIVE"
        lines.append(
            f"* {model}: the best pruning leaves {100 * best:.2f} % ({gain:+.2f} ± {two_se:.2f} pp from "
            f"the locked {100 * locked:.2f} %): **{verdict}**"
        )
    return lines + [""]


def verdict_keypos(kp: pd.DataFrame, summ: pd.DataFrame) -> list[str]:
    lines = ["Verdicts:", ""]
    for (model, fill), g in kp.groupby(["model", "fill"]):
        s = summ[(summ["model"] == model) & (summ["fill"] == fill)].iloc[0]
        best = g.loc[g["accuracy"].idxmax()]
        lines.append(
            f"* {model}, fill {fill}: detection precision {g['precision'].iloc[0]:.3f}, recall "
            f"{g['recall'].iloc[0]:.3f}; targeted restoration reaches {100 * best['accuracy']:.2f} % "
            f"(original {100 * s['acc_original']:.2f} %, locked {100 * s['acc_locked']:.2f} %) with "
            f"{100 * best['fraction']:g} % of the data and {int(best['epochs'])} epoch(s)"
        )
    return lines + [""]


def verdict_prune_test(test: pd.DataFrame, alpha: float = 0.05, claim_pp: float = 1.0) -> list[str]:
    """One line per model and scope, on the odd test images (the configuration chosen on the even ones).
    ``any configuration``: does the best pruning attack beat the locked model (McNemar, exact, two-sided, at
    ``alpha``)? ``pruning alone``: Table 3's "pruning recovers < ``claim_pp`` pp", decided by the paired
    difference's 1 − ``alpha`` interval: PASS when its upper end is below ``claim_pp``, FAIL when its lower end
    is above, INCONCLUSIVE otherwise. Rows from before the pruning-alone test have no ``scope``."""
    out = []
    scope = test["scope"] if "scope" in test else pd.Series("any configuration", index=test.index)
    for (_, r), sc in zip(test.iterrows(), scope.fillna("any configuration")):
        what = f"{r['chosen']} at {r['fraction']:.0%}{' + fine-tune' if r['fine_tuned'] else ''}"
        moved = f"{100 * r['acc_odd_locked']:.2f} → {100 * r['acc_odd_pruned']:.2f} %"
        if sc == "pruning alone":
            lo, hi = 100 * r["diff_low"], 100 * r["diff_high"]
            verdict = "PASS" if hi < claim_pp else "FAIL" if lo > claim_pp else "INCONCLUSIVE"
            out.append(
                f"- **{r['model']}, pruning alone**: {what} on the odd images {moved} "
                f"({100 * r['diff']:+.2f} pp, {100 * (1 - alpha):g} % interval [{lo:+.2f}, {hi:+.2f}] pp); "
                f'Table 3\'s "< {claim_pp:g} pp": **{verdict}**.'
            )
            continue
        better = r["only_pruned_right"] > r["only_locked_right"]
        verdict = "recovers accuracy" if better and r["p_mcnemar"] < alpha else "does not recover accuracy"
        p = "p < 1e-300" if r["p_mcnemar"] == 0 else f"p = {r['p_mcnemar']:.3g}"  # below float's range
        out.append(f"- **{r['model']}**: {what} {verdict} on the odd images ({moved}, McNemar {p}, α = {alpha}).")
    return out + [""]


def verdict_detectors(det: pd.DataFrame, found: float = 0.5, alpha: float = 0.05) -> list[str]:
    """Per model and fill: which detectors find at least ``found`` of the key (recall). Where none does, the
    best one's recall beside chance (``with_chance``): the key is hidden only if no detector beats the empirical
    null over candidate units (at ``alpha``)."""
    out = []
    for (model, fill), g in det[det["detector"] != RANDOM_CONTROL].groupby(["model", "fill"], sort=False):
        hits = g[g["recall"] >= found]
        if len(hits):
            which = ", ".join(
                f"{r.detector} (recall {r.recall:.2f}, precision {r.precision:.2f})" for r in hits.itertuples()
            )
            out.append(f"- **{model}, {fill} fill**: found by {which}.")
            continue
        best = g.loc[g["recall"].idxmax()]
        line = (
            f"- **{model}, {fill} fill**: no detector finds {found:.0%} of the key; the best, {best.detector}, "
            f"recalls {best.recall:.2f}"
        )
        if "p_above_chance" in g:
            above = g[g["p_above_chance"] < alpha]
            line += f" (chance {best.chance:.3f}, ×{best.lift:.1f}). " + (
                "Above the empirical null (α = 0.05): "
                + ", ".join(f"{r.detector} ×{r.lift:.1f}" for r in above.itertuples())
                + ", so the key is not hidden."
                if len(above)
                else "No detector beats the empirical null (α = 0.05)."
            )
        out.append(line + ("" if line.endswith(".") else "."))
    return out + [""]
