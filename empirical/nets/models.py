"""The FCN of Section 5.1.1: 784 → width × H (ReLU) → 10 logits (DESIGN.md notation)."""

from __future__ import annotations

import torch
import torch.nn as nn

from empirical.nets.convnets import describe, make_conv
from empirical.nets.others import OTHER_ARCHS, describe_other, make_other

INPUT_DIM, N_CLASSES = 784, 10


class FCN(nn.Module):
    """y⁽⁰⁾ = x, y⁽ᵐ⁾ = ReLU(W⁽ᵐ⁾y⁽ᵐ⁻¹⁾ + b⁽ᵐ⁾) for m = 1..H, y⁽ᴹ⁾ = W⁽ᴹ⁾y⁽ᴴ⁾ + b⁽ᴹ⁾ (M = H + 1)."""

    def __init__(self, hidden_layers: int, width: int, input_dim: int = INPUT_DIM, n_classes: int = N_CLASSES):
        super().__init__()
        if hidden_layers < 1 or width < 1:
            raise ValueError(f"need hidden_layers >= 1 and width >= 1, got {hidden_layers} and {width}")
        self.hidden_layers, self.width = hidden_layers, width
        dims = [input_dim] + [width] * hidden_layers + [n_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.reshape(len(x), -1)  # (B, 784)
        for layer in self.layers[:-1]:
            y = torch.relu(layer(y))
        return self.layers[-1](y)  # (B, 10)

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[y⁽⁰⁾, y⁽¹⁾, …, y⁽ᴹ⁾]: the input and every layer's output, logits last."""
        return fc_activations(list(self.layers), x)


def make_fcn(hidden_layers: int, width: int, seed: int | None = None) -> FCN:
    """An MNIST FCN with PyTorch's default ``nn.Linear`` initialisation (seeded if ``seed`` given)."""
    if seed is None:
        return FCN(hidden_layers, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FCN(hidden_layers, width)


def fc_layers(model: nn.Module) -> list[nn.Linear]:
    """The weight layers W⁽¹⁾..W⁽ᴹ⁾ of a feed-forward ReLU MLP: our ``FCN``, or an ``nn.Sequential`` of
    (optional ``Flatten``,) Linear, ReLU, Linear, ReLU, …, Linear — e.g. a network trained outside the
    toolkit. Anything else is refused with a ``ValueError`` naming the first module that does not fit.
    """
    if isinstance(model, FCN):
        return list(model.layers)
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"expected the toolkit's FCN or an nn.Sequential MLP, got {type(model).__name__}")
    mods = [m for m in model if not isinstance(m, nn.Flatten)]
    linears = mods[0::2]
    acts = mods[1::2]
    ok = (
        len(mods) % 2 == 1
        and all(isinstance(m, nn.Linear) for m in linears)
        and all(isinstance(m, nn.ReLU) for m in acts)
    )
    if not ok or (len(model) and isinstance(model[-1], nn.Flatten)):
        bad = next((m for i, m in enumerate(mods) if not isinstance(m, (nn.Linear, nn.ReLU)[i % 2])), mods[-1])
        raise ValueError(f"not a Linear/ReLU/…/Linear MLP (first module that does not fit: {bad})")
    for a, b in zip(linears[:-1], linears[1:]):
        if a.out_features != b.in_features:
            raise ValueError(f"layer widths do not chain: {a} then {b}")
    return linears


def fc_activations(layers: list[nn.Linear], x: torch.Tensor) -> list[torch.Tensor]:
    """[y⁽⁰⁾, …, y⁽ᴹ⁾] of the MLP given by its weight layers (ReLU between them, logits last)."""
    ys = [x.reshape(len(x), -1)]
    for m, layer in enumerate(layers):
        z = layer(ys[-1])
        ys.append(z if m == len(layers) - 1 else torch.relu(z))
    return ys


ARCHS = ("fcn", "vgg", "resnet", "preresnet", "densenet", "vit", "lstm")


def make_model(arch: str, hidden_layers: int, width: int, seed: int | None = None) -> nn.Module:
    """Any of the toolkit's architectures: ``fcn`` (this module) or a conv net (``empirical.nets.convnets``)."""
    if arch == "fcn":
        return make_fcn(hidden_layers, width, seed)

    if arch in OTHER_ARCHS:
        return make_other(arch, hidden_layers, width, seed)

    return make_conv(arch, hidden_layers, width, seed)


def describe_spec(spec: dict) -> str:
    """A short name for the model a checkpoint spec describes, e.g. ``6 × 512 FCN`` or ``ResNet-20``."""
    arch = spec.get("arch", "fcn")
    if arch == "fcn":
        return f"{spec.get('hidden_layers')} × {spec.get('width')} FCN"
    if arch == "module":
        return f"{spec.get('builder')} (user model)"
    if arch in ("vit", "lstm"):
        return describe_other(arch, int(spec["hidden_layers"]), int(spec["width"]))

    return describe(arch, int(spec["hidden_layers"]), int(spec["width"]))
