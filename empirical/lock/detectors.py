"""Where is the key? Detectors an attacker holding only the locked model (and a little data) can run, and their
precision and recall against the real key (the key-position attack of ``empirical.lock.attacks``).

* ``detect_key_positions``: exact zeros of every weight and BN channels with γ = β = 0 (the zero fill marks every
  key position: a trained network has essentially no exact zeros);
* ``detect_duplicate_magnitudes``: weights whose |w| occurs twice or more in their layer (a fill that copies values
  from the same layer leaves every key position among them);
* the top k by layer-relative magnitude (``magnitude_scores``) and by gradient on the attacker's data
  (``saliency_scores``), k = the key's size: detectors for a fill that leaves no exact zero or repeat.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from empirical.errors import UserError
from empirical.lock.keys import AccessKey


def detect_key_positions(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per parameter the flat positions an attacker would guess are key positions: exact zeros of every
    weight (Conv2d / Linear) and the channels of BN layers whose γ and β are both exactly zero."""
    found: dict[str, torch.Tensor] = {}
    for name, m in model.named_modules():
        pre = f"{name}." if name else ""
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            z = torch.nonzero(m.weight.detach().reshape(-1) == 0).reshape(-1)
            if len(z):
                found[pre + "weight"] = z
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            z = torch.nonzero((m.weight.detach() == 0) & (m.bias.detach() == 0)).reshape(-1)
            if len(z):
                found[pre + "weight"] = z
                found[pre + "bias"] = z
    return found


def detect_duplicate_magnitudes(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per weight (Conv2d / Linear) the flat positions whose |w| occurs two or more times in that weight: a fill
    that copies values from the same layer puts every key position among them (trained fp32 weights rarely
    repeat a magnitude)."""
    found: dict[str, torch.Tensor] = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            mag = m.weight.detach().reshape(-1).abs()
            _, inverse, counts = torch.unique(mag, return_inverse=True, return_counts=True)
            pos = torch.nonzero(counts[inverse] > 1).reshape(-1)
            if len(pos):
                found[(f"{name}." if name else "") + "weight"] = pos
    return found


def key_positions(key: AccessKey, model: nn.Module) -> dict[str, torch.Tensor]:
    """The flat parameter positions the key really holds (units expanded to their values)."""
    params = dict(model.named_parameters())
    out = {}
    for e in key.entries:
        base = e.positions.reshape(-1, 1).cpu() * e.unit_size + torch.arange(e.unit_size).reshape(1, -1)
        flat = torch.cat([out.get(e.name, torch.empty(0, dtype=torch.long)), base.reshape(-1)])
        if len(flat) and int(flat.max()) >= params[e.name].numel():
            raise UserError(f"the key's entry {e.name} names positions beyond the parameter's {params[e.name].numel()}")
        out[e.name] = torch.unique(flat)  # sorted; an entry without positions adds none
    return {n: v for n, v in out.items() if len(v)}


def detection_scores(detected: dict[str, torch.Tensor], truth: dict[str, torch.Tensor]) -> dict:
    """Precision and recall of the detected positions against the key's (values, not units)."""
    tp = fp = fn = 0
    for name in set(detected) | set(truth):
        d = set(detected.get(name, torch.empty(0, dtype=torch.long)).tolist())
        t = set(truth.get(name, torch.empty(0, dtype=torch.long)).tolist())
        tp, fp, fn = tp + len(d & t), fp + len(d - t), fn + len(t - d)
    return {
        "detected": tp + fp,
        "key_values": tp + fn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
    }


# -- detectors for a fill that leaves no exact zero (--fill noise): rank every weight, flag the top k ----------
def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        (f"{n}." if n else "") + "weight": m.weight
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    }


def weight_count(model: nn.Module) -> int:
    """How many values the top-k detectors rank: every Conv2d / Linear weight."""
    return int(sum(w.numel() for w in _weights(model).values()))


def magnitude_scores(model: nn.Module) -> dict[str, torch.Tensor]:
    """|w| relative to its layer's mean |w| (an attacker who expects the key among the large weights)."""
    return {
        n: (w.detach().abs() / w.detach().abs().mean().clamp_min(1e-30)).reshape(-1) for n, w in _weights(model).items()
    }


def saliency_scores(model: nn.Module, x, y, batch: int = 500, taylor: bool = False) -> dict[str, torch.Tensor]:
    """Σ over the attacker's data of |∂L/∂w| per weight (a perturbed important weight pulls a large gradient);
    with ``taylor``, |w · Σ ∂L/∂w| — the first-order change of the loss if the weight were removed."""
    model = copy.deepcopy(model).eval()
    weights = _weights(model)
    total = {n: torch.zeros_like(w).reshape(-1) for n, w in weights.items()}
    with torch.enable_grad():
        for i in range(0, len(x), batch):
            model.zero_grad(set_to_none=True)
            nnf.cross_entropy(model(x[i : i + batch]), y[i : i + batch], reduction="sum").backward()
            for n, w in weights.items():
                if w.grad is not None:
                    g = w.grad.detach().reshape(-1)
                    total[n] += g if taylor else g.abs()
    if taylor:
        return {n: (t * weights[n].detach().reshape(-1)).abs() for n, t in total.items()}
    return total


def top_k_positions(scores: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """The ``k`` flat positions with the largest scores over every weight (one global ranking): an attacker
    who knows the key's size (generous) and flags that many."""
    names = list(scores)
    flat = torch.cat([scores[n] for n in names])
    k = max(0, min(int(k), len(flat)))
    top = torch.topk(flat, k).indices if k else torch.empty(0, dtype=torch.long)
    out, start = {}, 0
    for n in names:
        size = len(scores[n])
        pos = top[(top >= start) & (top < start + size)] - start
        if len(pos):
            out[n] = torch.sort(pos).values
        start += size
    return out


def random_positions(model: nn.Module, k: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``k`` positions drawn uniformly among the Conv2d / Linear weights: the control for a detector (what
    flagging that many positions at random finds, and what training only them restores)."""
    g = torch.Generator().manual_seed(seed)
    return top_k_positions({n: torch.rand(w.numel(), generator=g) for n, w in _weights(model).items()}, k)


def detector_rows(locked: nn.Module, key: AccessKey, x, y) -> list[dict]:
    """Every detector against the real key: exact zeros (and silenced BN channels), repeated magnitudes, and
    the top-k by layer-relative magnitude and by gradient on (x, y), k = the key's weight values. ``chance``:
    the precision of k positions drawn at random among the Conv2d / Linear weights."""
    truth = key_positions(key, locked)
    k = value_counts({n: p for n, p in truth.items() if n in _weights(locked)})
    n_weights = weight_count(locked)
    found = detector_positions(locked, k, x, y)
    return [dict(detector=name, **detection_scores(pos, truth), chance=k / n_weights) for name, pos in found.items()]


def detector_positions(locked: nn.Module, k: int, x, y) -> dict[str, dict[str, torch.Tensor]]:
    """What each detector flags: exact zeros, repeated magnitudes, and the top ``k`` by layer-relative |w|, by
    |∂L/∂w| and by |w·∂L/∂w| on the attacker's data (x, y)."""
    return {
        "exact zeros": detect_key_positions(locked),
        "repeated magnitudes": detect_duplicate_magnitudes(locked),
        "largest layer-relative |w| (top k)": top_k_positions(magnitude_scores(locked), k),
        "largest gradient (top k)": top_k_positions(saliency_scores(locked, x, y), k),
        "largest |w·gradient| (top k)": top_k_positions(saliency_scores(locked, x, y, taylor=True), k),
    }


def value_counts(positions: dict[str, torch.Tensor]) -> int:
    return int(sum(len(v) for v in positions.values()))
