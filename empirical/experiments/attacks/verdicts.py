"""The attacks' verdicts (``verdicts``): fine-tuning against training from scratch (Table 2, the paired IUT), pruning
alone (Table 3 as printed), pruning with a short fine-tune (the pruning attack of the paper's [25]) and the key
positions against their null; the report, the page and the README line all read these rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from empirical.experiments.attacks.cells import RANDOM_CONTROL
from empirical.experiments.attacks.evidence import (
    NULL_DRAWS,
    _f3,
    leak_attribution,
    load_converged,
    load_finetune,
    restoration_effects,
    with_chance,
)
from empirical.experiments.attacks.inference import PRIMARY_ATTACK, converged_verdicts
from empirical.experiments.common.markdown import span
from empirical.experiments.common.verdicts import table

ALPHA = 0.05  # every test here is one-sided or two-sided at this level
TABLE3_PP = 0.01  # Table 3's "less than 1 % accuracy recovery"
WHERE_PRUNE = "Section 5.3, pruning attack (the paper's [25]: prune, then fine-tune)"


def scope(run: Path) -> str:
    """What every attacks verdict speaks for: the models measured, their owner models, their locks, the seeds."""
    cfg = json.loads((run / "config.json").read_text())
    ft = pd.read_csv(run / "finetune.csv")
    measured = [m for m in cfg["models"] if m["name"] in set(ft.model)]
    owners = {m["name"]: [m] for m in measured if "baselines_of" not in m}
    for m in measured:
        if "baselines_of" in m and m["baselines_of"] in owners:
            owners[m["baselines_of"]].append(m)
    models = ", ".join(
        f"{name} ({ms[0]['dataset']}"
        + (
            f"; owner models: training seeds {', '.join(str(x.get('owner_seed', 0)) for x in ms)})"
            if len(ms) > 1
            else ")"
        )
        for name, ms in owners.items()
    )
    seeds = ft.groupby("model")["seed"].nunique()
    each = (
        "two owner models where said, else one" if any(len(v) > 1 for v in owners.values()) else "one owner model each"
    )
    return f"ℓ1 locks at chance + 5 pp of {models}; {each}, {span(seeds)} attack seeds per cell"


def converged_text(run: Path) -> tuple[str, pd.DataFrame]:
    """The primary attack against the converged from-scratch baselines: how many cells it beats every baseline in,
    by the paired IUT's strength (``inference.strength``), the borderline and failing cells named."""
    base = load_converged(run)
    v = converged_verdicts(load_finetune(run), base)
    if not len(v):
        return "no cell has two or more seeds of the attack and of a baseline", v
    cell = lambda r: f"{r.model} at {100 * r.fraction:g} % ({100 * r.diff_vs_best:+.1f} pp, p {r.p_iut:.2g})"  # noqa: E731
    counts = v.groupby("strength").size()
    parts = [f"{int(counts.get('clearly', 0))} of {len(v)} cells clearly (paired IUT p < 0.01)"]
    at05 = v[v.strength == "at α = 0.05"]
    if len(at05):
        parts.append(f"{len(at05)} at α = 0.05 ({'; '.join(cell(r) for r in at05.itertuples())})")
    weak = v[v.strength.isin(["borderline", "not established"])]
    if len(weak):
        parts.append("not established: " + "; ".join(f"{cell(r)}, {r.strength}" for r in weak.itertuples()))
    seeds = int(v.pairs.min()) if len(v) else 0
    variants = ", ".join(sorted(base.variant.unique()))
    text = (
        f"{PRIMARY_ATTACK} beats every baseline in {', '.join(parts)} ({seeds} paired seeds per cell; baselines: "
        f"three architectures trained from scratch to convergence, {span(base.groupby('model').seed.nunique())} "
        f"seeds each, the strongest of {variants} per architecture and share)"
    )
    return text, v


def finetune_row(run: Path) -> dict:
    """Table 2: fine-tuning the locked model does no better than training from scratch on the same data."""
    claim = (
        f"fine-tuning the locked model ({PRIMARY_ATTACK}) with 1–10 % of the training data does no better than "
        "training from scratch on it (the paper: sustained resilience with 10 %)"
    )
    row = dict(where="Table 2", claim=claim, tolerance=f"paired one-sided IUT over the baselines, α = {ALPHA:g}")
    if not (run / "scratch_converged.csv").exists():
        return {**row, "verdict": "NOT TESTED", "numbers": "the converged baselines are still to run"}
    text, v = converged_text(run)
    if not len(v):
        return {**row, "verdict": "NOT TESTED", "numbers": text}
    beats = int((v.p_iut < ALPHA).sum())
    verdict = f"FAIL (in {beats} of {len(v)} cells)" if beats else f"INCONCLUSIVE (0 of {len(v)} cells)"
    return {**row, "verdict": verdict, "numbers": text + owners_text(run, v)}


def owners_text(run: Path, v: pd.DataFrame) -> str:
    """Where an architecture has a second owner model: whether the test says the same on both, share by share."""
    models = json.loads((run / "config.json").read_text())["models"]
    parts = []
    for m in (m for m in models if "baselines_of" in m):
        a, b = (v[v.model == n].set_index("fraction")["strength"] for n in (m["baselines_of"], m["name"]))
        shares = sorted(set(a.index) & set(b.index))
        if shares:
            same = [f for f in shares if (a[f] == "clearly") == (b[f] == "clearly")]
            parts.append(
                f"{m['baselines_of']} and its second owner model {m['name']} agree at {len(same)} of "
                f"{len(shares)} shares"
                + (
                    ""
                    if len(same) == len(shares)
                    else f" ({', '.join(f'{100 * f:g} %: {a[f]} / {b[f]}' for f in shares if f not in same)})"
                )
            )
    return ("; " + "; ".join(parts)) if parts else ""


def prune_test(run: Path) -> pd.DataFrame:
    test = pd.read_csv(run / "prune_test.csv")
    if "scope" not in test:
        test["scope"] = "any configuration"
    return test


def pruning_alone_row(run: Path) -> dict:
    """Table 3 as printed: pruning alone moves a locked model by less than 1 pp (paired interval on the odd images)."""
    row = dict(
        where="Table 3 (pruning alone)",
        claim="pruning up to 40 % of the weights recovers less than 1 pp",
        tolerance=f"paired 95 % interval of the change: holds when it lies below +{100 * TABLE3_PP:g} pp, fails when "
        "it lies above",
    )
    test = prune_test(run) if (run / "prune_test.csv").exists() else pd.DataFrame()
    alone = test[test.scope == "pruning alone"].set_index("model") if len(test) else test
    if not len(alone):
        return {**row, "verdict": "NOT TESTED", "numbers": "no paired test of pruning alone in this run"}
    holds = [m for m, r in alone.iterrows() if r.diff_high < TABLE3_PP]
    fails = [m for m, r in alone.iterrows() if r.diff_low > TABLE3_PP]
    if len(holds) == len(alone):
        verdict = f"PASS ({len(holds)} of {len(alone)} models)"
    elif len(fails) == len(alone):
        verdict = f"FAIL ({len(fails)} of {len(alone)} models)"
    else:
        verdict = f"PARTIAL (holds for {', '.join(holds) or 'none'}; fails for {', '.join(fails) or 'none'})"
    numbers = "; ".join(
        f"{m} {100 * r['diff']:+.1f} pp [{100 * r.diff_low:+.1f}, {100 * r.diff_high:+.1f}] ({r.chosen} pruning of "
        f"{100 * r.fraction:g} %: {100 * r.acc_odd_locked:.1f} → {100 * r.acc_odd_pruned:.1f} %)"
        for m, r in alone.iterrows()
    )
    return {**row, "verdict": verdict, "numbers": numbers}


def pruning_attack_row(run: Path) -> dict:
    """The pruning attack as the paper's [25] runs it (prune, then fine-tune): does it restore the locked model?"""
    row = dict(
        where=WHERE_PRUNE,
        claim="pruning with a short fine-tune does not restore the locked model",
        tolerance=f"McNemar on the odd test images, the configuration chosen on the even, α = {ALPHA:g}",
    )
    if not (run / "prune_test.csv").exists():
        prune = pd.read_csv(run / "prune.csv")
        best = prune.groupby(["model", "fine_tuned"])["accuracy"].max().unstack()
        tuned = ", ".join(f"{m} {100 * best.loc[m, True]:.1f} %" for m in best.index)
        return {**row, "verdict": "NOT TESTED", "numbers": f"best after the fact, no test: {tuned}"}
    attack = prune_test(run)
    attack = attack[attack.scope == "any configuration"].set_index("model")
    ok = attack[(attack.p_mcnemar < ALPHA) & (attack.only_pruned_right > attack.only_locked_right)]
    p = max(attack.p_mcnemar)
    verdict = f"FAIL (recovers {len(ok)} of {len(attack)} models)" if len(ok) else "PASS"
    numbers = (
        f"McNemar {'p < 1e-300' if p == 0 else f'p ≤ {p:.2g}'}"
        + ("; fine-tuned after pruning" if attack.fine_tuned.all() else "")
        + ": "
        + ", ".join(f"{m} {100 * r.acc_odd_locked:.1f} → {100 * r.acc_odd_pruned:.1f} %" for m, r in attack.iterrows())
    )
    return {**row, "verdict": verdict, "numbers": numbers}


def key_rows(run: Path) -> list[dict]:
    """The key positions: a zero-filled key is read off the model; a noise-filled one, by detectors judged against
    the empirical null over candidate units (``evidence.with_chance``)."""
    where = "Section 5.3, key positions (an attacker who finds and neutralises the key)"
    if not (run / "detectors.csv").exists():
        return [dict(where=where, claim="the key's positions stay hidden", verdict="NOT TESTED", numbers="")]
    models = json.loads((run / "config.json").read_text())["models"]
    det = with_chance(pd.read_csv(run / "detectors.csv"), models)
    found = det[(det.fill == "zero") & (det.detector != RANDOM_CONTROL)].groupby("model")["recall"].max()
    n_found = int((found >= 0.5).sum())
    zero = dict(
        where=where,
        claim="a zero-filled key's positions stay hidden",
        verdict=(f"FAIL (found in {n_found} of {len(found)} models)" if n_found else "PASS")
        if len(found)
        else "NOT TESTED",
        numbers=f"exact zeros find the key: recall {span(found.round(2))}" if len(found) else "no zero-fill row",
        tolerance="found = recall >= 0.5",
    )
    rows = [zero, noise_row(where, det)]
    effects = restoration_effects(run)
    if len(effects):
        rows.append(
            dict(
                where=where,
                claim="what knowing the key adds: training only its positions against as many random candidate units",
                verdict="INFO",
                numbers="; ".join(
                    f"{r.model} ({r.fill} fill, {r.seeds} seeds): {r.trained} {100 * r.accuracy:.1f} % vs random "
                    f"{100 * r.random:.1f} %, {100 * r['diff']:+.1f} pp [{100 * r.low:+.1f}, {100 * r.high:+.1f}]"
                    for _, r in effects.iterrows()
                ),
                tolerance="paired by seed (each seed one data subset), two-sided 95 % t interval",
            )
        )
    return rows


def noise_row(where: str, det: pd.DataFrame) -> dict:
    """A noise-filled key: which detector finds it, else whether the best beats its null, and where the leak
    comes from (the ℓ1 ranking where the zero fill shows it too)."""
    claim = "a noise-filled key's positions stay hidden (`--fill noise`, this toolkit's)"
    leak = leak_attribution(det)
    if not len(leak):
        return dict(where=where, claim=claim, verdict="NOT TESTED", numbers="no noise-fill row")
    beats = leak[leak.beats_null_noise]
    noise_det = det[(det.fill == "noise") & (det.detector != RANDOM_CONTROL) & (det.recall >= 0.5)]
    finders = ", ".join(f"{r.model} {r.detector} recall {r.recall:.2f}" for r in noise_det.itertuples())
    both = leak.beats_null_noise & leak.beats_null_zero
    cells = ", ".join(
        f"{r.model} {r.detector.split(' (')[0]} precision {r.precision_noise:.2f} noise / "
        f"{_f3(r.precision_zero, 2)} zero vs chance {r.chance:.2f}"
        for r in leak.itertuples()
    )
    return dict(
        where=where,
        claim=claim,
        verdict=f"FAIL (leaks in {len(beats)} of {len(leak)} models)" if len(beats) else "PASS",
        numbers=(
            f"found (recall >= 0.5): {finders}; "
            if finders
            else "no detector finds half of it" + (", but " if len(beats) else "; ")
        )
        + f"the best {'beats' if len(beats) else 'against'} the null ({cells})"
        + (
            " — with both fills in every model, so the leak is the ℓ1 ranking's, not the fill's"
            if both.all()
            else f" — with both fills in {int(both.sum())} of {len(leak)} models"
        ),
        tolerance=f"empirical null over candidate units ({NULL_DRAWS:,} draws), α = {ALPHA:g}",
    )


def verdicts(run_dir) -> pd.DataFrame:
    """Every verdict of an attacks run, one row per claim (``common.verdicts.COLUMNS``)."""
    run = Path(run_dir)
    rows = [finetune_row(run), pruning_alone_row(run), pruning_attack_row(run), *key_rows(run)]
    where = scope(run)
    return table([{"tolerance": "—", **r, "scope": where} for r in rows])
