"""Monte-Carlo helpers for the tests: many random finite networks at once."""

import numpy as np


def random_network_outputs(x, widths, sigma_w, sigma_b, act, trials, rng, mean_w=0.0):
    """Outputs y⁽ᴹ⁾ of ``trials`` independent random FCNs on one input: shape (trials, N⁽ᴹ⁾).

    Weights i.i.d. U(−a, a) + mean_w with a = σ_w√3 (bounded, sub-Gaussian: Assumption 2),
    biases i.i.d. U(−σ_b√3, σ_b√3). ``act`` is applied after every layer but the last.
    """
    y = np.broadcast_to(np.asarray(x, dtype=float), (trials, len(x)))
    sw = np.broadcast_to(sigma_w, (len(widths),))
    sb = np.broadcast_to(sigma_b, (len(widths),))
    for m, n in enumerate(widths):
        a = sw[m] * np.sqrt(3.0)
        W = rng.uniform(-a, a, size=(trials, n, y.shape[1])) + mean_w
        b = rng.uniform(-1, 1, size=(trials, n)) * sb[m] * np.sqrt(3.0)
        y = np.einsum("tij,tj->ti", W, y) + b
        if m < len(widths) - 1:
            y = act(y)
    return y


def total_variance(y):
    """V(y) = Σᵢ Var(yᵢ) over trials, with its standard error: (estimate, se)."""
    q = ((y - y.mean(axis=0)) ** 2).sum(axis=1)
    t = y.shape[0]
    return q.mean() * t / (t - 1), q.std(ddof=1) / np.sqrt(t)


def relu(z):
    return np.maximum(z, 0.0)


def identity(z):
    return z
