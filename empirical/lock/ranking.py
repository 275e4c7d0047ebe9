"""Which units an extraction takes (Section 3, Definition 1): candidates, importance scores, exact selection.

Units and their importance (indicator):
  ``l1``       — single weights of ``nn.Linear`` layers (|w|), whole filters F_{s,t} of ``nn.Conv2d``
                 layers (Σ|F_{s,t}|);
  ``random``   — the same units with seeded uniform scores (the paper's baseline);
  ``bn-scale`` — batch-norm channels by |γ|; extracting a channel zeroes its γ and β (the authors' demo).
                 LayerNorm features count as channels too (the transformer's analogue).
  ``bn-folded`` — the same channels ranked by the scale eval-mode BN really applies, |γ|/√(σ² + ε) (a
                 choice the paper's text allows: after short training γ ≈ 1 everywhere and raw |γ| is noise).
  ``bn-filter`` — Section 3.2's reading: the *filters* linked to the largest |γ|. Each conv output channel that
                 a BN follows directly, ranked by that BN channel's |γ|; extracting it zeroes the whole filter
                 (every input channel) together with the channel's γ and β (BN layers with no conv right
                 before them, e.g. in pre-activation blocks, are not candidates).
  ``l1-neuron`` — whole neurons: rows of every weight matrix (a Linear layer's output unit, an LSTM gate
                 unit, an attention projection's output), by the row's ℓ1 — the unit the authors' follow-up
                 work ranks globally. Conv layers are left to ``l1-channel``.
  ``l1-channel`` — whole output channels of conv layers by Σ|F_s| (all input channels), "removed along with
                 their associated feature maps" (Section 3.2): the filter and, when a BN follows the conv
                 directly (VGG, ResNet), that channel's γ and β too — so the channel is silenced, not left at
                 the constant β − γμ/σ. (In pre-activation nets the next BN normalises a concatenation or a
                 sum, so only the filter is zeroed.)
Mixed unit kinds: when one ``l1`` ranking holds both conv filters and single Linear weights (a CNN with
hidden Linear layers), a filter's Σ|F| over q² weights outranks nearly every single |w| and a global
extraction wipes whole conv layers first (measured on a 115 k-parameter MNIST CNN, two strided convs and
a hidden Linear, trained 2 epochs: at 5 % both conv layers lost 100 % of their filters, accuracy 0.959 →
0.103). Scoring filters by their mean |w| (Σ|F|/q²) is not enough there (76 % and 43 % of the two conv
layers at 5 %, accuracy 0.434): layers differ in scale (PyTorch initialises with 1/√fan-in). So in a mixed
ranking every unit's score is divided by its layer's mean score: units compete by how far they stand out
in their own layer (2 %, 0 % and 5 % of the three layers at 5 %, accuracy 0.824; ``--mode per-layer``:
0.810). The paper's FCNs (weights only) and candidate sets of filters only keep the plain ℓ1 ranking.
Scope ``hidden`` (default) leaves the first and last weight layers alone ("no extraction in input
and output layers", Section 3.1); ``all`` does not.

Selection is exact and streamed: pass 1 finds the k-th largest score with chunked top-k (a buffer
of at most ~2k values), pass 2 collects every unit above it and, among units equal to it, the
first ones in (layer, index) order — a deterministic total order: score descending, then layer,
then flat index. Memory stays O(k + chunk), never O(#parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from empirical.errors import UserError

INDICATORS = ("l1", "random", "bn-scale", "bn-folded", "bn-filter", "l1-channel", "l1-neuron")
SCOPES = ("hidden", "all")
MODES = ("global", "per-layer")
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


def candidates(model: nn.Module, indicator: str = "l1", scope: str = "hidden") -> list[Candidate]:
    """The candidate layers of ``model`` for ``indicator`` and ``scope``, in module order."""
    if indicator not in INDICATORS:
        raise UserError(f"unknown indicator {indicator!r}; choose one of {', '.join(INDICATORS)}")
    if scope not in SCOPES:
        raise UserError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    out: list[Candidate] = []
    if indicator in ("bn-scale", "bn-folded"):
        for mod_name, mod in model.named_modules():
            if indicator == "bn-scale" and isinstance(mod, nn.LayerNorm) and mod.elementwise_affine:
                pre = f"{mod_name}." if mod_name else ""
                also = (pre + "bias",) if mod.bias is not None else ()
                out.append(Candidate(len(out), pre + "weight", "channel", mod.weight.numel(), 1, also))
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.affine:
                pre = f"{mod_name}." if mod_name else ""
                weight = None
                if indicator == "bn-folded":
                    if mod.running_var is None:
                        raise UserError(f"{mod_name}: bn-folded needs BN running statistics")
                    weight = tuple((1.0 / torch.sqrt(mod.running_var.detach().double() + mod.eps)).tolist())
                out.append(Candidate(len(out), pre + "weight", "channel", mod.num_features, 1, (pre + "bias",), weight))
        if not out:
            has = "batch-norm or LayerNorm layers" if indicator == "bn-scale" else "batch-norm layers"
            raise UserError(f"the {indicator} indicator needs {has}, and this model has none")
        return out
    named = list(model.named_modules())
    if indicator == "bn-filter":
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
    layers = [
        (i, n, m, f"{n}.weight" if n else "weight")
        for i, (n, m) in enumerate(named)
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    layers = _with_lstm_matrices(named, layers)
    if scope == "hidden":
        layers = layers[1:-1]
    params = dict(model.named_parameters())
    for i, _, mod, pname in layers:
        pre = pname[: -len("weight")] if pname.endswith("weight") else pname
        w = params[pname]
        if isinstance(mod, nn.LSTM) or indicator == "l1-neuron":
            if isinstance(mod, nn.Conv2d):
                continue
            if indicator == "l1-neuron":
                out.append(Candidate(len(out), pname, "neuron", w.shape[0], w.shape[1]))
            else:
                out.append(Candidate(len(out), pname, "weight", w.numel(), 1))
        elif indicator == "l1-channel":
            if not isinstance(mod, nn.Conv2d):
                continue
            nxt = named[i + 1][1] if i + 1 < len(named) else None
            bn = nxt if isinstance(nxt, nn.modules.batchnorm._BatchNorm) and nxt.affine else None
            also = ()
            if bn is not None and bn.num_features == w.shape[0]:
                bpre = f"{named[i + 1][0]}."
                also = (bpre + "weight", bpre + "bias")
            out.append(Candidate(len(out), pre + "weight", "out-channel", w.shape[0], w[0].numel(), also))
        elif isinstance(mod, nn.Conv2d):
            out.append(Candidate(len(out), pre + "weight", "filter", w.shape[0] * w.shape[1], w.shape[2] * w.shape[3]))
        else:
            out.append(Candidate(len(out), pre + "weight", "weight", w.numel(), 1))
    if indicator == "l1" and {"filter", "weight"} <= {c.kind for c in out}:  # one scale for all (module doc)
        out = [replace(c, score_divisor=_mean_score(params[c.name], c)) for c in out]
    if not out and indicator == "l1-channel" and not any(isinstance(m, nn.Conv2d) for _, _, m, _ in layers):
        raise UserError(f"the l1-channel indicator needs conv layers in scope {scope!r}, and this model has none")
    if not out:
        raise UserError(f"no candidate layers for scope {scope!r} (scope 'hidden' needs 3 or more weight layers)")
    return out


def _mean_score(param: torch.Tensor, c: Candidate) -> float:
    """The mean ℓ1 score of a layer's units (chunk by chunk; 1 for a layer of zeros)."""
    total = sum(float(unit_scores(param, c, a, b, "l1", 0).double().sum()) for a, b in chunks(c))
    return total / c.n_units if total > 0 else 1.0


def _with_lstm_matrices(named, layers):
    """The weight matrices in module order, an LSTM contributing its gate matrices W_ih, W_hh per layer."""
    out = list(layers)
    for i, (n, m) in enumerate(named):
        if isinstance(m, nn.LSTM):
            pre = f"{n}." if n else ""
            mats = [(i, n, m, f"{pre}weight_{kind}_l{k}") for k in range(m.num_layers) for kind in ("ih", "hh")]
            out += mats
    return sorted(out, key=lambda t: t[0])  # stable: an LSTM's matrices keep their order


def make_contiguous(model: nn.Module) -> nn.Module:
    """Give every parameter the standard (contiguous) layout, in place: units are addressed as views
    (n_units, unit_size) of it, which a channels-last tensor cannot give. Values are unchanged."""
    with torch.no_grad():
        for p in model.parameters():
            if not p.is_contiguous():
                p.data = p.data.contiguous()
    return model


def chunks(c: Candidate):
    """(start, stop) unit ranges of at most CHUNK units."""
    for start in range(0, c.n_units, CHUNK):
        yield start, min(start + CHUNK, c.n_units)


def unit_scores(param: torch.Tensor, c: Candidate, start: int, stop: int, indicator: str, seed: int) -> torch.Tensor:
    """Importance of units [start, stop) of one candidate layer (float32 or float64, 1-D)."""
    if indicator == "random":
        g = torch.Generator().manual_seed(((seed * 1_000_003 + c.layer) * 1_000_033 + start // CHUNK) % (1 << 63))
        return torch.rand(stop - start, generator=g, dtype=torch.float64).to(param.device)
    units = param.detach().reshape(c.n_units, c.unit_size)[start:stop]  # (chunk, unit_size)
    if units.dtype not in (torch.float32, torch.float64):
        units = units.float()
    scores = units.abs().sum(dim=1) if c.unit_size > 1 else units.abs().reshape(-1)
    if c.score_divisor != 1:  # a ranking of mixed unit kinds: relative to the layer's mean (module doc)
        scores = scores / c.score_divisor
    if c.unit_weight is not None:  # bn-folded: |γ|/√(σ² + ε), in float64
        scores = scores.double() * torch.tensor(c.unit_weight[start:stop], dtype=torch.float64, device=scores.device)
    return scores


def kth_largest(score_chunks, k: int):
    """The k-th largest value over all chunks (k >= 1).

    Keeps a buffer of at most 2k + k values; once it holds k values, their minimum t is a running
    lower bound of the answer, so later chunks are first filtered to values > t (a cheap
    comparison) before any top-k.
    """
    buf, t_run = None, None
    for s in score_chunks:
        if t_run is not None:
            s = s[s > t_run]
            if s.numel() == 0:
                continue
        top = torch.topk(s, min(k, s.numel())).values
        buf = top if buf is None else torch.cat([buf, top.to(buf.device)])
        if buf.numel() >= k and (t_run is None or buf.numel() > 2 * k):
            buf = torch.topk(buf, k).values  # sorted descending
            t_run = buf[-1]
    return torch.topk(buf, min(k, buf.numel())).values.min()


def select(params, cands: list[Candidate], k: int, indicator: str, seed: int) -> dict[str, torch.Tensor]:
    """Positions (sorted, int64) of the k best units over ``cands`` in the total order of the module doc."""
    t = kth_largest((unit_scores(params[c.name], c, a, b, indicator, seed) for c in cands for a, b in chunks(c)), k)
    above: dict[str, list] = {c.name: [] for c in cands}
    ties: list[tuple[str, torch.Tensor]] = []
    n_above, n_ties = 0, 0
    for c in cands:
        for a, b in chunks(c):
            s = unit_scores(params[c.name], c, a, b, indicator, seed)
            gt = torch.nonzero(s > t).reshape(-1) + a
            above[c.name].append(gt.cpu())
            n_above += gt.numel()
            if n_ties < k:
                eq = torch.nonzero(s == t).reshape(-1)[: k - n_ties] + a
                ties.append((c.name, eq.cpu()))
                n_ties += eq.numel()
    need = k - n_above
    for name, eq in ties:
        take = eq[: max(need, 0)]
        above[name].append(take)
        need -= take.numel()
    return {name: torch.sort(torch.cat(parts)).values for name, parts in above.items()}
