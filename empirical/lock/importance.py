"""Indicators as objects: each importance says which units of a model it ranks (its candidate layers, their unit
kind) and how it scores them. The built-in ones are registered once by name (``IMPORTANCES``); ``extract(model,
ratio, indicator=…)`` takes a name or an object, and a user's own importance is a subclass passed in::

    class LargestMean(Importance):           # whole rows of every hidden Linear, by their mean |w|
        name, unit = "largest-mean", "neuron"

        def candidates(self, model, scope):
            return L1Neuron().candidates(model, scope)

        def scores(self, units, c, start, seed):
            return units.abs().mean(dim=1)

Built-in: ``l1`` (Linear weights by |w|, conv kernels F_(s,t) by Σ|F|, mixed kinds relative to their layer's mean),
``random`` (the same units, seeded uniform scores), ``bn-scale`` (BN channels by |γ|, LayerNorm features too),
``bn-folded`` (BN channels by |γ|/√(σ² + ε)), ``bn-filter`` (the filter a BN channel follows, by that |γ|),
``l1-channel`` (conv output channels, with the BN that follows), ``l1-neuron`` (rows of every weight matrix).
The module doc of ``empirical.lock.ranking`` has the reasons behind each.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock.units import CHUNK, Candidate, chunks, weight_layers


class Importance:
    """An indicator: ``candidates(model, scope)`` lists the candidate layers (``Candidate``: the parameter, the
    number of units and their size, and the parameters zeroed with them), ``scores(units, c, start, seed)`` the
    importance of a chunk of units (``units``: the parameter viewed as (n_units, unit_size), rows [start, …))."""

    name: str = "custom"
    unit: str = "unit"  # what one unit of the key is, in words

    def candidates(self, model: nn.Module, scope: str) -> list[Candidate]:
        raise NotImplementedError

    def scores(self, units: torch.Tensor, c: Candidate, start: int, seed: int) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _l1(units: torch.Tensor, c: Candidate) -> torch.Tensor:
    scores = units.abs().sum(dim=1) if c.unit_size > 1 else units.abs().reshape(-1)
    if c.score_divisor != 1:  # a ranking of mixed unit kinds: relative to the layer's mean (ranking's module doc)
        scores = scores / c.score_divisor
    return scores


def _l1_units(model, scope) -> list[Candidate]:
    """Linear (and LSTM) weights one by one, conv kernels F_(s,t) whole."""
    out = []
    for _i, _n, mod, pname, w in weight_layers(model, scope):
        if isinstance(mod, nn.Conv2d):
            out.append(Candidate(len(out), pname, "filter", w.shape[0] * w.shape[1], w.shape[2] * w.shape[3]))
        else:
            out.append(Candidate(len(out), pname, "weight", w.numel(), 1))
    return out


class L1(Importance):
    name, unit = "l1", "Linear weights (|w|) and conv kernels F_(s,t) (Σ|F|)"

    def candidates(self, model, scope):
        out = _l1_units(model, scope)
        if {"filter", "weight"} <= {c.kind for c in out}:  # mixed kinds: one scale for all (ranking's module doc)
            params = dict(model.named_parameters())
            out = [replace(c, score_divisor=_mean_score(params[c.name], c)) for c in out]
        return out

    def scores(self, units, c, start, seed):
        return _l1(units, c)


class Random(Importance):
    name, unit = "random", "the ℓ1 units, drawn at random (seeded)"

    def candidates(self, model, scope):
        return _l1_units(model, scope)

    def scores(self, units, c, start, seed):
        g = torch.Generator().manual_seed(((seed * 1_000_003 + c.layer) * 1_000_033 + start // CHUNK) % (1 << 63))
        return torch.rand(len(units), generator=g, dtype=torch.float64).to(units.device)


class L1Neuron(Importance):
    name, unit = "l1-neuron", "neurons: rows of every weight matrix (Σ|row|)"

    def candidates(self, model, scope):
        out = []
        for _i, _n, mod, pname, w in weight_layers(model, scope):
            if isinstance(mod, nn.Conv2d):
                continue
            out.append(Candidate(len(out), pname, "neuron", w.shape[0], w.shape[1]))
        return out

    def scores(self, units, c, start, seed):
        return _l1(units, c)


class L1Channel(Importance):
    name, unit = "l1-channel", "conv output channels (Σ|F_s|), with the BN that follows"

    def candidates(self, model, scope):
        named, out = list(model.named_modules()), []
        layers = weight_layers(model, scope)
        for i, _n, mod, pname, w in layers:
            if isinstance(mod, nn.LSTM):  # an LSTM's matrices stay single weights (as they always were)
                out.append(Candidate(len(out), pname, "weight", w.numel(), 1))
                continue
            if not isinstance(mod, nn.Conv2d):
                continue
            nxt = named[i + 1][1] if i + 1 < len(named) else None
            bn = nxt if isinstance(nxt, nn.modules.batchnorm._BatchNorm) and nxt.affine else None
            also = ()
            if bn is not None and bn.num_features == w.shape[0]:
                bpre = f"{named[i + 1][0]}."
                also = (bpre + "weight", bpre + "bias")
            out.append(Candidate(len(out), pname, "out-channel", w.shape[0], w[0].numel(), also))
        if not out and not any(isinstance(m, nn.Conv2d) for _, _, m, _, _ in layers):
            raise UserError(f"the l1-channel indicator needs conv layers in scope {scope!r}, and this model has none")
        return out

    def scores(self, units, c, start, seed):
        return _l1(units, c)


class BNScale(Importance):
    name, unit = "bn-scale", "BatchNorm channels (|γ|; LayerNorm features too), with their β"

    def candidates(self, model, scope):
        return _bn_channels(model, folded=False)

    def scores(self, units, c, start, seed):
        return _l1(units, c)


class BNFolded(BNScale):
    name, unit = "bn-folded", "BatchNorm channels by the scale eval mode applies, |γ|/√(σ² + ε)"

    def candidates(self, model, scope):
        return _bn_channels(model, folded=True)

    def scores(self, units, c, start, seed):
        scores = _l1(units, c)
        stop = start + len(units)
        return scores.double() * torch.tensor(c.unit_weight[start:stop], dtype=torch.float64, device=scores.device)


class BNFilter(Importance):
    name, unit = "bn-filter", "the filter a BN channel follows, by that channel's |γ|"

    def candidates(self, model, scope):
        named, out = list(model.named_modules()), []
        for (cname, conv), (bname, bn) in zip(named, named[1:]):
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.modules.batchnorm._BatchNorm)
                and bn.affine
                and bn.num_features == conv.out_channels
            ):
                cpre, bpre = (f"{cname}." if cname else ""), f"{bname}."
                also = (bpre + "bias", cpre + "weight") + ((cpre + "bias",) if conv.bias is not None else ())
                out.append(Candidate(len(out), bpre + "weight", "channel", bn.num_features, 1, also))
        if not out:
            raise UserError(
                "the bn-filter indicator needs conv layers followed directly by batch norm, and this model has none"
            )
        return out

    def scores(self, units, c, start, seed):
        return _l1(units, c)


def _bn_channels(model: nn.Module, folded: bool) -> list[Candidate]:
    out: list[Candidate] = []
    name = "bn-folded" if folded else "bn-scale"
    for mod_name, mod in model.named_modules():
        pre = f"{mod_name}." if mod_name else ""
        if not folded and isinstance(mod, nn.LayerNorm) and mod.elementwise_affine:
            also = (pre + "bias",) if mod.bias is not None else ()
            out.append(Candidate(len(out), pre + "weight", "channel", mod.weight.numel(), 1, also))
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.affine:
            weight = None
            if folded:
                if mod.running_var is None:
                    raise UserError(f"{mod_name}: bn-folded needs BN running statistics")
                weight = tuple((1.0 / torch.sqrt(mod.running_var.detach().double() + mod.eps)).tolist())
            out.append(Candidate(len(out), pre + "weight", "channel", mod.num_features, 1, (pre + "bias",), weight))
    if not out:
        has = "batch-norm or LayerNorm layers" if not folded else "batch-norm layers"
        raise UserError(f"the {name} indicator needs {has}, and this model has none")
    return out


def as_float(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _mean_score(param: torch.Tensor, c: Candidate) -> float:
    """The mean ℓ1 score of a layer's units (chunk by chunk; 1 for a layer of zeros)."""
    view = param.detach().reshape(c.n_units, c.unit_size)
    total = sum(float(_l1(as_float(view[a:b]), c).double().sum()) for a, b in chunks(c))
    return total / c.n_units if total > 0 else 1.0


IMPORTANCES: dict[str, Importance] = {
    imp.name: imp for imp in (L1(), Random(), BNScale(), BNFolded(), BNFilter(), L1Channel(), L1Neuron())
}


def importance(indicator) -> Importance:
    """The importance an ``indicator`` names (a registered name) or is (an ``Importance`` object)."""
    if isinstance(indicator, Importance):
        return indicator
    if indicator not in IMPORTANCES:
        raise UserError(f"unknown indicator {indicator!r}; choose one of {', '.join(IMPORTANCES)}")
    return IMPORTANCES[indicator]
