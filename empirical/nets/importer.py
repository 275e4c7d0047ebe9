"""Import a network trained outside the toolkit: an ``nn.Sequential`` MLP state dict → our checkpoint.

The file is read with ``torch.load(..., weights_only=True)`` (no pickle code runs). Its ``*.weight``
and ``*.bias`` tensors are taken in module order (``0.weight``, ``2.weight``, … — the indices of
Linear layers in the Sequential) and must chain 784 → w → … → w → 10 with one hidden width w, which
is what our FCN checkpoint stores (``hidden_layers``, ``width``). The input normalisation the network
was trained with must be given: it is recorded and used by every evaluation.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from empirical.nets import data as data_mod
from empirical.nets.checkpoint import save_checkpoint
from empirical.errors import UserError
from empirical.nets.models import FCN, INPUT_DIM, N_CLASSES


def _layers(state: dict) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    idx = {}
    for k in state:
        m = re.fullmatch(r"(?:(.+)\.)?(\d+)\.(weight|bias)", k)
        if not m:
            raise UserError(f"unexpected entry {k!r}: expected an nn.Sequential state dict (0.weight, 0.bias, …)")
        idx.setdefault(int(m.group(2)), {})[m.group(3)] = state[k]
    out = []
    for i in sorted(idx):
        w, b = idx[i].get("weight"), idx[i].get("bias")
        if w is None or w.ndim != 2:
            raise UserError(f"module {i} is not a Linear layer (weight {None if w is None else tuple(w.shape)})")
        out.append((w, b))
    return out


def import_sequential(path, out, normalization: str, dataset: str = "mnist") -> Path:
    """Convert the state dict at ``path`` into a checkpoint at ``out``; returns ``out``."""
    path, out = Path(path), Path(out)
    if normalization not in data_mod.NORMALIZATIONS:
        raise UserError(f"unknown normalization {normalization!r}; choose one of {', '.join(data_mod.NORMALIZATIONS)}")
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "not a state dict"
        raise UserError(f"{path} is not a readable torch state dict ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a state dict of tensors")
    layers = _layers(state)
    dims = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
    hidden = dims[1:-1]
    if dims[0] != INPUT_DIM or dims[-1] != N_CLASSES or len(hidden) < 1 or len(set(hidden)) != 1:
        raise UserError(f"layer sizes {dims} are not 784 → w → … → w → 10 with one hidden width")
    for (w0, _), (w1, _) in zip(layers[:-1], layers[1:]):
        if w1.shape[1] != w0.shape[0]:
            raise UserError(f"layer shapes do not chain: {tuple(w0.shape)} then {tuple(w1.shape)}")
    model = FCN(len(hidden), hidden[0])
    with torch.no_grad():
        for layer, (w, b) in zip(model.layers, layers):
            if not w.is_floating_point():
                raise UserError(f"weights of dtype {w.dtype} are not floating point")
            layer.weight.copy_(w)
            layer.bias.copy_(b if b is not None else torch.zeros_like(layer.bias))
    spec = {
        "hidden_layers": len(hidden),
        "width": hidden[0],
        "dataset": dataset,
        "normalization": normalization,
        "normalization_doc": data_mod.NORMALIZATIONS[normalization],
        "imported_from": path.name,
        "imported_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    return save_checkpoint(out, model, spec)
