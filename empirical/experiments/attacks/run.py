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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from empirical._io import write_csv
from empirical.errors import UserError
from empirical.experiments.attacks.baselines import run_scratch_adam, run_scratch_converged, run_scratch_refit
from empirical.experiments.attacks.cells import (
    RANDOM_CONTROL,
    _finetune_rows,
    _keypos_rows,
    _prune_rows,
    detector_table,
    prune_test_rows,
    restoration_rows,
)
from empirical.experiments.attacks.config import (
    CORE_TABLES,
    FCN_7,
    TABLES,
    AttackConfig,
    _merge,
    _spec,
)
from empirical.experiments.attacks.own import OwnAttack, attack_checkpoint, own_summary
from empirical.experiments.common.arguments import DATA_HELP, float_list
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.rundir import Options, RunDir, check_only, read_table
from empirical.host import cpu_model
from empirical.lock import attacks as atk
from empirical.lock.extraction import extract
from empirical.lock.fill import fill_key_positions
from empirical.lock.utility import ratio_for_utility
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.train import RunOptions, load_tensors, train

log = logging.getLogger(__name__)

KIND = "attacks"
DESCRIPTION = (
    "Train the configured models (7×400 and 13×400 MNIST FCNs, a VGG on Fashion-MNIST), lock them, and attack each "
    "with a share of the training data: fine-tuning (FTLL/FTAL/RTLL/RTAL) beside training from scratch, pruning "
    "(magnitude, Fine-Pruning), and the key-position attack; write report.md. Resumable. With --checkpoint: attack "
    "YOUR locked model instead (fine-tuning under SGD and Adam, the key-position attack, training from scratch to "
    "convergence) and write attacks.csv."
)
PRESETS = {
    "default": AttackConfig(),
    "quick": AttackConfig(  # tiny models and shares: a smoke test, minutes
        models=(
            dict(
                FCN_7,
                name="fcn-3x32",
                hidden_layers=3,
                width=32,
                epochs=1,
                fractions=(0.01, 0.02),
                seeds=1,
                ft_epochs=1,
            ),
        ),
        prune_fractions=(0.2,),
        targeted_epochs=(1,),
    ),
}
DEFAULT_PRESET = "default"
PRESET_ALIASES = {"--quick": "quick"}
ONLY = "fcn-7x400_zero,vgg_noise"


@dataclass(frozen=True)
class AttackOptions(Options):
    """``converged_baselines``: only add ``scratch_converged.csv`` to the run; ``own``: attack the user's own
    locked model instead of the configured ones (``attacks_own``)."""

    converged_baselines: bool = False
    own: OwnAttack | None = None


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


def run_cell(m: dict, fill: str, config: AttackConfig, rd: RunDir, device: str = "cpu") -> None:
    model, spec, data = _trained(rd, m, device)
    locked, key = _lock(model, m, data[2], data[3], fill)
    base = dict(model=m["name"], fill=fill)
    acc0, acc_locked = atk.accuracy(model, data[2], data[3]), atk.accuracy(locked, data[2], data[3])
    summary = pd.DataFrame(
        [
            dict(
                **base,
                indicator=m["indicator"],
                k=key.meta["k_total"],
                ratio=key.meta["ratio"],
                acc_original=acc0,
                acc_locked=acc_locked,
            )
        ]
    )
    log.info("%s/%s: locked %d units, %.4f → %.4f", m["name"], fill, key.meta["k_total"], acc0, acc_locked)
    tables = {"summary": summary, "finetune": _finetune_rows(locked, spec, m, data, fill)}
    tables["prune"] = (
        _prune_rows(locked, m, data, config)
        if fill == "zero"
        else pd.DataFrame(columns=["attack", "fraction", "fine_tuned", "accuracy"])
    )
    tables["keypos"] = _keypos_rows(locked, key, m, data, config)
    tables["prune_test"] = prune_test_rows(locked, m, data, config) if fill == "zero" else pd.DataFrame()
    tables["detectors"] = detector_table(locked, key, m, data, config)
    if m.get("restore_seeds", 1) > 1:  # the restoration control over seeds (a cell table beyond TABLES)
        tables["restoration"] = restoration_rows(locked, key, m, data, config, range(m["restore_seeds"]))
    _finish(rd, m, fill, config, tables)


def collect_restoration(rd: RunDir, names) -> pd.DataFrame:
    """``restoration.csv``: the restoration control of every finished cell that measured it."""
    frames = [read_table(p) for n in names if (p := rd.cell_dir(n) / "restoration.csv").exists() and rd.is_finished(n)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(df):
        write_csv(rd.path / "restoration.csv", df)
    return df


def _finish(rd: RunDir, m: dict, fill: str, config: AttackConfig, tables: dict) -> None:
    base = dict(model=m["name"], fill=fill)
    for df in tables.values():
        for k, v in reversed(base.items()):
            if k not in df:
                df.insert(0, k, v)
    rd.finish(f"{m['name']}_{fill}", tables, {**base, "fill_version": config.fill_version})


def _stale(rd: RunDir, name: str, fill: str, config: AttackConfig) -> bool:
    """A finished noise cell locked with an older noise fill: it runs again."""
    done = json.loads((rd.cell_dir(name) / "done.json").read_text())
    return fill == "noise" and done.get("fill_version", 1) < config.fill_version


def extend_cell(m: dict, fill: str, config: AttackConfig, rd: RunDir, device: str = "cpu") -> None:
    """A cell finished before the run grew: add the missing fine-tuning seeds, the pruning test (or its
    pruning-alone row) and the detector table, keeping every row it has. The owner's model is retrained when
    its local checkpoint is gone (the training is deterministic on one host); the lock must reproduce the cell's
    recorded key size and locked accuracy, or the cell runs again from scratch."""
    name = f"{m['name']}_{fill}"
    cdir = rd.cell_dir(name)
    old = {t: read_table(cdir / f"{t}.csv") for t in CORE_TABLES}
    model, spec, data = _trained(rd, m, device)
    locked, key = _lock(model, m, data[2], data[3], fill)
    rec = old["summary"].iloc[0]
    acc_locked = atk.accuracy(locked, data[2], data[3])
    if int(rec["k"]) != key.meta["k_total"] or abs(float(rec["acc_locked"]) - acc_locked) > 1e-9:
        host = json.loads((cdir / "done.json").read_text()).get("host", "an unrecorded host")
        log.warning(
            "%s: the lock does not reproduce the recorded one (recorded on %s: k %s, locked accuracy %.4f; "
            "retrained on %s: k %d, %.4f); running the cell again",
            name,
            host,
            rec["k"],
            rec["acc_locked"],
            cpu_model(),
            key.meta["k_total"],
            acc_locked,
        )
        (cdir / "done.json").unlink()
        return
    ft = old["finetune"]
    have = int(ft["seed"].max()) + 1 if len(ft) else 0
    if have < m["seeds"]:
        log.info("%s: fine-tuning seeds %d..%d", name, have, m["seeds"] - 1)
        ft = pd.concat([ft, _finetune_rows(locked, spec, m, data, fill, range(have, m["seeds"]))], ignore_index=True)
    tables = {**old, "finetune": ft}
    for t in ("prune_test", "detectors"):  # kept where the cell has them in their current form
        if not _outdated(cdir, t):
            tables[t] = read_table(cdir / f"{t}.csv", required=False)
    if "prune_test" not in tables:
        tables["prune_test"] = prune_test_rows(locked, m, data, config) if fill == "zero" else pd.DataFrame()
    if "detectors" not in tables:
        tables["detectors"] = detector_table(locked, key, m, data, config)
    _finish(rd, m, fill, config, tables)


def _outdated(cdir, table: str) -> bool:
    """A review table missing from a finished cell, a pruning test from before it tested pruning alone (no
    ``scope`` column), or a detector table from before its random control."""
    path = cdir / f"{table}.csv"
    if not path.exists():
        return True
    df = read_table(path, required=False)
    if table == "prune_test":
        return len(df) > 0 and "scope" not in df
    return len(df) > 0 and RANDOM_CONTROL not in set(df["detector"])  # before the random control


def _needs_extension(rd: RunDir, m: dict, fill: str, config: AttackConfig) -> bool:
    name = f"{m['name']}_{fill}"
    if not rd.is_finished(name, required=CORE_TABLES) or _stale(rd, name, fill, config):
        return False
    if any(_outdated(rd.cell_dir(name), t) for t in ("prune_test", "detectors")):
        return True
    ft = read_table(rd.cell_dir(name) / "finetune.csv")
    return (int(ft["seed"].max()) + 1 if len(ft) else 0) < m["seeds"]


def run(config: AttackConfig, run_dir, options: AttackOptions = AttackOptions()) -> dict[str, pd.DataFrame]:
    """Every cell not finished yet (``options.only``: a subset), the Adam baseline, then the report. With
    ``options.converged_baselines`` only the converged from-scratch baselines are added (an extension: the cells
    stay as they are); with ``options.own`` the user's own locked model is attacked instead."""
    if options.own is not None:
        return attack_checkpoint(options.own, run_dir, options.device)
    rd = RunDir(run_dir, KIND, config.to_json(), TABLES, merge=_merge)
    cells = {f"{m['name']}_{f}": (m, f) for m, f in config.cells()}
    check_only(options.only, cells)
    with rd.open():
        if options.converged_baselines:
            converged = run_scratch_converged(config, rd, options.device)
            return {"scratch_converged": converged, "scratch_refit": run_scratch_refit(config, rd, options.device)}
        for name, (m, fill) in cells.items():  # cells finished before the run grew (seeds, tests, a new fill)
            if options.only is not None and name not in options.only:
                continue
            if rd.is_finished(name, required=CORE_TABLES) and _stale(rd, name, fill, config):
                log.info("%s: locked with an older noise fill; running it again", name)
                (rd.cell_dir(name) / "done.json").unlink()
            elif _needs_extension(rd, m, fill, config):
                extend_cell(m, fill, config, rd, options.device)
        tables = rd.run_cells(
            list(cells), lambda name: run_cell(*cells[name], config, rd, options.device), options.only
        )
        collect_restoration(rd, list(cells))
        if options.only is None:
            run_scratch_adam(config, rd, options.device)
    return tables


def add_arguments(p) -> None:
    """How an attacks run goes: the built-in cells, or one locked model of the user's (``--checkpoint``; then
    ``--out`` is where ``attacks.csv`` and ``report.md`` go)."""
    p.add_argument(
        "--checkpoint", type=Path, help="a locked model (from `lock`) to attack instead of the built-in ones"
    )
    p.add_argument(
        "--key",
        type=Path,
        help="with --checkpoint: its key, for the original's accuracy and the "
        "key-position attack's precision and recall (never used by an attack)",
    )
    p.add_argument("--model", help="with --checkpoint: FILE.py:FUNCTION building your own nn.Module")
    p.add_argument(
        "--fractions",
        type=float_list,
        default=[0.01, 0.05],
        help="with --checkpoint: the attacker's shares of the training data (default 0.01,0.05)",
    )
    p.add_argument("--seeds", type=int, default=1, help="with --checkpoint: data draws per share (default 1)")
    p.add_argument("--epochs", type=int, default=20, help="with --checkpoint: fine-tuning epochs (default 20)")
    p.add_argument("--no-baseline", action="store_true", help="with --checkpoint: skip training from scratch")
    p.add_argument("--data-root", "--data", dest="data_root", help="with --checkpoint: " + DATA_HELP)
    p.add_argument(
        "--converged-baselines",
        action="store_true",
        help="only add the from-scratch baselines: scratch_converged.csv (Adam to convergence by early stopping, 5 "
        "seeds, the model's own architecture, a 2 x 400 MLP and a small CNN) and scratch_refit.csv (each refit on the "
        "whole share, and SGD-cosine the same way); resumable, the run's cells are not touched",
    )


def options(args) -> AttackOptions:
    own = None
    if args.checkpoint is not None:
        own = OwnAttack(
            checkpoint=args.checkpoint,
            key=args.key,
            model=args.model,
            data_root=args.data_root,
            fractions=tuple(args.fractions),
            seeds=args.seeds,
            epochs=args.epochs,
            baseline=not args.no_baseline,
        )
    else:
        given = [f"--{n}" for n in ("key", "model", "data_root") if getattr(args, n) is not None]
        if given:
            raise UserError(f"{given[0].replace('_', '-')} goes with --checkpoint (your own locked model)")
    return AttackOptions(**common_options(args), converged_baselines=args.converged_baselines, own=own)


def summary(config: AttackConfig, tables: dict[str, pd.DataFrame]) -> str:
    if "attacks" in tables:  # the user's own model
        return own_summary(tables)
    if "scratch_converged" in tables:
        t = tables["scratch_converged"]
        return t.groupby(["model", "baseline", "fraction"])["accuracy"].agg(["mean", "count"]).to_string()
    return tables["summary"].to_string(index=False)
