"""The FCN of Section 5.1.1: 784 → width × H (ReLU) → 10 logits (DESIGN.md notation)."""

from __future__ import annotations

import torch
import torch.nn as nn

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
        ys = [x.reshape(len(x), -1)]
        for m, layer in enumerate(self.layers):
            z = layer(ys[-1])
            ys.append(z if m == len(self.layers) - 1 else torch.relu(z))
        return ys


def make_fcn(hidden_layers: int, width: int, seed: int | None = None) -> FCN:
    """An MNIST FCN with PyTorch's default ``nn.Linear`` initialisation (seeded if ``seed`` given)."""
    if seed is None:
        return FCN(hidden_layers, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FCN(hidden_layers, width)
