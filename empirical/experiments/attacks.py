"""Attacks on locked models (Tables 2–3 and the key-position attack), with and without the noise fill.

For each model of the configuration (trained here, resumable): the owner locks it (ℓ1 at the ratio
that leaves chance + 5 pp, or at a fixed ratio; ``empirical.lock``), then an attacker with a stratified
random share of the *training* set tries (``empirical.lock.attacks``):

* fine-tuning — FTLL, FTAL, RTLL, RTAL (Adi et al.), several seeds, beside training the same
  architecture from scratch on the same data (the paper's premise: the attacker could not do better
  alone);
* pruning — magnitude pruning per layer and Fine-Pruning (10–40 %), each without and with a short
  fine-tune (FTAL, ``prune_ft_epochs``);
* the key-position attack — detection precision/recall of "exact zero ⇒ key position" and
  "γ = β = 0 ⇒ key channel", then training only the detected positions.

Cells are model × fill (``zero``: the paper's locked model; ``noise``: ``lock --fill noise``). Fine-tuning
and pruning run on the zero fill (the paper's setting); on the noise fill the detection, the targeted
restoration and FTAL at the largest share. Evaluation: the whole test set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from empirical._io import write_csv, write_text
from empirical.errors import UserError
from empirical.experiments.attack_tests import (  # noqa: F401  (re-exported)
    PRIMARY_ATTACK,
    SECONDARY_ATTACKS,
    converged_verdicts,
    secondary_verdicts,
)
from empirical.experiments.rundir import RunDir, load_tables, read_table
from empirical.lock import attacks as atk
from empirical.lock.extraction import extract
from empirical.lock.fill import fill_key_positions
from empirical.lock.utility import CHANCE, ratio_for_utility
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.models import make_model
from empirical.nets.train import RunOptions, TrainSpec, load_tensors, train

log = logging.getLogger(__name__)

PAPER_TABLE2 = "CIFAR-10, bn-scale at 0.05, 3 trials: fine-tuning with 5 % / 10 % of the training data recovers " \
               "+15–17 / +24–30 pp"  # fmt: skip
PAPER_TABLE3 = "Fashion-MNIST: pruning 20–40 % recovers < 1 pp"
MODELS = (
    dict(name="fcn-7x400", arch="fcn", dataset="mnist", hidden_layers=7, width=400, epochs=15, indicator="l1",
         lock="chance+5pp", fractions=(0.01, 0.05, 0.1), seeds=3, ft_epochs=20),
    dict(name="fcn-13x400", arch="fcn", dataset="mnist", hidden_layers=13, width=400, epochs=15, indicator="l1",
         lock="chance+5pp", fractions=(0.01, 0.05, 0.1), seeds=3, ft_epochs=20),
    dict(name="vgg", arch="vgg", dataset="fashion-mnist", hidden_layers=2, width=16, epochs=4, indicator="l1",
         lock=0.05, fractions=(0.05, 0.1), seeds=2, ft_epochs=10),
)  # fmt: skip
TABLES = ("summary", "finetune", "prune", "keypos")
SCRATCH_ADAM = "from scratch (Adam)"  # the attacker's alternative under the owner's own recipe (Adam lr 1e-3)


@dataclass(frozen=True)
class AttackConfig:
    models: tuple = MODELS
    fills: tuple[str, ...] = ("zero", "noise")
    prune_fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)
    prune_ft_epochs: int = 2
    targeted_epochs: tuple[int, ...] = (1, 5)
    kind: str = "attacks"

    def __post_init__(self):
        for m in self.models:
            if not {"name", "arch", "dataset", "hidden_layers", "width", "epochs", "indicator", "lock"} <= set(m):
                raise UserError(f"model entry {m} lacks fields")
            if not m["fractions"] or any(not 0 < f <= 1 for f in m["fractions"]) or m["seeds"] < 1:
                raise UserError(f"{m['name']}: fractions must lie in (0, 1] and seeds be >= 1")
        if not set(self.fills) <= {"zero", "noise"} or "zero" not in self.fills:
            raise UserError("fills must include zero and be among zero, noise")

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def cells(self) -> list[tuple[dict, str]]:
        return [(m, f) for m in self.models for f in self.fills]


def _spec(m: dict) -> TrainSpec:
    return TrainSpec(hidden_layers=m["hidden_layers"], width=m["width"], epochs=m["epochs"], dataset=m["dataset"],
                     arch=m["arch"], channels_last=m["arch"] != "fcn")  # fmt: skip


def _trained(rd: RunDir, m: dict, device: str):
    """Train the owner's model once per model (shared by its fills); the data as tensors."""
    spec = _spec(m)
    path = train(spec, rd.cell_dir(m["name"]), RunOptions(device=device, progress=False))
    model, _ = load_checkpoint(path, device)
    (x_tr, y_tr, x_te, y_te), _ = load_tensors(spec, None, device)
    if m["arch"] != "fcn":
        model = model.to(memory_format=torch.contiguous_format)
    return model.eval(), spec, (x_tr, y_tr, x_te, y_te)


def _lock(model, m: dict, x_te, y_te, fill: str):
    if m["lock"] == "chance+5pp":
        found = ratio_for_utility(model, x_te, y_te, 0.15, indicator=m["indicator"], window=0, rel_resolution=0.01)
        locked, key = extract(model, None, m["indicator"], k=found.k)
    else:
        locked, key = extract(model, float(m["lock"]), m["indicator"])
    fill_key_positions(locked, key, fill, seed=0)
    return locked.eval(), key


def _finetune_rows(locked, spec, m, data, fill: str) -> pd.DataFrame:
    x_tr, y_tr, x_te, y_te = data
    rows = []
    modes = atk.FT_MODES if fill == "zero" else ("FTAL",)
    fractions = m["fractions"] if fill == "zero" else (max(m["fractions"]),)
    ft = atk.FineTune(epochs=m["ft_epochs"])
    for frac in fractions:
        for seed in range(m["seeds"]):
            idx = atk.stratified_subset(y_tr, frac, seed)
            xa, ya = x_tr[idx], y_tr[idx]
            for mode in modes:
                acc = atk.accuracy(atk.fine_tune(locked, xa, ya, mode, ft, seed), x_te, y_te)
                rows.append(dict(attack=mode, fraction=frac, seed=seed, n_images=len(idx), accuracy=acc))
            if fill == "zero":
                make = lambda: make_model(spec.arch, spec.hidden_layers, spec.width)  # noqa: E731
                acc = atk.accuracy(atk.from_scratch(make, xa, ya, ft, seed), x_te, y_te)
                rows.append(dict(attack="from scratch", fraction=frac, seed=seed, n_images=len(idx), accuracy=acc))
            log.info("%s/%s: fine-tuning with %.0f%% of the data, seed %d done", m["name"], fill, 100 * frac, seed)
    return pd.DataFrame(rows)


def _prune_rows(locked, m, data, config: AttackConfig) -> pd.DataFrame:
    x_tr, y_tr, x_te, y_te = data
    idx = atk.stratified_subset(y_tr, max(m["fractions"]), 0)
    xa, ya = x_tr[idx], y_tr[idx]
    rows = []
    for frac in config.prune_fractions:
        for method, pruned in (("magnitude", atk.magnitude_prune(locked, frac)),
                               ("fine-pruning", atk.fine_prune(locked, xa, frac))):  # fmt: skip
            rows.append(dict(attack=method, fraction=frac, fine_tuned=False, accuracy=atk.accuracy(pruned, x_te, y_te)))
            tuned = atk.fine_tune(pruned, xa, ya, "FTAL", atk.FineTune(epochs=config.prune_ft_epochs))
            rows.append(dict(attack=method, fraction=frac, fine_tuned=True, accuracy=atk.accuracy(tuned, x_te, y_te)))
    return pd.DataFrame(rows)


def _keypos_rows(locked, key, m, data, config: AttackConfig) -> pd.DataFrame:
    x_tr, y_tr, x_te, y_te = data
    detected = atk.detect_key_positions(locked)
    scores = atk.detection_scores(detected, atk.key_positions(key, locked))
    rows = []
    for frac in m["fractions"]:
        idx = atk.stratified_subset(y_tr, frac, 0)
        for epochs in config.targeted_epochs:
            restored = atk.targeted_restore(locked, detected, x_tr[idx], y_tr[idx], epochs=epochs)
            rows.append(dict(**scores, fraction=frac, epochs=epochs, accuracy=atk.accuracy(restored, x_te, y_te)))
    return pd.DataFrame(rows)


def run_cell(m: dict, fill: str, config: AttackConfig, rd: RunDir, device: str = "cpu") -> None:
    model, spec, data = _trained(rd, m, device)
    locked, key = _lock(model, m, data[2], data[3], fill)
    base = dict(model=m["name"], fill=fill)
    acc0, acc_locked = atk.accuracy(model, data[2], data[3]), atk.accuracy(locked, data[2], data[3])
    summary = pd.DataFrame([dict(**base, indicator=m["indicator"], k=key.meta["k_total"], ratio=key.meta["ratio"],
                                 acc_original=acc0, acc_locked=acc_locked)])  # fmt: skip
    log.info("%s/%s: locked %d units, %.4f → %.4f", m["name"], fill, key.meta["k_total"], acc0, acc_locked)
    tables = {"summary": summary, "finetune": _finetune_rows(locked, spec, m, data, fill)}
    tables["prune"] = _prune_rows(locked, m, data, config) if fill == "zero" else pd.DataFrame(
        columns=["attack", "fraction", "fine_tuned", "accuracy"]
    )  # fmt: skip
    tables["keypos"] = _keypos_rows(locked, key, m, data, config)
    for df in tables.values():
        for k, v in reversed(base.items()):
            if k not in df:
                df.insert(0, k, v)
    rd.finish(f"{m['name']}_{fill}", tables, base)


def scratch_adam_rows(m: dict, device: str = "cpu") -> pd.DataFrame:
    """Training from scratch with Adam (lr 1e-3, batch 100, the model's fine-tuning epochs) on the same
    stratified subsets as the fine-tuning attacks: a stronger alternative than Adi et al.'s SGD recipe, which
    does not train a deep plain FCN."""
    spec = _spec(m)
    (x_tr, y_tr, x_te, y_te), _ = load_tensors(spec, None, device)
    ft = atk.FineTune(epochs=m["ft_epochs"], lr=1e-3, optimizer="adam")
    make = lambda: make_model(spec.arch, spec.hidden_layers, spec.width).to(device)  # noqa: E731
    rows = []
    for frac in m["fractions"]:
        for seed in range(m["seeds"]):
            idx = atk.stratified_subset(y_tr, frac, seed)
            acc = atk.accuracy(atk.from_scratch(make, x_tr[idx], y_tr[idx], ft, seed), x_te, y_te)
            rows.append(dict(model=m["name"], fill="zero", attack=SCRATCH_ADAM, fraction=frac, seed=seed,
                             n_images=len(idx), accuracy=acc))  # fmt: skip
            log.info("%s: from scratch (Adam) with %.0f%% of the data, seed %d: %.4f", m["name"], 100 * frac, seed, acc)
    return pd.DataFrame(rows)


def run_scratch_adam(config: AttackConfig, rd: RunDir, device: str = "cpu") -> None:
    """``scratch_adam.csv``: the Adam baseline per model, added to a run (committed runs included) without
    touching its cells; models already in the table are skipped, the table is rewritten atomically."""
    path = rd.path / "scratch_adam.csv"
    have = read_table(path, required=False)
    frames, done = ([have], set(have["model"])) if len(have) else ([], set())
    for m in config.models:
        if m["name"] in done:
            continue
        frames.append(scratch_adam_rows(m, device))
        write_csv(path, pd.concat(frames, ignore_index=True))


SCRATCH_BASELINES = ("own architecture", "MLP 2 × 400", "small CNN")  # the attacker's choices of architecture
CONVERGED_SEEDS = 5


def _baseline_model(name: str, spec: TrainSpec):
    """A freshly initialised network of the attacker's choice (seeded by the caller)."""
    if name == "own architecture":
        return make_model(spec.arch, spec.hidden_layers, spec.width)
    if name == "MLP 2 × 400":
        return make_model("fcn", 2, 400)
    return make_model("vgg", 1, 8)  # takes the flat images of every model's data


def run_scratch_converged(config: AttackConfig, rd: RunDir, device: str = "cpu", seeds: int = CONVERGED_SEEDS):
    """``scratch_converged.csv``: the attacker's from-scratch training run to convergence
    (``empirical.lock.attacks.from_scratch_converged``: Adam 1e-3, batch 100, early stopping on a stratified 20 %
    of the attacker's own share, patience 5 epochs and 300 steps, cap 10× the fine-tuning attack's steps) for
    each model, data
    share, architecture (``SCRATCH_BASELINES``) and seed, with the steps taken and the stopping epoch. Added to
    a finished run without touching its cells; rows already in the table are kept (resumable row by row)."""
    path = rd.path / "scratch_converged.csv"
    have = read_table(path, required=False)
    done = set(map(tuple, have[["model", "baseline", "fraction", "seed"]].to_numpy())) if len(have) else set()
    frames = [have] if len(have) else []
    for m in config.models:
        spec = _spec(m)
        (x_tr, y_tr, x_te, y_te), _ = load_tensors(spec, None, device)
        for frac in m["fractions"]:
            for seed in range(seeds):
                idx = atk.stratified_subset(y_tr, frac, seed)
                cap = 10 * m["ft_epochs"] * -(-len(idx) // 100)  # 10× the fine-tuning attack's steps
                for name in SCRATCH_BASELINES:
                    if (m["name"], name, frac, seed) in done:
                        continue
                    make = lambda n=name: _baseline_model(n, spec).to(device)  # noqa: E731
                    run = atk.from_scratch_converged(make, x_tr[idx], y_tr[idx], patience=5, max_steps=cap, seed=seed)
                    row = dict(
                        model=m["name"],
                        baseline=name,
                        fraction=frac,
                        seed=seed,
                        n_images=len(idx),
                        steps=run.steps,
                        step_cap=cap,
                        best_epoch=run.best_epoch,
                        stop_epoch=run.stop_epoch,
                        heldout_accuracy=run.heldout_accuracy,
                        accuracy=atk.accuracy(run.model, x_te, y_te),
                    )
                    frames.append(pd.DataFrame([row]))
                    write_csv(path, pd.concat(frames, ignore_index=True))
                    log.info(
                        "%s: %s from scratch, %.0f%% of the data, seed %d: %.4f after %d steps",
                        m["name"],
                        name,
                        100 * frac,
                        seed,
                        row["accuracy"],
                        run.steps,
                    )
    return read_table(path, required=False)


def load_finetune(run_dir) -> pd.DataFrame:
    """``finetune.csv`` with the rows of ``scratch_adam.csv`` (where that baseline was run) appended."""
    run_dir = Path(run_dir)
    frames = [read_table(run_dir / name, required=False) for name in ("finetune.csv", "scratch_adam.csv")]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run(config: AttackConfig, run_dir, device: str = "cpu", only: list[str] | None = None) -> dict:
    rd = RunDir(run_dir, "attacks", config.to_json(), TABLES)
    names = [f"{m['name']}_{f}" for m, f in config.cells()]
    if only and [n for n in only if n not in names]:
        raise UserError(f"cell(s) {[n for n in only if n not in names]} are not in this configuration ({names})")
    with rd.open():
        for m, fill in config.cells():
            name = f"{m['name']}_{fill}"
            if (only and name not in only) or rd.is_finished(name):
                continue
            run_cell(m, fill, config, rd, device)
            rd.collect(names)
        tables = rd.collect(names)
        if not only:
            run_scratch_adam(config, rd, device)
        write_report(run_dir)
    return tables


# ------------------------------------------------------------------------------------------ report
def _mean_sd(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, as_index=False)["accuracy"]
    out = g.agg(mean="mean", sd="std", n="count")
    return out


def write_report(run_dir) -> Path:
    """``report.md`` (tables beside the paper's Tables 2–3, verdicts) and the recovered-accuracy figure."""
    import figures
    from empirical.experiments.markdown import md_table
    from figures.attacks import recovered_vs_data

    run_dir = Path(run_dir)
    t = load_tables(run_dir, TABLES, "summary", "attacks", "attacks")
    summ, ft, pr, kp = t["summary"], load_finetune(run_dir), t["prune"], t["keypos"]
    paths = (
        [figures.save(recovered_vs_data(ft, summ), run_dir / "figures" / "recovered_vs_data.png")] if len(ft) else []
    )
    parts = ["# Attacks on locked models (Tables 2–3, the key-position attack, the noise fill)", "",
             "## The locked models", "", md_table(summ), ""]  # fmt: skip
    if len(ft):
        parts += ["## Fine-tuning (Adi et al.) vs training from scratch on the attacker's data (mean ± sd over seeds)",
                  "", f"Paper, Table 2: {PAPER_TABLE2}.", "",
                  md_table(_mean_sd(ft, ["model", "fill", "attack", "fraction"])), ""]  # fmt: skip
        parts += verdict_finetune(ft, summ)
        conv = read_table(run_dir / "scratch_converged.csv", required=False)
        v = converged_verdicts(ft[ft["seed"].notna()], conv) if len(conv) else pd.DataFrame()
        if len(v):
            parts += [f"## {PRIMARY_ATTACK} (the primary attack, declared before the runs) against training from "
                      "scratch to convergence", "",
                      "Each baseline: Adam 1e-3, batch 100, early stopping on a stratified 20 % of the attacker's "
                      "data (patience 5 epochs and 300 steps, cap 10× fine-tuning's steps), 5 seeds; the attacker's "
                      "choice of architecture. The verdict needs the attack to beat *every* architecture: an "
                      "intersection-union test of one-sided Welch tests at α = 0.05 (`p_iut`: the largest of them).",
                      "", md_table(v.round(4)), ""]  # fmt: skip
            sec = secondary_verdicts(ft[ft["seed"].notna()], conv)
            if len(sec):
                parts += [f"Secondary attacks ({', '.join(SECONDARY_ATTACKS)}): the same test, Holm-corrected over the "
                          "three within each model and data share (`p_holm`).", "",
                          md_table(sec.round(4)), ""]  # fmt: skip
    if len(pr):
        parts += ["## Pruning (magnitude per layer, Fine-Pruning), without and with a short fine-tune", "",
                  f"Paper, Table 3: {PAPER_TABLE3}.", "", md_table(pr), ""] + verdict_prune(pr, summ)  # fmt: skip
    if len(kp):
        parts += ["## The key-position attack", "",
                  "Detection: every exact zero of a weight and every BN channel with γ = β = 0 is guessed to be a key "
                  "position (precision and recall on the values of the real key). Targeted restoration: only the "
                  "detected positions are trained (SGD lr 0.01), everything else stays bit for bit.", "",
                  md_table(kp), ""] + verdict_keypos(kp, summ)  # fmt: skip
    parts += [f"![{p.stem}](figures/{p.name})" for p in paths] + [""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path


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
        if scratch <= CHANCE + 0.05:  # no from-scratch recipe trained: the baseline understates the attacker
            note = " (from scratch did not train, so the baseline is weak)"
        which = (" (Adam)" if base.idxmax() == SCRATCH_ADAM else " (SGD)") if len(base) > 1 else ""
        lines.append(f"* {model}, {100 * frac:g} % of the training data: best fine-tuning {best.idxmax()} "
                     f"{100 * best.max():.2f} % (from {100 * locked:.2f} % locked) vs from scratch{which} "
                     f"{100 * scratch:.2f} %{note}; claim \"fine-tuning recovers less than training from "
                     f"scratch\": **{verdict}**")  # fmt: skip
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
        lines.append(f"* {model}: the best pruning leaves {100 * best:.2f} % ({gain:+.2f} ± {two_se:.2f} pp from "
                     f"the locked {100 * locked:.2f} %): **{verdict}**")  # fmt: skip
    return lines + [""]


def verdict_keypos(kp: pd.DataFrame, summ: pd.DataFrame) -> list[str]:
    lines = ["Verdicts:", ""]
    for (model, fill), g in kp.groupby(["model", "fill"]):
        s = summ[(summ["model"] == model) & (summ["fill"] == fill)].iloc[0]
        best = g.loc[g["accuracy"].idxmax()]
        lines.append(f"* {model}, fill {fill}: detection precision {g['precision'].iloc[0]:.3f}, recall "
                     f"{g['recall'].iloc[0]:.3f}; targeted restoration reaches {100 * best['accuracy']:.2f} % "
                     f"(original {100 * s['acc_original']:.2f} %, locked {100 * s['acc_locked']:.2f} %) with "
                     f"{100 * best['fraction']:g} % of the data and {int(best['epochs'])} epoch(s)")  # fmt: skip
    return lines + [""]


__all__ = ["AttackConfig", "MODELS", "run", "write_report"]
