"""The attacks' tests: does an attack beat the attacker's own training from scratch to convergence?

The primary attack (FTAL) was declared before the converged-baseline runs; FTLL, RTLL and RTAL are secondary.
An attack "beats the baselines" only if it beats *every* architecture the attacker may train from scratch: an
intersection-union test (IUT) whose p-value is the largest of the one-sided Welch tests (no correction is
needed when all must reject). The secondaries' IUT p-values are Holm-corrected over the three, per model and
data share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from empirical.experiments.common.statistics import holm, welch

PRIMARY_ATTACK = "FTAL"  # declared before the converged-baseline runs; the other attacks are secondary
SECONDARY_ATTACKS = ("FTLL", "RTLL", "RTAL")


def _iut(a: np.ndarray, base: pd.DataFrame, level: float = 0.05) -> list[dict]:
    """One-sided Welch tests of the attack's accuracies ``a`` against each baseline architecture (2+ seeds),
    with each difference's one-sided 1 − ``level`` lower bound (the lower end of the two-sided 1 − 2·``level``
    interval): the bound is above 0 exactly where the one-sided test rejects."""
    tests = []
    for name, g in base.groupby("baseline"):
        if len(g) < 2:
            continue
        w = welch(a, g["accuracy"].to_numpy())
        one_sided = w["p"] / 2 if w["diff"] > 0 else 1 - w["p"] / 2
        bound = welch(a, g["accuracy"].to_numpy(), level=1 - 2 * level)["low"]
        tests.append(dict(baseline=name, mean=g["accuracy"].mean(), n=len(g), steps=g["steps"].median(), **w,
                          p_one_sided=one_sided, bound=bound))  # fmt: skip
    return tests


def _verdict(attack: str, tests: list[dict], p: float, level: float) -> str:
    if p < level:
        return f"{attack} beats every baseline"
    if any(t["diff"] < 0 and t["p"] < level for t in tests):
        return "a baseline beats the attack"
    return "not established"


def converged_verdicts(finetune: pd.DataFrame, converged: pd.DataFrame, level: float = 0.05,
                       attack: str = PRIMARY_ATTACK) -> pd.DataFrame:  # fmt: skip
    """Per model and data share: does ``attack`` (zero fill) beat the attacker's training from scratch to
    convergence (module doc)? Rows only where both sides have two or more seeds."""
    ft = finetune[(finetune["fill"] == "zero") & (finetune["attack"] == attack)]
    rows = []
    for (m, frac), base in converged.groupby(["model", "fraction"]):
        a = ft[(ft["model"] == m) & np.isclose(ft["fraction"], frac)]["accuracy"].to_numpy()
        if len(a) < 2:
            continue
        tests = _iut(a, base, level)
        if not tests:
            continue
        worst = max(t["p_one_sided"] for t in tests)
        best_base = max(tests, key=lambda t: t["mean"])
        rows.append(dict(model=m, fraction=frac, attack=attack, attack_mean=a.mean(), attack_seeds=len(a),
                         best_baseline=best_base["baseline"], baseline_mean=best_base["mean"],
                         baseline_seeds=best_base["n"], baseline_median_steps=best_base["steps"],
                         diff_vs_best=a.mean() - best_base["mean"], diff_low=best_base["low"],
                         diff_high=best_base["high"], bound_every=min(t["bound"] for t in tests), p_iut=worst,
                         baselines=len(tests),
                         verdict=_verdict(attack, tests, worst, level)))  # fmt: skip
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
    rows["verdict"] = [v if p < level or not v.endswith("every baseline") else "not established after Holm"
                       for v, p in zip(rows["verdict"], rows["p_holm"])]  # fmt: skip
    cols = ["model", "fraction", "attack", "attack_mean", "attack_seeds", "best_baseline", "baseline_mean",
            "diff_vs_best", "p_iut", "p_holm", "verdict"]  # fmt: skip
    return rows[cols].sort_values(["model", "fraction", "attack"], ignore_index=True)
