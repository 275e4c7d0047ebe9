"""The attacks' tests: does an attack beat the attacker's own training from scratch to convergence?

The primary attack (FTAL) was declared before the converged-baseline runs; FTLL, RTLL and RTAL are secondary.
An attack "beats the baselines" only if it beats *every* architecture the attacker may train from scratch: an
intersection-union test (IUT) whose p-value is the largest of the one-sided tests (no correction is needed when
all must reject). The design is paired: the attack's seed s and each baseline's seed s train on the same
stratified subset (``stratified_subset(…, seed)``), so each test is a paired one-sided t-test on the seeds both
have; Welch's unpaired test is kept beside it as a column. The secondaries' IUT p-values are Holm-corrected over
the three, per model and data share.

Wording (``strength``): *clearly* where the paired IUT p < 0.01, *at α = 0.05* where 0.01 <= p < 0.05,
*borderline* where 0.05 <= p < 0.10 (not established), *not established* above.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from empirical.experiments.common.statistics import holm, paired_t, welch

PRIMARY_ATTACK = "FTAL"  # declared before the converged-baseline runs; the other attacks are secondary
SECONDARY_ATTACKS = ("FTLL", "RTLL", "RTAL")


def _iut(attack: pd.DataFrame, base: pd.DataFrame, level: float = 0.05) -> list[dict]:
    """Per baseline architecture (2+ seeds): the paired one-sided t-test of the attack's accuracy against it on
    the seeds both have (their shared data subsets), with the difference's one-sided 1 − ``level`` lower bound
    (above 0 exactly where it rejects), and Welch's unpaired test beside it."""
    tests = []
    a = attack.set_index("seed")["accuracy"]
    for name, g in base.groupby("baseline"):
        if len(g) < 2:
            continue
        w = welch(a.to_numpy(), g["accuracy"].to_numpy())
        welch_one = w["p"] / 2 if w["diff"] > 0 else 1 - w["p"] / 2
        row = dict(
            baseline=name,
            mean=g["accuracy"].mean(),
            n=len(g),
            steps=g["steps"].median(),
            **w,
            p_welch_one_sided=welch_one,
            bound_welch=welch(a.to_numpy(), g["accuracy"].to_numpy(), level=1 - 2 * level)["low"],
        )
        b = g.set_index("seed")["accuracy"]
        shared = sorted(set(a.index) & set(b.index))
        if len(shared) >= 2:
            pt = paired_t(a[shared].to_numpy(), b[shared].to_numpy(), level=1 - level)
            row.update(
                design="paired",
                pairs=len(shared),
                p_one_sided=pt["p_greater"],
                bound=pt["bound"],
                paired_diff=pt["diff"],
            )
        else:
            row.update(
                design="unpaired", pairs=0, p_one_sided=welch_one, bound=row["bound_welch"], paired_diff=float("nan")
            )
        tests.append(row)
    return tests


def strength(p: float) -> str:
    """The word for a (paired) IUT p-value (module doc)."""
    return "clearly" if p < 0.01 else "at α = 0.05" if p < 0.05 else "borderline" if p < 0.10 else "not established"


def _verdict(attack: str, tests: list[dict], p: float, level: float) -> str:
    if p < level:
        return f"{attack} beats every baseline"
    if any(t["diff"] < 0 and t["p"] < level for t in tests):
        return "a baseline beats the attack"
    return "not established"


def converged_verdicts(
    finetune: pd.DataFrame, converged: pd.DataFrame, level: float = 0.05, attack: str = PRIMARY_ATTACK
) -> pd.DataFrame:
    """Per model and data share: does ``attack`` (zero fill) beat the attacker's training from scratch to
    convergence (module doc)? Rows only where both sides have two or more seeds."""
    ft = finetune[(finetune["fill"] == "zero") & (finetune["attack"] == attack)]
    rows = []
    for (m, frac), base in converged.groupby(["model", "fraction"]):
        rows_a = ft[(ft["model"] == m) & np.isclose(ft["fraction"], frac)]
        a = rows_a["accuracy"].to_numpy()
        if len(a) < 2:
            continue
        tests = _iut(rows_a, base, level)
        if not tests:
            continue
        worst = max(t["p_one_sided"] for t in tests)
        best_base = max(tests, key=lambda t: t["mean"])
        rows.append(
            dict(
                model=m,
                fraction=frac,
                attack=attack,
                attack_mean=a.mean(),
                attack_seeds=len(a),
                best_baseline=best_base["baseline"],
                baseline_mean=best_base["mean"],
                baseline_seeds=best_base["n"],
                baseline_median_steps=best_base["steps"],
                diff_vs_best=a.mean() - best_base["mean"],
                diff_low=best_base["low"],
                diff_high=best_base["high"],
                bound_every=min(t["bound"] for t in tests),
                p_iut=worst,
                p_iut_welch=max(t["p_welch_one_sided"] for t in tests),
                design="paired" if all(t["design"] == "paired" for t in tests) else "unpaired",
                pairs=min(t["pairs"] for t in tests),
                baselines=len(tests),
                strength=strength(worst),
                verdict=_verdict(attack, tests, worst, level),
            )
        )
    out = pd.DataFrame(rows)
    if len(out) and attack == PRIMARY_ATTACK:
        out = out.drop(columns="attack")  # the primary's table, as it has always been
    return out


def secondary_verdicts(finetune: pd.DataFrame, converged: pd.DataFrame, level: float = 0.05) -> pd.DataFrame:
    """The secondary attacks against the converged baselines, Holm-corrected over ``SECONDARY_ATTACKS`` within
    each model and data share (``p_holm``; the verdict uses it)."""
    frames = [converged_verdicts(finetune, converged, level, a) for a in SECONDARY_ATTACKS]
    rows = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else None
    if rows is None:
        return pd.DataFrame()
    rows["p_holm"] = rows.groupby(["model", "fraction"])["p_iut"].transform(lambda p: holm(p.to_numpy()))
    rows["verdict"] = [
        v if p < level or not v.endswith("every baseline") else "not established after Holm"
        for v, p in zip(rows["verdict"], rows["p_holm"])
    ]
    cols = [
        "model",
        "fraction",
        "attack",
        "attack_mean",
        "attack_seeds",
        "best_baseline",
        "baseline_mean",
        "diff_vs_best",
        "p_iut",
        "p_holm",
        "verdict",
    ]
    return rows[cols].sort_values(["model", "fraction", "attack"], ignore_index=True)
