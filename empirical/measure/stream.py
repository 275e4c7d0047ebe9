"""One streaming pass over an original/locked pair, stage by stage, for every architecture.

Both networks are seen as ``nn.Sequential`` stages (``empirical.measure.stages``; the toolkit's FCN
becomes Linear, ReLU, …, Linear sharing its parameters). For each batch of inputs and each stage m
the pass keeps, per sample, only norms — never a #samples × width array:

  d = ‖y⁽ᵐ⁾ − y*⁽ᵐ⁾‖₂ (locked vs original activations), G = ‖fₘ(y⁽ᵐ⁻¹⁾) − fₘ(y*⁽ᵐ⁻¹⁾)‖₂ (fₘ the locked
  stage), e = ‖fₘ(y*⁽ᵐ⁻¹⁾) − f*ₘ(y*⁽ᵐ⁻¹⁾)‖₂ (this stage's own change), B (the stage's chain bound on e),
  ‖y*⁽ᵐ⁻¹⁾‖₂, ‖y*⁽ᵐ⁾‖₂, ‖y*⁽ᵐ⁾‖₂², ‖y⁽ᵐ⁾‖₂², and ‖y⁽ᵐ⁾‖ + ‖y*⁽ᵐ⁾‖ (the float tolerance's scale);

plus top-1/top-3 hits and the logits' running sums for the output spread. Precision: float64
below ``FLOAT64_MAX_PARAMS`` parameters, float32 above (the 774 M-parameter FCN measures in the
memory it trains in); the models are copied only when their dtype differs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.measure.stages import ChainBound, split_stages
from empirical.nets.models import FCN, fc_layers

FLOAT64_MAX_PARAMS = 20_000_000  # measure in float64 below this size, float32 above
RTOL = {torch.float64: 1e-9, torch.float32: 2e-4}
PER_SAMPLE = ("d", "G", "e", "B", "y_prev", "y_norm", "sq_orig", "sq_lock", "scale")


def is_mlp(model: nn.Module) -> bool:
    """Our FCN, or an nn.Sequential (Flatten,) Linear, ReLU, …, Linear MLP (``fc_layers``)."""
    try:
        fc_layers(model)
    except ValueError:
        return False
    return True


def as_sequential(model: nn.Module) -> nn.Sequential:
    """The stages' view of ``model``: an FCN or MLP as Linear, ReLU, …, Linear (the same modules), any
    other ``nn.Sequential`` as it is."""
    if isinstance(model, FCN) or (isinstance(model, nn.Sequential) and is_mlp(model)):
        layers = fc_layers(model)
        # a leading Flatten stays: image-shaped inputs (your own data) reach the first Linear flattened
        mods: list[nn.Module] = (
            [nn.Flatten()] if isinstance(model, nn.Sequential) and isinstance(model[0], nn.Flatten) else []
        )
        for m, layer in enumerate(layers):
            mods.append(layer)
            if m < len(layers) - 1:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)
    if not isinstance(model, nn.Sequential):
        raise UserError(f"expected the toolkit's FCN or an nn.Sequential of layers, got {type(model).__name__}")
    return model


def supports_stages(model: nn.Module) -> bool:
    """Whether the stage measurement (an FCN, an MLP or an ``nn.Sequential`` of the layers ``stages`` knows) takes
    ``model``; anything else is measured layer by layer through hooks (``empirical.measure.hooks``)."""
    try:
        split_stages(as_sequential(model))
    except (UserError, ValueError):
        return False
    return True


@dataclass
class Streamed:
    """What one pass over the inputs leaves: per stage and sample the norms of the module doc."""

    stages: list  # empirical.measure.stages.Stage
    chains: list[ChainBound]
    original: nn.Sequential  # in the measurement dtype
    locked: nn.Sequential
    dtype: torch.dtype
    per: dict[str, list[np.ndarray]] = field(default_factory=dict)  # name → [stage] → (n,)
    x_norm: np.ndarray | None = None  # ‖y⁽⁰⁾‖₂ (after any parameter-free prefix)
    n_in: list = field(default_factory=list)  # each stage's input shape (C, n, n) or (features,)
    hits: np.ndarray | None = None  # [original, locked] × [top-1, top-3]
    logits_orig: np.ndarray | None = None  # (n, classes)
    logits_lock: np.ndarray | None = None
    module_names: list = field(default_factory=list)  # per position of ``original``: the user's module name

    @property
    def rtol(self) -> float:
        return RTOL[self.dtype]


def _apply(mods, h):
    for m in mods:
        h = m(h)
    return h


def _prepare(original: nn.Module, locked: nn.Module, dtype):
    seq_o, seq_l = as_sequential(original), as_sequential(locked)
    n_params = sum(p.numel() for p in seq_o.parameters())
    dtype = dtype or (torch.float64 if n_params <= FLOAT64_MAX_PARAMS else torch.float32)
    if any(p.dtype != dtype for p in seq_o.parameters()) or any(p.dtype != dtype for p in seq_l.parameters()):
        seq_o, seq_l = copy.deepcopy(seq_o).to(dtype), copy.deepcopy(seq_l).to(dtype)
    if any(not p.is_contiguous() for p in list(seq_o.parameters()) + list(seq_l.parameters())):
        seq_o = copy.deepcopy(seq_o).to(memory_format=torch.contiguous_format)
        seq_l = copy.deepcopy(seq_l).to(memory_format=torch.contiguous_format)
    return seq_o.eval(), seq_l.eval(), dtype


@torch.no_grad()
def stream(original, locked, x, y, *, batch: int = 1000, dtype=None, cache: dict | None = None) -> Streamed:
    """One pass over (x, y) in batches (module doc). Refuses mismatched models and unknown layers by name."""
    if len(x) != len(y):
        raise UserError(f"{len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise UserError("no inputs to measure on (an empty test set)")
    if batch < 1:
        raise UserError(f"batch must be >= 1, got {batch}")
    own = {id(m): n for n, m in original.named_modules()}  # before any dtype copy: the user's own module names
    module_names = [own.get(id(m), str(i)) for i, m in enumerate(as_sequential(original))]
    seq_o, seq_l, dtype = _prepare(original, locked, dtype)
    try:
        prefix, stages = split_stages(seq_o)
        _, stages_l = split_stages(seq_l)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if [s.modules for s in stages] != [s.modules for s in stages_l]:
        raise UserError("original and locked models have different structures")
    if {k: tuple(v.shape) for k, v in seq_o.state_dict().items()} != {
        k: tuple(v.shape) for k, v in seq_l.state_dict().items()
    }:
        raise UserError("original and locked models have different parameter shapes")
    first = seq_o[stages[0].modules[0]]
    if isinstance(first, nn.Linear) and not prefix and (x.ndim != 2 or x.shape[1] != first.in_features):
        raise UserError(f"inputs must be [n, {first.in_features}] with n labels, got {tuple(x.shape)}")
    M = len(stages)
    chains = [
        ChainBound([seq_o[i] for i in s.modules], [seq_l[i] for i in s.modules], cache, (m,))
        for m, s in enumerate(stages)
    ]
    mods_l = [[seq_l[i] for i in s.modules] for s in stages]
    device = next(seq_o.parameters()).device
    per = {k: [[] for _ in range(M)] for k in PER_SAMPLE}
    x_norms, hits, out_o, out_l = [], np.zeros((2, 2)), [], []
    n_in = [None] * M
    flat = lambda t: t.reshape(len(t), -1)  # noqa: E731
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device, dtype)
        yb = y[i : i + batch].to(device)
        h0 = _apply([seq_o[j] for j in prefix], xb)
        x_norms.append(flat(h0).norm(dim=1).cpu())
        ho, hl = h0, h0
        for m in range(M):
            n_in[m] = n_in[m] or tuple(ho.shape[1:])
            ho_next, B = chains[m](ho, torch.zeros(len(ho), dtype=dtype, device=device))
            hl_next = _apply(mods_l[m], hl)
            cross = _apply(mods_l[m], ho)  # fₘ(y*⁽ᵐ⁻¹⁾): the locked stage on the original input
            per["d"][m].append(flat(hl_next - ho_next).norm(dim=1).cpu())
            per["G"][m].append(flat(hl_next - cross).norm(dim=1).cpu())
            per["e"][m].append(flat(cross - ho_next).norm(dim=1).cpu())
            per["B"][m].append(B.cpu())
            per["y_prev"][m].append(flat(ho).norm(dim=1).cpu())
            per["y_norm"][m].append(flat(ho_next).norm(dim=1).cpu())
            per["sq_orig"][m].append((flat(ho_next) ** 2).sum(dim=1).cpu())
            per["sq_lock"][m].append((flat(hl_next) ** 2).sum(dim=1).cpu())
            per["scale"][m].append((flat(hl_next).norm(dim=1) + flat(ho_next).norm(dim=1)).cpu())
            ho, hl = ho_next, hl_next
        for j, logits in enumerate((ho, hl)):
            top = logits.topk(min(3, logits.shape[1]), dim=1).indices
            hits[j, 0] += float((top[:, 0] == yb).sum())
            hits[j, 1] += float((top == yb[:, None]).any(dim=1).sum())
        out_o.append(ho.cpu())
        out_l.append(hl.cpu())
    return Streamed(
        stages=stages,
        chains=chains,
        original=seq_o,
        locked=seq_l,
        dtype=dtype,
        per={k: [torch.cat(v).double().numpy() for v in lists] for k, lists in per.items()},
        x_norm=torch.cat(x_norms).double().numpy(),
        n_in=n_in,
        hits=hits,
        logits_orig=torch.cat(out_o).double().numpy(),
        logits_lock=torch.cat(out_l).double().numpy(),
        module_names=module_names,
    )
