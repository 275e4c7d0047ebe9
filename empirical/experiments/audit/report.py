"""The audit's report from its tables: ``audit.md`` (the model, the key for the target per unit kind, the bounds at
it, resistance to fine-tuning and pruning, key-position exposure, the recommendation and the ``lock`` command that
applies it), ``summary.json`` and the utility-curve figure. Reads tables; never the measurement code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import figures
from empirical._io import write_text
from empirical.experiments.audit.config import ALPHA, BUDGETS, TABLES, TOLERANCE, UNIT_KINDS
from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.rundir import load_tables
from empirical.experiments.common.statistics import paired_t
from empirical.experiments.common.verdicts import section, table
from figures.audit import utility_curves

THREAT_MODEL = (
    "The attacker holds the locked model and a class-stratified share of the owner's training data. They may "
    "fine-tune every layer (FTAL; RTAL re-initialises the classifier first), train the same architecture from scratch "
    "on that share to convergence, prune (magnitude, Fine-Pruning), or look for the key's positions in the weights "
    "(exact zeros, repeated magnitudes, large gradients) and retrain only those. They never see the key."
)


def finetune_tests(rows: pd.DataFrame) -> pd.DataFrame:
    """Per unit kind, share and attack: recovered accuracy, its margin over training from scratch on the same seeds
    (paired) with its 95 % interval, and the one-sided p that the attack beats training from scratch (2+ seeds)."""
    out = []
    for (kind, share, attack), g in rows[rows.attack != "from scratch"].groupby(["unit_kind", "share", "attack"]):
        base = rows[(rows.attack == "from scratch") & (rows.unit_kind == kind) & np.isclose(rows.share, share)]
        a, b = g.set_index("seed")["accuracy"], base.set_index("seed")["accuracy"]
        seeds = sorted(set(a.index) & set(b.index))
        row = dict(
            unit_kind=kind,
            share=share,
            attack=attack,
            seeds=len(seeds),
            recovered=float(a.mean()),
            from_scratch=float(b.mean()),
            margin=float((a[seeds] - b[seeds]).mean()) if seeds else np.nan,
            margin_low=np.nan,
            margin_high=np.nan,
            p_beats_scratch=np.nan,
        )
        if len(seeds) >= 2:
            t = paired_t(a[seeds].to_numpy(), b[seeds].to_numpy())
            row.update(margin_low=t["low"], margin_high=t["high"], p_beats_scratch=t["p_greater"])
        out.append(row)
    return pd.DataFrame(out)


def headline(t: pd.Series) -> str:
    """ "with x % of the data, fine-tuning recovers y %, z pp above training from scratch [interval]"."""
    ci = (
        f" [{100 * t.margin_low:+.1f}, {100 * t.margin_high:+.1f}]"
        if t.margin_low == t.margin_low
        else " (one seed: no interval)"
    )
    return (
        f"with {100 * t.share:g} % of the data, {t.attack} recovers {100 * t.recovered:.1f} %, "
        f"{100 * t.margin:+.1f} pp against training from scratch{ci}"
    )


def _target(key, fill: str, target: float) -> tuple[bool, str]:
    """Whether ``key`` (a ``keys`` row) with ``fill`` meets the target on the held-out half, and the words for it. The
    search runs with the zero fill; the noise fill's accuracy is measured on the same key (an audit from before it
    was measured: not met, and said so)."""
    acc = getattr(key, "accuracy_heldout" if fill == "zero" else "accuracy_heldout_noise", float("nan"))
    if acc != acc:
        return False, f"the {fill} fill's locked accuracy is not measured (an older audit: run it again)"
    words = f"held-out accuracy {100 * acc:.1f} % with the {fill} fill against target {100 * target:.1f} % + "
    return bool(acc <= target + TOLERANCE), words + f"{100 * TOLERANCE:.0f} pp"


def candidates(keys: pd.DataFrame, finetune: pd.DataFrame, exposure: pd.DataFrame, cfg: dict) -> list[dict]:
    """Every candidate key (unit kind × fill) with the three conditions it is judged on: (a) the held-out locked
    accuracy with that fill is within the target's tolerance, (b) at the owner's share no fine-tuning attack beats
    training from scratch (one-sided, at ``ALPHA``; with one seed: a margin of at most 1 pp; measured on the zero
    fill's lock), (c) no detector beats its null with that fill; ``fails`` says which fail, by how much, and
    ``exposed`` the largest share of the key that a detector beating its null finds (its recall; 0 where none
    does)."""
    share = cfg["owner_share"] if cfg.get("owner_share") is not None else max(finetune["share"])
    tests = finetune_tests(finetune)
    cands = []
    for r in keys.itertuples():
        t = tests[(tests.unit_kind == r.unit_kind) & np.isclose(tests.share, share)]
        worst = t.loc[t["margin"].idxmax()] if len(t) else None
        if worst is not None and worst["seeds"] >= 2:
            ft_ok = bool(not worst["p_beats_scratch"] < ALPHA)
        else:
            ft_ok = bool(worst is not None and worst["margin"] <= 0.01)
        ft_text = (
            f"{worst['attack']} recovers {100 * worst['recovered']:.1f} % with {100 * share:g} % of the data, "
            f"{100 * worst['margin']:+.1f} pp over training from scratch ({int(worst['seeds'])} seed(s))"
            if worst is not None
            else "no fine-tuning attack measured"
        )
        for fill in ("zero", "noise"):
            meets, target_text = _target(r, fill, cfg["target"])
            e = exposure[(exposure.unit_kind == r.unit_kind) & (exposure.fill == fill)]
            leaks = e[e.beats_null]
            fails = [target_text] * (not meets) + [ft_text] * (not ft_ok and worst is not None)
            if len(leaks):
                fails.append(f"{len(leaks)} detector(s) beat their null ({', '.join(leaks.detector)})")
            cands.append(
                dict(
                    unit_kind=r.unit_kind,
                    fill=fill,
                    k=r.k,
                    key_values=r.key_values,
                    share=share,
                    meets_target=meets,
                    target_text=target_text,
                    resists_finetuning=ft_ok,
                    finetune_text=ft_text,
                    hidden=not len(leaks),
                    leaks=", ".join(leaks.detector),
                    exposed=float(leaks["recall"].max()) if len(leaks) else 0.0,
                    fails=fails,
                )
            )
    return cands


def recommend(keys: pd.DataFrame, finetune: pd.DataFrame, exposure: pd.DataFrame, cfg: dict) -> dict:
    """The smallest key (values), its unit kind and fill, that meets all three conditions of ``candidates``; where
    none does, one that meets the target (a key that leaves the model above it does not do what the owner asked),
    then the one that fails the fewest conditions, then whose positions a detector finds the least of (a key found
    whole by its exact zeros is worse than one found in part), then the smallest, with what it fails."""
    cands = candidates(keys, finetune, exposure, cfg)
    share = cfg["owner_share"] if cfg.get("owner_share") is not None else max(finetune["share"])
    keep = ("unit_kind", "fill", "k", "key_values", "fails")
    ok = sorted([c for c in cands if not c["fails"]], key=lambda c: c["key_values"])
    if ok:
        best = {k: ok[0][k] for k in keep if k != "fails"}
        return dict(status="recommended", share=share, **best, fails=[])
    rank = lambda c: (not c["meets_target"], len(c["fails"]), c["exposed"], c["key_values"])  # noqa: E731
    best = min(cands, key=rank) if cands else None
    return dict(status="none meets all three", share=share, **({k: best[k] for k in keep} if best else {}))


def verdicts(run_dir) -> pd.DataFrame:
    """The audit's verdicts: per unit kind, whether its smallest key meets the target held out and resists
    fine-tuning at the owner's share, and per fill whether its positions stay hidden (``candidates``)."""
    return verdicts_of(load(run_dir))


def verdicts_of(t: dict) -> pd.DataFrame:
    """``verdicts`` from the audit's tables."""
    cfg = t["config"]
    scope = f"this model, budget `{cfg['budget']}` ({BUDGETS[cfg['budget']]['seeds']} seed(s) per attack)"
    rows = []
    for c in candidates(t["keys"], t["finetune"], t["exposure"], cfg):
        where = f"audit, {c['unit_kind']} key (k = {int(c['k'])})"

        def row(claim: str, ok: bool, numbers: str, tolerance: str) -> dict:
            return dict(
                where=where, claim=claim, verdict="PASS" if ok else "FAIL", numbers=numbers, tolerance=tolerance
            )

        target = f"{100 * cfg['target']:.1f} %"
        rows.append(
            row(f"with the {c['fill']} fill it brings the model to the target {target} on held-out images",
                c["meets_target"], c["target_text"], f"+ {100 * TOLERANCE:.0f} pp")
        )  # fmt: skip
        if c["fill"] == "zero":
            rows.append(
                row(f"fine-tuning with {100 * c['share']:g} % of the data does no better than training from scratch",
                    c["resists_finetuning"], c["finetune_text"],
                    f"paired one-sided t, α = {ALPHA:g} (one seed: a margin of at most 1 pp)")
            )  # fmt: skip
        leaks = f"detectors above their null: {c['leaks']}" if c["leaks"] else "no detector beats its null"
        rows.append(
            row(f"its positions stay hidden with the {c['fill']} fill", c["hidden"], leaks,
                f"null of random candidate units, α = {ALPHA:g}")
        )  # fmt: skip
    return table([{**r, "scope": scope} for r in rows])


def load(run_dir) -> dict:
    return load_tables(run_dir, (*TABLES, "model"), "keys", "audit", "audit")


def lock_command(rec: dict, summary: dict) -> str:
    parts = ["corelocker-bounds lock", f"--checkpoint {summary.get('checkpoint', 'MODEL.safetensors')}"]
    if summary.get("model_builder"):
        parts.append(f"--model {summary['model_builder']}")
    if summary.get("data"):
        parts.append(f"--data {summary['data']}")
    parts += [
        f"--indicator {rec['unit_kind']}",
        f"--k {int(rec['k'])}",
        f"--fill {rec['fill']}",
        "--out-model locked.safetensors --key key.safetensors",
    ]
    return " ".join(parts)


def recommendation_text(rec: dict, share: float) -> str:
    """The recommendation in words: the key to ship, or the best trade-off and what it fails."""
    if rec["status"] == "recommended":
        return (
            f"Ship the **{rec['unit_kind']}** key of k = {int(rec['k'])} units ({int(rec['key_values']):,} "
            f"values) with the **{rec['fill']}** fill: it meets the target, no fine-tuning attack beats "
            f"training from scratch with {100 * share:g} % of the data, and no detector beats its null."
        )
    return (
        "No candidate meets all three conditions. The best trade-off (one that meets the target, then the fewest "
        "failed conditions, then the smallest share of the key a detector finds, then the smallest key): the "
        f"{rec.get('unit_kind')} key (k = {rec.get('k')}) with the {rec.get('fill')} fill, which fails: "
        + "; ".join(rec.get("fails", []))
        + "."
    )


def render(t: dict, rec: dict, summary: dict) -> str:
    """``audit.md`` from the tables (``t``), the recommendation and the run's summary."""
    cfg = t["config"]
    keys, model, ft, exp, pr, bounds = (t[k] for k in ("keys", "model", "finetune", "exposure", "pruning", "bounds"))
    tests = finetune_tests(ft)
    share = rec["share"]
    lines = [
        f"# Audit: which key to ship ({summary.get('checkpoint', 'the model')})",
        "",
        f"Target accuracy {100 * cfg['target']:.1f} % (held out, within {100 * TOLERANCE:.0f} pp), budget "
        f"`{cfg['budget']}` ({BUDGETS[cfg['budget']]['seeds']} seed(s) per attack), the attacker's shares "
        f"{', '.join(f'{100 * s:g} %' for s in sorted(set(ft.share)))}; the recommendation is judged at "
        f"{100 * share:g} %.",
        "",
        f"**Threat model.** {THREAT_MODEL}",
        "",
        *section(verdicts_of(t)),
    ]
    acc = float(model["test_accuracy"].iloc[0])
    lines += [
        "## 1. The model",
        "",
        f"{int(model.parameters.sum()):,} parameters in {len(model)} modules; test "
        f"accuracy {100 * acc:.2f} % (chance {100 * float(model['chance'].iloc[0]):.1f} %).",
        "",
        md_table(model.drop(columns=["test_accuracy", "chance"])),
        "",
    ]
    lines += [
        "## 2. The key for the target",
        "",
        "Per unit kind, the smallest key whose locked accuracy on the even "
        "test images is at most the target, checked on the odd ones (bytes: float32 values and int64 "
        "positions).",
        "",
        md_table(
            keys.drop(columns=["units"]).assign(unit_kind=[f"{k} ({UNIT_KINDS.get(k, k)})" for k in keys.unit_kind])
        ),
        "",
        "![utility curves](figures/utility_curves.png)",
        "",
    ]
    lines += [
        "## 3. The bounds at that key",
        "",
        "Per named layer: the measured disparity d against Theorem 2's G, the sandwich d <= G + B (must hold on "
        "every sample), and the chain bound where the layer is on a chain.",
        "",
        md_table(bounds),
        "",
    ]
    lines += [
        "## 4. Resistance to fine-tuning",
        "",
        "Each attack against the attacker's training from scratch to "
        "convergence on the same subset (paired by seed; one-sided p that the attack is better).",
        "",
        *[
            f"* {r.unit_kind}: {headline(r)}"
            + (f", p = {r.p_beats_scratch:.2g}" if r.p_beats_scratch == r.p_beats_scratch else "")
            for r in tests.itertuples()
        ],
        "",
        md_table(tests),
        "",
    ]
    lines += [
        "## 5. Key-position exposure",
        "",
        "Every detector against the key with the zero fill and the noise "
        f"fill; p against a null of random candidate units ({ALPHA:g} level); the best detector's positions "
        "retrained (restored accuracy).",
        "",
        md_table(exp),
        "",
    ]
    lines += [
        "## 6. Pruning",
        "",
        "Magnitude pruning and Fine-Pruning, alone and with a short fine-tune on the smallest share.",
        "",
        md_table(pr),
        "",
    ]
    lines += ["## 7. The recommendation", "", recommendation_text(rec, share)]
    lines += ["", "Lock it with (the audit never writes a key):", "", "```bash", lock_command(rec, summary), "```", ""]
    return "\n".join(lines)


def write_report(run_dir) -> Path:
    """``audit.md``, ``summary.json`` and ``figures/utility_curves.png`` from the run's tables."""
    run_dir = Path(run_dir)
    t = load(run_dir)
    meta_path = run_dir / "audit_inputs.json"
    summary = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    rec = recommend(t["keys"], t["finetune"], t["exposure"], t["config"])
    figures.save(
        utility_curves(t["curve"], t["keys"], t["config"]["target"]), run_dir / "figures" / "utility_curves.png"
    )
    tests = finetune_tests(t["finetune"])
    write_text(
        run_dir / "summary.json",
        json.dumps(
            dict(
                recommendation=rec,
                lock_command=lock_command(rec, summary),
                headlines=[f"{r.unit_kind}: {headline(r)}" for r in tests.itertuples()],
                keys=t["keys"].to_dict("records"),
            ),
            indent=1,
            default=float,
        )
        + "\n",
    )
    write_text(run_dir / "audit.md", render(t, rec, summary))
    return run_dir / "audit.md"
