"""The attacks' README lines: fine-tuning against training from scratch (the paired IUT's strength), pruning, and the
key positions against their null, each from the report's verdict functions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from empirical.experiments.attacks.cells import RANDOM_CONTROL
from empirical.experiments.attacks.inference import PRIMARY_ATTACK, converged_verdicts
from empirical.experiments.attacks.report import (
    NULL_DRAWS,
    load_finetune,
    with_chance,
)
from empirical.experiments.common.markdown import span

RUN = "results/attacks"  # the committed run the page and the README lines read


def attack_seeds_glance() -> str:
    """How many seeds stand behind each attack row and each baseline row."""
    run = Path(RUN)
    ft = pd.read_csv(run / "finetune.csv").groupby("model")["seed"].nunique()
    base = pd.read_csv(run / "scratch_converged.csv").groupby("model")["seed"].nunique()
    return f"three architectures; {span(ft)} seeds per attack, {span(base)} per baseline"


def pruning_glance() -> str:
    """The pruning attack: McNemar's test where the run has it, else the best configuration without a test."""
    run = Path(RUN)
    if (run / "prune_test.csv").exists():
        test = pd.read_csv(run / "prune_test.csv")
        if "scope" not in test:
            test["scope"] = "any configuration"
        attack, alone = (test[test.scope == s].set_index("model") for s in ("any configuration", "pruning alone"))
        models = ", ".join(attack.index)
        moved = ", ".join(f"{100 * r.acc_odd_locked:.1f} → {100 * r.acc_odd_pruned:.1f} %" for r in attack.itertuples())
        p = max(attack.p_mcnemar)
        p_text = "p < 1e-300" if p == 0 else f"p ≤ {p:.2g}"
        tuned = "with its short fine-tune " if attack.fine_tuned.all() else ""
        ok = attack[(attack.p_mcnemar < 0.05) & (attack.only_pruned_right > attack.only_locked_right)]
        verb = "recovers" if len(ok) == len(attack) else f"recovers {', '.join(ok.index) or 'none'} of"
        text = (
            f"The best pruning {tuned}{verb} {models} (McNemar {p_text} on the odd test images, chosen on the "
            f"even: {moved})"
        )
        if len(alone):
            diffs = "; ".join(
                f"{m} {100 * r['diff']:+.1f} pp [{100 * r.diff_low:+.1f}, {100 * r.diff_high:+.1f}] "
                f"({r.chosen} pruning of {100 * r.fraction:g} %: {100 * r.acc_odd_locked:.1f} → "
                f"{100 * r.acc_odd_pruned:.1f} %)"
                for m, r in alone.iterrows()
            )
            holds = [m for m, r in alone.iterrows() if r.diff_high < 0.01]
            fails = [m for m, r in alone.iterrows() if r.diff_low > 0.01]
            text += (
                f'; pruning alone moves it {diffs} (paired 95 %), so Table 3\'s "< 1 pp" holds for '
                f"{', '.join(holds) or 'none'} and fails for {', '.join(fails) or 'none'}"
            )
        return text + "."
    prune, summ = pd.read_csv(run / "prune.csv"), pd.read_csv(run / "summary.csv")
    locked = summ[summ.fill == "zero"].set_index("model")["acc_locked"]
    best = prune.groupby(["model", "fine_tuned"])["accuracy"].max().unstack()
    alone = ", ".join(f"{m} {100 * locked[m]:.1f} → {100 * best.loc[m, False]:.1f} %" for m in best.index)
    tuned = ", ".join(f"{m} {100 * best.loc[m, True]:.1f} %" for m in best.index)
    return (
        f"Pruning alone restores little (best of the configurations, picked after the fact, no test: {alone}); "
        f"pruning followed by fine-tuning reaches {tuned}."
    )


def _f3(v, digits: int = 3) -> str:
    return "—" if v != v else f"{v:.{digits}f}"


def leak_attribution(det: pd.DataFrame) -> pd.DataFrame:
    """Per model, the detector that best beats the empirical null on the noise-filled key, beside the same
    detector on the zero-filled key: where it beats the null with both fills, the leak is the ℓ1 ranking's (the
    largest weights, zeroed or refilled, pull the largest gradients), not the fill's."""
    det = det[det.detector != RANDOM_CONTROL]
    noise = det[(det.fill == "noise") & det.precision.notna()]
    best = noise.loc[noise.groupby("model")["lift"].idxmax()]
    zero = det[det.fill == "zero"].set_index(["model", "detector"])
    rows = []
    for r in best.itertuples():
        z = zero.loc[(r.model, r.detector)] if (r.model, r.detector) in zero.index else None
        rows.append(
            dict(
                model=r.model,
                detector=r.detector,
                precision_noise=r.precision,
                p_noise=r.p_null,
                precision_zero=float("nan") if z is None else z.precision,
                p_zero=float("nan") if z is None else z.p_null,
                chance=r.chance,
                beats_null_noise=bool(r.p_null < 0.05),
                beats_null_zero=bool(z is not None and z.p_null < 0.05),
            )
        )
    return pd.DataFrame(rows)


def key_glance() -> str:
    """Which detector finds the key positions, per fill, judged against the empirical null over the key's
    possible positions, and where the leak comes from."""
    run = Path(RUN)
    if not (run / "detectors.csv").exists():
        return "Key positions: the detector table is still to run"
    models = json.loads((run / "config.json").read_text())["models"]
    det = with_chance(pd.read_csv(run / "detectors.csv"), models)
    found = det[(det.fill == "zero") & (det.detector != RANDOM_CONTROL)].groupby("model")["recall"].max()
    leak = leak_attribution(det)
    cells = ", ".join(
        f"{r.model} {r.detector.split(' (')[0]} precision {r.precision_noise:.2f} noise / "
        f"{_f3(r.precision_zero, 2)} zero vs chance {r.chance:.2f}"
        for r in leak.itertuples()
    )
    both = leak.beats_null_noise & leak.beats_null_zero
    where = (
        "with both fills in every model, so the leak is the ℓ1 ranking's, not the fill's"
        if both.all()
        else f"with both fills in {int(both.sum())} of {len(leak)} models"
    )
    return (
        f"Key positions (empirical null over candidate units, {NULL_DRAWS:,} draws): zero fill: exact zeros find "
        f"the key (recall {found.min():.2f}{'' if found.min() == found.max() else f'–{found.max():.2f}'}); "
        f"noise fill: no detector finds half of it, but the best beats the null ({cells}) — {where}"
    )


def converged_glance() -> str:
    """The primary attack against converged from-scratch baselines: how many cells it beats every baseline in, by
    the paired IUT's strength (``inference.strength``), the borderline and failing cells named."""
    path = Path(RUN) / "scratch_converged.csv"
    if not path.exists():
        return "not measured yet"
    v = converged_verdicts(load_finetune(Path(RUN)), pd.read_csv(path))
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
    return (
        f"{PRIMARY_ATTACK} (primary) beats every baseline in " + ", ".join(parts) + f" ({seeds} paired seeds per cell)"
    )

    path = Path(RUN) / "scratch_converged.csv"
    if not path.exists():
        return "not measured yet"
    v = converged_verdicts(load_finetune(Path(RUN)), pd.read_csv(path))
    parts = []
    for m, g in v.groupby("model", sort=False):
        diffs = "/".join(f"{100 * d:+.1f}" for d in g.diff_vs_best)
        shares = "/".join(f"{100 * f:g}" for f in g.fraction)
        verdicts = g.verdict.iloc[0] + " at every share" if g.verdict.nunique() == 1 else "/".join(g.verdict)
        parts.append(
            f"{m} at {shares} % of the data: {verdicts} ({diffs} pp against the best baseline, IUT p "
            f"{'/'.join(f'{p:.2g}' for p in g.p_iut)})"
        )
    measured = set(v.model) if len(v) else set()
    rest = [m for m in ("fcn-7x400", "fcn-13x400", "vgg") if m not in measured]
    return (
        f"{PRIMARY_ATTACK} (primary) — "
        + "; ".join(parts or ["no cell yet"])
        + (f"; {', '.join(rest)} still to run" if rest else "")
    )
