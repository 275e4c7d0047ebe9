"""Closed forms over the paper's grid of MNIST FCNs, before any training (the theory table).

Per cell (H hidden layers of width w; M = H + 1 weight layers; candidates W⁽²⁾..W⁽ᴴ⁾) and ratio r:
how many weights r extracts (Definition 1), λ (Property 1), the output-norm bound at the deepest
extracted layer m = H (Property 2), μ½ where Property 3's Markov bound equals 1/2, Theorem 3's η
and its probability at μ½, Theorem 2's tail bound, and Theorem 1's variance bound at initialisation.

Weight constants come from PyTorch's default ``nn.Linear`` initialisation, U(−1/√fan_in, 1/√fan_in):
row norm² = fan_in·(1/fan_in)/3 = 1/3, so K_s = 1/√3; C_w = 1/√min(fan_in); σ_w² = σ_b² = 1/(3·fan_in).
Trained networks differ; ``check-bounds`` measures them. Pure: rows are dicts (``empirical.theory_table``
makes the DataFrame and the CLI prints it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

from bounds.disparity import eta, theorem2_tail_bound, theorem3_probability, theorem3_probability_union
from bounds.probability import is_vacuous, lemma1_probability
from bounds.properties import output_norm_bound, output_norm_probability, weight_difference_expectation_bound
from bounds.random_matrix import fc_lambda
from bounds.variance import variance_bound


def extracted_count(ratio: float, n_candidates: int) -> int:
    """Definition 1: k = ⌈r·D⌉ of D candidate units, at least 1, on the ratio's shortest decimal form.

    ``repr`` makes r·D exact (0.00002 of 3,000,000 is 60, not 61 from binary round-up).
    """
    r = float(ratio)
    if not (math.isfinite(r) and 0.0 < r < 1.0):
        raise ValueError(f"extraction ratio must be in (0, 1), got {ratio!r}")
    if n_candidates < 1:
        raise ValueError(f"no candidate units to extract from (D = {n_candidates})")
    return min(n_candidates, max(1, math.ceil(Fraction(repr(r)) * n_candidates)))


INPUT_DIM, N_CLASSES = 784, 10


@dataclass(frozen=True)
class Constants:
    C_s: float = 1.0
    C_e: float = 1.0
    tau: float = 2.0
    lipschitz: float = 1.0
    x_norm: float = 1.0  # Section 2.1 posits ‖x‖₂ <= 1
    mu_theorem2: float = 1.0
    K_s: float | None = None  # None: 1/√3, PyTorch default init
    C_w: float | None = None  # None: 1/√(smallest fan-in), PyTorch default init


def fc_widths(hidden_layers: int, width: int) -> list[int]:
    """[N⁽¹⁾..N⁽ᴹ⁾] of the MNIST FCN: H hidden layers of ``width``, then 10 logits."""
    return [width] * hidden_layers + [N_CLASSES]


def n_parameters(hidden_layers: int, width: int) -> int:
    fan_in = [INPUT_DIM] + [width] * hidden_layers
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(fan_in, fc_widths(hidden_layers, width)))


def theory_row(hidden_layers: int, width: int, ratio: float, c: Constants = Constants()) -> dict:
    """Every closed form for one cell and ratio (see the module docstring), as a flat dict."""
    H, w = hidden_layers, width
    if H < 2:
        raise ValueError(f"hidden-scope extraction needs at least 2 hidden layers, got {H}")
    widths = fc_widths(H, w)
    fan_in = [INPUT_DIM] + widths[:-1]
    N = max(widths)
    per_layer = w * w
    n_cand = (H - 1) * per_layer
    D_w = extracted_count(ratio, per_layer)
    K_s = 1 / math.sqrt(3) if c.K_s is None else c.K_s
    C_w = 1 / math.sqrt(min(fan_in)) if c.C_w is None else c.C_w
    lam = float(fc_lambda(N, K_s, c.C_s, c.tau))
    mu_half = 2 * float(weight_difference_expectation_bound(D_w, C_w, c.C_e))
    sigma = [1 / math.sqrt(3 * f) for f in fan_in]
    row = dict(
        hidden_layers=H,
        width=w,
        M=H + 1,
        N=N,
        n_params=n_parameters(H, w),
        n_candidates=n_cand,
        ratio=ratio,
        k_global=extracted_count(ratio, n_cand),
        D_w=D_w,
        K_s=K_s,
        C_w=C_w,
        **{k: v for k, v in asdict(c).items() if k not in ("K_s", "C_w")},
        lam=lam,
        p_lam=float(lemma1_probability(c.tau)),
        out_norm_bound=float(output_norm_bound(c.x_norm, H, lam, c.lipschitz)),
        p_out_norm=float(output_norm_probability(H, c.tau)),
        mu_half=mu_half,
        eta=float(eta(mu_half, H, lam, c.x_norm, c.lipschitz)),
        p_theorem3=float(theorem3_probability(mu_half, H, c.tau, D_w, C_w, c.C_e)),
        p_theorem3_union=float(theorem3_probability_union(mu_half, H, c.tau, D_w, C_w, c.C_e)),
        theorem2_tail=float(theorem2_tail_bound(c.mu_theorem2, H, N, D_w, C_w)),
        variance_bound_init=variance_bound(c.x_norm**2, widths, sigma, sigma, c.lipschitz),
    )
    for p, kind in (
        ("p_lam", "lower"),
        ("p_out_norm", "lower"),
        ("p_theorem3", "lower"),
        ("p_theorem3_union", "lower"),
        ("theorem2_tail", "upper"),
    ):
        row[f"{p}_vacuous"] = bool(is_vacuous(row[p], kind))
    return row


def theory_rows(hidden_layers, widths, ratios, constants: Constants = Constants()) -> list[dict]:
    """``theory_row`` for every (hidden_layers, width, ratio), in that order."""
    return [theory_row(H, w, r, constants) for H in hidden_layers for w in widths for r in ratios]
