"""The units an extraction ranks: a candidate layer viewed as (n_units, unit_size), the chunks units are scored
in, and the weight layers in module order (an LSTM's gate matrices included)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

CHUNK = 1 << 23  # units scored at once (8 M): bounds the working memory of selection


@dataclass(frozen=True)
class Candidate:
    """One layer's extractable units: ``param`` viewed as (n_units, unit_size)."""

    layer: int  # order among candidate layers
    name: str  # parameter name (γ for bn-scale)
    kind: str  # "weight" | "filter" | "channel"
    n_units: int
    unit_size: int  # values per unit of ``name`` (the ranked parameter)
    also: tuple[str, ...] = ()  # parameters extracted at the same unit positions (β for bn-scale), each (n_units, -1)
    unit_weight: tuple[float, ...] | None = None  # per-unit factors on the score (bn-folded: 1/√(var + ε))
    score_divisor: float = 1.0  # the score is divided by this (a ranking of mixed unit kinds: the layer's mean)


def chunks(c: Candidate):
    """(start, stop) unit ranges of at most CHUNK units."""
    for start in range(0, c.n_units, CHUNK):
        yield start, min(start + CHUNK, c.n_units)


def weight_layers(model: nn.Module, scope: str):
    """``(module index, module name, module, parameter name, weight)`` of every Linear / Conv2d weight and every LSTM
    gate matrix, in module order; scope ``hidden`` leaves out the first and the last."""
    named = list(model.named_modules())
    layers = [
        (i, n, m, f"{n}.weight" if n else "weight")
        for i, (n, m) in enumerate(named)
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    for i, (n, m) in enumerate(named):
        if isinstance(m, nn.LSTM):
            pre = f"{n}." if n else ""
            layers += [(i, n, m, f"{pre}weight_{kind}_l{k}") for k in range(m.num_layers) for kind in ("ih", "hh")]
    layers = sorted(layers, key=lambda t: t[0])  # stable: an LSTM's matrices keep their order
    if scope == "hidden":
        layers = layers[1:-1]
    params = dict(model.named_parameters())
    return [(i, n, m, pname, params[pname]) for i, n, m, pname in layers]
