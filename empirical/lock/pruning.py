"""Pruning attacks on a locked model: magnitude pruning of every Conv2d / Linear weight, and Liu et al.'s
Fine-Pruning of the last hidden layer's least active channels."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from empirical.errors import UserError


@torch.no_grad()
def magnitude_prune(model: nn.Module, fraction: float) -> nn.Module:
    """Each Conv2d / Linear weight's smallest-|w| ``fraction`` set to zero, layer by layer (a copy)."""
    if not 0 <= fraction < 1:
        raise UserError(f"prune fraction must be in [0, 1), got {fraction}")
    out = copy.deepcopy(model)
    for m in out.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and fraction > 0:
            w = m.weight.reshape(-1)
            k = int(fraction * w.numel())
            if k:
                w[torch.topk(w.abs(), k, largest=False).indices] = 0
    return out


def _last_hidden(model: nn.Module):
    """(module whose output is the last hidden representation, its weight layer) for fine-pruning: the last
    Conv2d of a conv net, or the last hidden Linear of an MLP."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return convs[-1]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) < 2:
        raise UserError("fine-pruning needs a hidden layer")
    return linears[-2]


@torch.no_grad()
def fine_prune(model: nn.Module, x_clean: torch.Tensor, fraction: float, batch: int = 1000) -> nn.Module:
    """Liu et al.'s Fine-Pruning (without its fine-tune): the last hidden layer's ``fraction`` of channels
    (or neurons) with the lowest mean activation on ``x_clean`` are removed (their filters and biases 0)."""
    if not 0 <= fraction < 1:
        raise UserError(f"prune fraction must be in [0, 1), got {fraction}")
    out = copy.deepcopy(model).eval()
    layer = _last_hidden(out)
    acts = []
    hook = layer.register_forward_hook(
        lambda m, i, o: acts.append(torch.relu(o).reshape(len(o), o.shape[1], -1).mean((0, 2)))
    )
    for i in range(0, len(x_clean), batch):
        out(x_clean[i : i + batch])
    hook.remove()
    mean = torch.stack(acts).mean(0)
    k = int(fraction * len(mean))
    if k:
        idx = torch.topk(mean, k, largest=False).indices
        layer.weight[idx] = 0
        if layer.bias is not None:
            layer.bias[idx] = 0
    return out
