"""Theorem 1 by Monte Carlo: the output variance over *weights*, which is what the theorem bounds.

For fixed inputs x, draw T networks of one shape with PyTorch's default initialisation
(weights and biases independent, mean zero, U(−1/√fan_in, 1/√fan_in), so σ_w = σ_b = 1/√(3·fan_in)
— Assumption 2 holds), and estimate V(y⁽ᴹ⁾) = Σᵢ Var(yᵢ⁽ᴹ⁾) over the T networks. The bound is
``bounds.variance_bound`` (the corrected recursion, exponent M) at the same σ's and ‖x‖₂².
The spread of the logits over *inputs* of one trained network is a different quantity (a proxy).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

import bounds
from empirical.nets.models import make_fcn


@torch.no_grad()
def theorem1_monte_carlo(hidden_layers: int, width: int, x: torch.Tensor, n_networks: int = 32, seed: int = 0):
    """One row per input: ‖x‖², the Monte-Carlo V(y⁽ᴹ⁾), its standard error, the bound and their ratio."""
    x = x.reshape(len(x), -1).double()  # (n, 784)
    outs = []
    for t in range(n_networks):
        net = make_fcn(hidden_layers, width, seed=10_000 + seed * 1_000 + t).double()
        outs.append(net(x))  # (n, 10)
    y = torch.stack(outs).numpy()  # (T, n, 10)
    T = n_networks
    q = ((y - y.mean(axis=0)) ** 2).sum(axis=2)  # (T, n): squared deviation per network
    v = q.sum(axis=0) / (T - 1)
    se = q.std(axis=0, ddof=1) * math.sqrt(T) / (T - 1)
    fan_in = [x.shape[1]] + [width] * hidden_layers
    widths = [width] * hidden_layers + [10]
    sig = [1 / math.sqrt(3 * f) for f in fan_in]
    x_sq = (x**2).sum(dim=1).numpy()
    bound = np.array([bounds.variance_bound(s, widths, sig, sig) for s in x_sq])
    return pd.DataFrame(
        {
            "input": np.arange(len(x)),
            "x_sq_norm": x_sq,
            "n_networks": T,
            "mc_variance": v,
            "mc_se": se,
            "bound": bound,
            "mc_over_bound": v / bound,
            "holds_within_2se": v <= bound + 2 * se,
        }
    )
