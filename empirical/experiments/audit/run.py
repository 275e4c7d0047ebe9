"""The audit's measurements: for each unit kind the smallest key that reaches the owner's target, the bounds at that
key, fine-tuning against training from scratch, key-position exposure against its null, and pruning — each a pure
step over (model, data), composed per unit kind into one resumable cell.

Threat model: the attacker holds the locked model and a class-stratified share of the owner's training data, and
may fine-tune every layer (FTAL; RTAL re-initialises the classifier first), train the same architecture from
scratch on that share (to convergence, early stopping on a held-out fifth of it), prune, or look for the key's
positions in the weights (exact zeros, repeated magnitudes, large gradients). They never see the key.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.experiments.audit.config import ALPHA, BUDGETS, TOLERANCE, UNIT_KINDS, AuditConfig
from empirical.lock import attacks as atk
from empirical.lock.detectors import detection_scores, detector_positions, key_positions, value_counts
from empirical.lock.extraction import extract
from empirical.lock.fill import fill_key_positions
from empirical.lock.ranking import candidates
from empirical.lock.sweep import accuracy_curve
from empirical.lock.utility import check_target, ratio_for_utility, split_halves
from empirical.measure import measure, measure_module, supports_stages

log = logging.getLogger(__name__)
NULL_DRAWS = 2_000  # random candidate-unit sets per detector row


@dataclass(frozen=True)
class AuditData:
    """The owner's data as the model reads it (normalised): training (the attacker's shares come from it) and test
    (the key search uses the even images, the check the odd ones)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def chance(self) -> float:
        return 1.0 / (int(max(self.y_train.max(), self.y_test.max())) + 1)


def applicable_kinds(model: nn.Module, budget: str) -> list[str]:
    """The unit kinds this model can be locked by (``UNIT_KINDS``), the budget's first ones."""
    kinds = ["l1", "l1-neuron"]
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        kinds.insert(1, "l1-channel")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        kinds.insert(1, "bn-scale")
    usable = []
    for k in kinds:
        try:
            if candidates(model, k, "hidden"):
                usable.append(k)
        except (UserError, ValueError):
            continue
    n = BUDGETS[budget]["kinds"]
    return usable[:n] if n else usable


def fresh_copy(model: nn.Module, seed: int) -> nn.Module:
    """The same architecture, newly initialised (every module's ``reset_parameters``): the attacker's from-scratch
    model, whatever the user's class is. A parameter that no ``reset_parameters`` covers (one a custom module
    holds directly) is drawn again from a normal with its own mean and standard deviation, never kept: a baseline
    that starts from trained weights would not be from scratch."""
    out = copy.deepcopy(model)
    reset = set()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in out.modules():
            if hasattr(m, "reset_parameters") and m is not out:
                m.reset_parameters()
                reset |= {id(p) for p in m.parameters()}
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
        with torch.no_grad():
            for name, p in out.named_parameters():
                if id(p) not in reset:
                    log.warning("%s has no reset_parameters: the from-scratch model draws it from N(mean, sd)", name)
                    sd = float(p.std()) if p.numel() > 1 else 0.0
                    if sd > 0:
                        p.normal_(float(p.mean()), sd)
                    else:
                        p.fill_(float(p.mean()))
    return out.train()


def key_row(model, data: AuditData, target: float, indicator: str) -> tuple[dict, nn.Module, object]:
    """The smallest key of ``indicator`` whose locked accuracy (zero fill) on the even test images is at most the
    target, checked on the odd ones: its size in units, values and bytes (float32 values plus int64 positions), and
    the same key's accuracies with the noise fill, which the key search does not see (noise in the key's positions
    can leave the model far more accurate than zeros: the VGG's bn-scale key, 13.0 % zero-filled, 90.1 % noisy)."""
    choice = ratio_for_utility(model, data.x_test, data.y_test, target, indicator=indicator, chance=data.chance)
    locked, key = extract(model, k=choice.k, indicator=indicator)
    values = value_counts(key_positions(key, locked))
    noisy = copy.deepcopy(locked)  # the same key with the noise fill (`lock --fill noise`, seed 0) moves the accuracy
    fill_key_positions(noisy, copy.deepcopy(key), "noise", seed=0)
    (xs, ys), (xh, yh) = split_halves(data.x_test, data.y_test)
    noise_heldout = atk.accuracy(noisy, xh, yh)
    n_params = sum(p.numel() for p in model.parameters())
    row = dict(
        unit_kind=indicator,
        units=UNIT_KINDS.get(indicator, indicator),
        k=choice.k,
        ratio=choice.ratio,
        key_values=values,
        key_bytes=values * 4 + choice.k * 8,
        share_of_parameters=values / n_params,
        accuracy_selection=choice.accuracy,
        accuracy_heldout=choice.accuracy_heldout,
        accuracy_original=choice.accuracy_original,
        meets_target=bool(choice.accuracy_heldout <= target + TOLERANCE),
        accuracy_selection_noise=atk.accuracy(noisy, xs, ys),
        accuracy_heldout_noise=noise_heldout,
        meets_target_noise=bool(noise_heldout <= target + TOLERANCE),
    )
    return row, locked.eval(), key


def accuracy_curve_rows(model, data: AuditData, indicator: str, ratio: float) -> pd.DataFrame:
    """The utility curve around the key: test accuracy at ratios from a tenth to ten times the key's (nested sets,
    one ranking)."""
    ratios = sorted({float(r) for r in np.geomspace(max(ratio / 10, 1e-6), min(ratio * 10, 0.99), 9)} | {ratio})
    curve = accuracy_curve(model, data.x_test, data.y_test, ratios, indicator, seed=0)
    return curve.assign(unit_kind=indicator)[["unit_kind", "ratio", "n_extracted", "top1"]]


def bounds_rows(model, locked, data: AuditData, n: int = 200) -> pd.DataFrame:
    """Per named layer, at the key: d against G, the sandwich, and the chain bound where it applies (stages for an
    MLP or a chain of known layers, hooks for any other module)."""
    x, y = data.x_test[:n], data.y_test[:n]
    if supports_stages(model):
        layers = measure(model, locked, x, y).layers
        cols = [
            c
            for c in (
                "layer",
                "module",
                "n_extracted",
                "d_median",
                "G_median",
                "sandwich_holds_frac",
                "theorem2_holds_frac",
                "theorem3_meas_tightness_median",
                "theorem3_probability_vacuous",
                "theorem4_meas_tightness_median",
            )
            if c in layers
        ]
        return layers[cols].assign(method="stages")
    layers = measure_module(model, locked, x, y)["layers"]
    cols = [
        c
        for c in (
            "layer",
            "kind",
            "n_extracted",
            "d_median",
            "G_median",
            "sandwich_holds_frac",
            "theorem2_holds_frac",
            "chain_bound",
            "theorem3_tightness_median",
        )
        if c in layers
    ]
    return layers[cols].assign(method="hooks")


def finetune_rows(model, locked, data: AuditData, shares, budget: str) -> pd.DataFrame:
    """FTAL (and RTAL at the larger budgets) with Adam on each share and seed, beside the attacker's training from
    scratch to convergence on the same subset (the paired design)."""
    b = BUDGETS[budget]
    ft = replace(atk.RECIPES["adam"], epochs=b["epochs"])
    modes = ["FTAL"] + (["RTAL"] if b["rtal"] else [])
    rows = []
    for share in shares:
        for seed in range(b["seeds"]):
            idx = atk.stratified_subset(data.y_train, share, seed=seed)
            x, y = data.x_train[idx], data.y_train[idx]
            for mode in modes:
                tuned = atk.fine_tune(locked, x, y, mode, ft, seed)
                rows.append(
                    dict(share=share, seed=seed, attack=mode, accuracy=atk.accuracy(tuned, data.x_test, data.y_test))
                )
            run = atk.from_scratch_converged(
                lambda s=seed: fresh_copy(model, s),
                x,
                y,
                seed=seed,
                max_steps=max(600, 10 * b["epochs"] * -(-len(idx) // 100)),
            )
            rows.append(
                dict(
                    share=share,
                    seed=seed,
                    attack="from scratch",
                    accuracy=atk.accuracy(run.model, data.x_test, data.y_test),
                    steps=run.steps,
                )
            )
    return pd.DataFrame(rows)


def _null_p(hits: int, detected: int, key_values: int, cands: list) -> tuple[float, float]:
    """(chance, p) of ``hits`` key values among ``detected`` flagged ones under random candidate units (drawn whole
    when the units share one size; a value-level draw otherwise, stated in the table)."""
    sizes = {c.unit_size for c in cands}
    size = sizes.pop() if len(sizes) == 1 else 1
    n_units = sum(c.n_units * c.unit_size for c in cands) // size
    key_units = min(round(key_values / size), n_units)
    drawn = min(max(1, round(detected / size)), n_units)  # a detector flagging beyond the candidates: all of them
    null = np.random.default_rng(0).hypergeometric(key_units, n_units - key_units, drawn, NULL_DRAWS) * size
    return key_units / n_units, float((1 + np.sum(null >= hits)) / (1 + NULL_DRAWS))


def exposure_rows(locked, key, indicator: str, data: AuditData, share: float) -> pd.DataFrame:
    """Every key-position detector against the key, with the zero fill and with the noise fill, each against its
    null over the candidate units; the best detector's positions retrained (targeted restoration)."""
    cands = candidates(locked, indicator, "hidden")
    idx = atk.stratified_subset(data.y_train, share, seed=0)
    x, y = data.x_train[idx], data.y_train[idx]
    rows = []
    for fill in ("zero", "noise"):
        model = copy.deepcopy(locked)
        if fill == "noise":
            fill_key_positions(model, key, "noise", seed=0)
        truth = key_positions(key, model)
        k = value_counts({n: p for n, p in truth.items() if n.endswith("weight")}) or value_counts(truth)
        found = detector_positions(model, k, x, y)
        best = None
        for name, pos in found.items():
            s = detection_scores(pos, truth)
            hits = round((s["precision"] if s["precision"] == s["precision"] else 0) * s["detected"])
            chance, p = _null_p(hits, s["detected"], s["key_values"], cands) if s["detected"] else (float("nan"), 1.0)
            row = dict(
                fill=fill,
                detector=name,
                detected=s["detected"],
                key_values=s["key_values"],
                precision=s["precision"],
                recall=s["recall"],
                chance=chance,
                p_null=p,
                beats_null=bool(p < ALPHA),
                restored_accuracy=float("nan"),
            )
            rows.append(row)
            if s["detected"] and (best is None or (s["recall"] or 0) > (best[1]["recall"] or 0)):
                best = (pos, row)
        if best is not None:
            restored = atk.targeted_restore(model, best[0], x, y, epochs=3)
            best[1]["restored_accuracy"] = atk.accuracy(restored, data.x_test, data.y_test)
    return pd.DataFrame(rows)


def pruning_rows(locked, data: AuditData, fractions, share: float, epochs: int) -> pd.DataFrame:
    """Magnitude pruning and Fine-Pruning at each fraction, alone and followed by a short fine-tune (FTAL, Adam) on
    the attacker's share."""
    idx = atk.stratified_subset(data.y_train, share, seed=0)
    x, y = data.x_train[idx], data.y_train[idx]
    ft = replace(atk.RECIPES["adam"], epochs=max(1, epochs // 2))
    rows = []
    for method, prune in (
        ("magnitude", lambda f: atk.magnitude_prune(locked, f)),
        ("fine-pruning", lambda f: atk.fine_prune(locked, x, f)),
    ):
        for f in fractions:
            pruned = prune(f)
            tuned = atk.fine_tune(pruned, x, y, "FTAL", ft, 0)
            for tuned_too, m in ((False, pruned), (True, tuned)):
                rows.append(
                    dict(
                        method=method,
                        fraction=f,
                        fine_tuned=tuned_too,
                        accuracy=atk.accuracy(m, data.x_test, data.y_test),
                    )
                )
    return pd.DataFrame(rows)


def audit_kind(model, data: AuditData, config: AuditConfig, indicator: str) -> dict[str, pd.DataFrame]:
    """Every measurement for one unit kind (one resumable cell)."""
    key, locked, access = key_row(model, data, config.target, indicator)
    tables = {"keys": pd.DataFrame([key])}
    tables["curve"] = accuracy_curve_rows(model, data, indicator, key["ratio"])
    b = BUDGETS[config.budget]
    tables["bounds"] = bounds_rows(model, locked, data).assign(unit_kind=indicator)
    tables["finetune"] = finetune_rows(model, locked, data, config.attacker_shares(), config.budget).assign(
        unit_kind=indicator
    )
    tables["exposure"] = exposure_rows(locked, access, indicator, data, min(config.attacker_shares())).assign(
        unit_kind=indicator
    )
    tables["pruning"] = pruning_rows(locked, data, b["prune"], min(config.attacker_shares()), b["epochs"]).assign(
        unit_kind=indicator
    )
    return tables


def check_reachable(model, data: AuditData, target: float) -> float:
    """One line when the target cannot be reached: below chance, above the original accuracy, or a model already
    at chance. Returns the original accuracy on the whole test set."""
    acc = atk.accuracy(model, data.x_test, data.y_test)
    if acc <= data.chance + 0.01:
        raise UserError(
            f"the model is already at chance ({100 * acc:.1f} % with {round(1 / data.chance)} classes): "
            "there is nothing to lock"
        )
    check_target(target, acc, data.chance)
    return acc


def model_rows(model, data: AuditData, accuracy: float) -> pd.DataFrame:
    """Parameters per named module with its own parameters, and the test accuracy."""
    rows = [
        dict(
            module=name or "(model)",
            kind=type(m).__name__,
            parameters=sum(p.numel() for p in m.parameters(recurse=False)),
        )
        for name, m in model.named_modules()
        if any(True for _ in m.parameters(recurse=False))
    ]
    return pd.DataFrame(rows).assign(test_accuracy=accuracy, chance=data.chance)


__all__ = ["AuditData", "applicable_kinds", "audit_kind", "check_reachable", "model_rows"]
