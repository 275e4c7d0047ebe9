"""The attacker's alternative, training from scratch: the short Adam baseline at the fine-tuning budget, and the
baselines trained to convergence on each architecture the attacker may choose (their own share, early stopping on a
held-out fifth)."""

from __future__ import annotations

import logging

import pandas as pd

from empirical._io import write_csv
from empirical.experiments.attacks.config import (
    SCRATCH_ADAM,
    AttackConfig,
    _spec,
)
from empirical.experiments.common.rundir import RunDir, read_table
from empirical.lock import attacks as atk
from empirical.nets.models import make_model
from empirical.nets.train import TrainSpec, load_tensors

log = logging.getLogger(__name__)


def scratch_adam_rows(m: dict, device: str = "cpu", seeds=None) -> pd.DataFrame:
    """Training from scratch with Adam (lr 1e-3, batch 100, the model's fine-tuning epochs) on the same
    stratified subsets as the fine-tuning attacks: a stronger alternative than Adi et al.'s SGD recipe, which
    does not train a deep plain FCN. ``seeds``: default all of the model's."""
    spec = _spec(m)
    (x_tr, y_tr, x_te, y_te), _ = load_tensors(spec, None, device)
    ft = atk.FineTune(epochs=m["ft_epochs"], lr=1e-3, optimizer="adam")
    make = lambda: make_model(spec.arch, spec.hidden_layers, spec.width).to(device)  # noqa: E731
    rows = []
    for frac in m["fractions"]:
        for seed in range(m["seeds"]) if seeds is None else seeds:
            idx = atk.stratified_subset(y_tr, frac, seed)
            acc = atk.accuracy(atk.from_scratch(make, x_tr[idx], y_tr[idx], ft, seed), x_te, y_te)
            rows.append(
                dict(
                    model=m["name"],
                    fill="zero",
                    attack=SCRATCH_ADAM,
                    fraction=frac,
                    seed=seed,
                    n_images=len(idx),
                    accuracy=acc,
                )
            )
            log.info("%s: from scratch (Adam) with %.0f%% of the data, seed %d: %.4f", m["name"], 100 * frac, seed, acc)
    return pd.DataFrame(rows)


def run_scratch_adam(config: AttackConfig, rd: RunDir, device: str = "cpu") -> None:
    """``scratch_adam.csv``: the Adam baseline per model, added to a run (committed runs included) without
    touching its cells; a model's seeds already in the table are kept and only the missing ones run (the run
    grew), the table is rewritten atomically after each model."""
    path = rd.path / "scratch_adam.csv"
    have = read_table(path, required=False)
    frames = [have] if len(have) else []
    for m in config.models:
        done = set(have[have["model"] == m["name"]]["seed"].astype(int)) if len(have) else set()
        todo = [s for s in range(m["seeds"]) if s not in done]
        if not todo:
            continue
        frames.append(scratch_adam_rows(m, device, todo))
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
    for m in (m for m in config.models if "baselines_of" not in m):  # a second owner model shares its baselines
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


def run_scratch_refit(config: AttackConfig, rd: RunDir, device: str = "cpu", seeds: int = CONVERGED_SEEDS):
    """``scratch_refit.csv``, the stronger baselines (issue 39): for each converged baseline of
    ``scratch_converged.csv`` the same network refit on the attacker's *whole* share for the epochs early stopping
    chose (``lock.attacks.refit``), and the second recipe, SGD with momentum and a cosine (``sgd-cosine``), early
    stopped the same way and refit the same way. Rows already in the table are kept (resumable row by row); the
    verdicts then take, per architecture and share, the strongest of the four (``evidence.load_converged``)."""
    path, conv = rd.path / "scratch_refit.csv", read_table(rd.path / "scratch_converged.csv", required=False)
    have = read_table(path, required=False)
    done = set(map(tuple, have[["model", "baseline", "recipe", "fraction", "seed"]].to_numpy())) if len(have) else set()
    frames = [have] if len(have) else []
    for m in (m for m in config.models if "baselines_of" not in m):
        spec = _spec(m)
        (x_tr, y_tr, x_te, y_te), _ = load_tensors(spec, None, device)
        for frac in m["fractions"]:
            for seed in range(seeds):
                idx = atk.stratified_subset(y_tr, frac, seed)
                cap = 10 * m["ft_epochs"] * -(-len(idx) // 100)
                for name in SCRATCH_BASELINES:
                    make = lambda n=name: _baseline_model(n, spec).to(device)  # noqa: E731
                    for recipe in atk.SCRATCH_RECIPES:
                        if (m["name"], name, recipe, frac, seed) in done:
                            continue
                        if recipe == "adam":  # its early-stopped run is the converged table's row
                            prev = conv[(conv.model == m["name"]) & (conv.baseline == name) & (conv.seed == seed)]
                            prev = prev[(prev.fraction - frac).abs() < 1e-12]
                            if not len(prev):
                                continue
                            stopped = prev.iloc[0]
                            best, steps, acc = int(stopped.best_epoch), int(stopped.steps), float(stopped.accuracy)
                        else:
                            run = atk.from_scratch_converged(
                                make, x_tr[idx], y_tr[idx], patience=5, max_steps=cap, seed=seed, recipe=recipe
                            )
                            best, steps, acc = run.best_epoch, run.steps, atk.accuracy(run.model, x_te, y_te)
                        refit = atk.refit(make, x_tr[idx], y_tr[idx], epochs=best, recipe=recipe, seed=seed)
                        row = dict(model=m["name"], baseline=name, recipe=recipe, fraction=frac, seed=seed,
                                   n_images=len(idx), steps=steps, step_cap=cap, best_epoch=best, accuracy_stopped=acc,
                                   accuracy_refit=atk.accuracy(refit, x_te, y_te))  # fmt: skip
                        frames.append(pd.DataFrame([row]))
                        write_csv(path, pd.concat(frames, ignore_index=True))
                        log.info("%s: %s (%s), %.0f%% of the data, seed %d: early stopped %.4f, refit %.4f", m["name"],
                                 name, recipe, 100 * frac, seed, acc, row["accuracy_refit"])  # fmt: skip
    return read_table(path, required=False)
