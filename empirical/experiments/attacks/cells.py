"""One attacks cell's tables (``empirical.experiments.attacks.run``): fine-tuning per share and seed, pruning and its
McNemar test, the key-position attack, and every key-position detector."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from empirical.experiments.attacks.config import AttackConfig
from empirical.experiments.common.statistics import mcnemar, paired_difference
from empirical.lock import attacks as atk
from empirical.lock.detectors import detection_scores, detector_positions, key_positions, random_positions
from empirical.lock.ranking import candidates
from empirical.nets.models import make_model

log = logging.getLogger("empirical.experiments.attacks.run")


def _finetune_rows(locked, spec, m, data, fill: str, seeds=None) -> pd.DataFrame:
    """Every fine-tuning attack (and training from scratch) per share and seed (``seeds``: default all)."""
    x_tr, y_tr, x_te, y_te = data
    rows = []
    modes = atk.FT_MODES if fill == "zero" else ("FTAL",)
    fractions = m["fractions"] if fill == "zero" else (max(m["fractions"]),)
    ft = atk.FineTune(epochs=m["ft_epochs"])
    for frac in fractions:
        for seed in range(m["seeds"]) if seeds is None else seeds:
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
        for method, pruned in (
            ("magnitude", atk.magnitude_prune(locked, frac)),
            ("fine-pruning", atk.fine_prune(locked, xa, frac)),
        ):
            rows.append(dict(attack=method, fraction=frac, fine_tuned=False, accuracy=atk.accuracy(pruned, x_te, y_te)))
            tuned = atk.fine_tune(pruned, xa, ya, "FTAL", atk.FineTune(epochs=config.prune_ft_epochs))
            rows.append(dict(attack=method, fraction=frac, fine_tuned=True, accuracy=atk.accuracy(tuned, x_te, y_te)))
    return pd.DataFrame(rows)


@torch.no_grad()
def _correct(model, x, y, batch: int = 2000) -> np.ndarray:
    """Per test image: does ``model`` classify it correctly."""
    model.eval()
    return (
        torch.cat([model(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(x), batch)])
        .cpu()
        .numpy()
    )


PRUNE_TEST_SCOPES = ("any configuration", "pruning alone")


def prune_test_rows(locked, m, data, config: AttackConfig) -> pd.DataFrame:
    """The pruning verdicts' tests. Every pruning configuration (method × share × with or without the short
    fine-tune) is scored on the even test images; the best one, and the best without the fine-tune (Table 3's
    "pruning recovers < 1 pp" is about pruning alone), are compared with the locked model on the odd images:
    McNemar's exact test on the paired per-image outcomes (``statistics.mcnemar``) and the paired difference's
    95 % interval (``statistics.paired_difference``). Choosing on one half and testing on the other keeps the
    pick from inflating the test."""
    x_tr, y_tr, x_te, y_te = data
    idx = atk.stratified_subset(y_tr, max(m["fractions"]), 0)
    xa, ya = x_tr[idx], y_tr[idx]
    even, odd = np.arange(0, len(y_te), 2), np.arange(1, len(y_te), 2)
    base = _correct(locked, x_te, y_te)
    configs = []
    for frac in config.prune_fractions:
        for method, pruned in (
            ("magnitude", atk.magnitude_prune(locked, frac)),
            ("fine-pruning", atk.fine_prune(locked, xa, frac)),
        ):
            configs.append((method, frac, False, _correct(pruned, x_te, y_te)))
            tuned = atk.fine_tune(pruned, xa, ya, "FTAL", atk.FineTune(epochs=config.prune_ft_epochs))
            configs.append((method, frac, True, _correct(tuned, x_te, y_te)))
    rows = []
    for scope, pool in zip(PRUNE_TEST_SCOPES, (configs, [c for c in configs if not c[2]])):
        method, frac, tuned, best = max(pool, key=lambda c: c[3][even].mean())
        test, diff = mcnemar(best[odd], base[odd]), paired_difference(best[odd], base[odd])
        rows.append(
            dict(
                scope=scope,
                chosen=method,
                fraction=frac,
                fine_tuned=tuned,
                configurations=len(pool),
                acc_even_pruned=float(best[even].mean()),
                acc_odd_locked=float(base[odd].mean()),
                acc_odd_pruned=float(best[odd].mean()),
                only_pruned_right=test["only_a"],
                only_locked_right=test["only_b"],
                p_mcnemar=test["p"],
                diff=diff["diff"],
                diff_low=diff["low"],
                diff_high=diff["high"],
            )
        )
    return pd.DataFrame(rows)


RANDOM_CONTROL = "random positions (control)"


def _scored(name: str, positions, truth, k: int) -> dict:
    """One detector's row: precision, recall and F1 of its ``positions`` against the key's."""
    r = dict(detector=name, k=k, **detection_scores(positions, truth))
    p, q = r["precision"], r["recall"]
    r["f1"] = 2 * p * q / (p + q) if p + q > 0 and np.isfinite(p) and np.isfinite(q) else 0.0
    return r


def detector_table(locked, key, m, data, config: AttackConfig) -> pd.DataFrame:
    """Every key-position detector (``lock.detectors``) against the real key, the gradient ones on the smallest
    share's data (seed 0); then targeted restoration (training only the flagged positions) on the positions of
    the detector with the best F1 — an oracle's pick, the most an attacker could get from these detectors —
    and, as its control, on as many positions drawn at random (``RANDOM_CONTROL``): retraining any that many
    weights may restore by itself."""
    x_tr, y_tr, x_te, y_te = data
    idx = atk.stratified_subset(y_tr, min(m["fractions"]), 0)
    xa, ya = x_tr[idx], y_tr[idx]
    truth = key_positions(key, locked)
    k = sum(len(v) for n, v in truth.items() if n.endswith("weight"))
    found = detector_positions(locked, k, xa, ya)
    rows = [_scored(name, pos, truth, k) for name, pos in found.items()]
    best = max(rows, key=lambda r: r["f1"])
    found[RANDOM_CONTROL] = random_positions(locked, best["detected"], seed=0)
    control = _scored(RANDOM_CONTROL, found[RANDOM_CONTROL], truth, k)
    rows.append(control)
    epochs = max(config.targeted_epochs)
    for r in rows:
        trained = r is best or r is control
        restored = (
            atk.targeted_restore(locked, found[r["detector"]], xa, ya, epochs=epochs)
            if trained and r["detected"]
            else locked
        )
        r["restored_accuracy"] = atk.accuracy(restored, x_te, y_te) if trained else float("nan")
        r["restore_epochs"] = epochs if trained else 0
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


KEY_POSITIONS = "the key's own positions (oracle)"
RANDOM_CANDIDATES = "random candidate units (control)"


def random_candidate_positions(locked, indicator: str, n_units: int, seed: int) -> dict[str, torch.Tensor]:
    """``n_units`` units drawn uniformly among the candidate units of ``indicator`` (where a key can lie), as the
    flat value positions of their parameters: the control of an attacker who knows where keys live, not which."""
    cands = candidates(locked, indicator, "hidden")
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(sum(c.n_units for c in cands), generator=g)[:n_units]
    out, start = {}, 0
    for c in cands:
        mine = flat[(flat >= start) & (flat < start + c.n_units)] - start
        if len(mine):
            out[c.name] = (mine.reshape(-1, 1) * c.unit_size + torch.arange(c.unit_size).reshape(1, -1)).reshape(-1)
        start += c.n_units
    return out


def restoration_rows(locked, key, m: dict, data, config: AttackConfig, seeds) -> pd.DataFrame:
    """Targeted restoration on the smallest share, per seed (its own stratified subset): training only the key's
    own positions, only the best detector's (by F1 on that subset, an oracle's pick) and only as many candidate
    units drawn at random; every other value stays. Key − random is what knowing the key adds over retraining that
    many weights where keys can lie (issue 39)."""
    x_tr, y_tr, x_te, y_te = data
    truth = key_positions(key, locked)
    k = sum(len(v) for n, v in truth.items() if n.endswith("weight"))
    n_units = key.meta["k_total"]
    epochs = max(config.targeted_epochs)
    rows = []
    for seed in seeds:
        idx = atk.stratified_subset(y_tr, min(m["fractions"]), seed)
        xa, ya = x_tr[idx], y_tr[idx]
        found = detector_positions(locked, k, xa, ya)
        best = max((_scored(name, pos, truth, k) for name, pos in found.items()), key=lambda r: r["f1"])
        sets = {
            KEY_POSITIONS: (KEY_POSITIONS, truth),
            "best detector": (best["detector"], found[best["detector"]]),
            RANDOM_CANDIDATES: (RANDOM_CANDIDATES, random_candidate_positions(locked, m["indicator"], n_units, seed)),
        }
        for positions, (name, pos) in sets.items():
            n = sum(len(v) for v in pos.values())
            restored = atk.targeted_restore(locked, pos, xa, ya, epochs=epochs, seed=seed) if n else locked
            acc = atk.accuracy(restored, x_te, y_te)
            rows.append(dict(seed=seed, positions=positions, detector=name, n_positions=n, fraction=float(
                min(m["fractions"])), epochs=epochs, restored_accuracy=acc))  # fmt: skip
            log.info("%s: restoring %s (%d positions), seed %d: %.4f", m["name"], name, n, seed, acc)
    return pd.DataFrame(rows)
