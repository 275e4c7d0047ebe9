"""SymPy forms of the paper's bounds: LaTeX-renderable, and checked against the numeric ones.

Each function returns ``(expression, symbols)``; ``symbols`` is the argument order of the
matching numeric function, so ``sympy.lambdify(symbols, expression)`` reproduces it.
"""

from __future__ import annotations

import sympy as sp

N, M, m, tau, K_s, C_s, C_e, C_w, D_w, mu, L, x_norm, G, lam, Q, C = sp.symbols(
    "N M m tau K_s C_s C_e C_w D_w mu L x_norm G lambda Q C", positive=True
)


def fc_lambda():
    """Property 1: λ = √N + C_s K_s² (√N + τ)."""
    return sp.sqrt(N) + C_s * K_s**2 * (sp.sqrt(N) + tau), (N, K_s, C_s, tau)


def lemma1_probability():
    """Lemma 1: 1 − 2e^{−τ²}."""
    return 1 - 2 * sp.exp(-(tau**2)), (tau,)


def output_norm_bound():
    """Property 2: (Lλ)^m ‖x‖₂."""
    return (L * lam) ** m * x_norm, (x_norm, m, lam, L)


def weight_difference_tail_bound():
    """Property 3: 6 C_e C_w √D_w / μ."""
    return 6 * C_e * C_w * sp.sqrt(D_w) / mu, (mu, D_w, C_w, C_e)


def conv_weight_difference_tail_bound():
    """Property 6: 6 Q² C_e C_w √D_w / μ."""
    return 6 * Q**2 * C_e * C_w * sp.sqrt(D_w) / mu, (mu, D_w, C_w, Q, C_e)


def theorem2_tail_bound():
    """Theorem 2: N^{m−1} (D_w C_w)^m / μ."""
    return N ** (m - 1) * (D_w * C_w) ** m / mu, (mu, m, N, D_w, C_w)


def disparity_upper_bound():
    """Theorems 3/4, eq. (2)/(3): G + μ L^m λ^{m−1} ‖x‖₂."""
    return G + mu * L**m * lam ** (m - 1) * x_norm, (G, mu, m, lam, x_norm, L)


def theorem3_probability():
    """Theorem 3: (1 − 6C_eC_w√D_w/μ)(1 − 2e^{−τ²})^{m−1}."""
    p_w = weight_difference_tail_bound()[0]
    return (1 - p_w) * (1 - 2 * sp.exp(-(tau**2))) ** (m - 1), (mu, m, tau, D_w, C_w, C_e)


def theorem4_probability():
    """Theorem 4 (event ‖ΔW‖ <= μ): (1 − 6Q²C_eC_w√D_w/μ)(1 − 2e^{−τ²})^{C²(m−1)}."""
    p_w = conv_weight_difference_tail_bound()[0]
    return (1 - p_w) * (1 - 2 * sp.exp(-(tau**2))) ** (C**2 * (m - 1)), (mu, m, tau, D_w, C_w, Q, C, C_e)


def variance_bound_uniform(n_layers: int):
    """Theorem 1 (exponent M) for uniform width N and per-layer σ_w⁽ᵐ⁾, σ_b⁽ᵐ⁾, M = n_layers.

    Symbols: (x_sq, N, L, σ_w1..σ_wM, σ_b1..σ_bM).
    """
    sw = sp.symbols(f"sigma_w1:{n_layers + 1}", positive=True)
    sb = sp.symbols(f"sigma_b1:{n_layers + 1}", positive=True)
    x_sq = sp.Symbol("x_sq", nonnegative=True)
    expr = x_sq * (L**2 * N) ** n_layers * sp.Mul(*[s**2 for s in sw]) + L**2 * N * sb[-1] ** 2
    for k in range(n_layers - 1):
        expr += L**2 * N * sb[k] ** 2 * sp.Mul(*[L**2 * N * s**2 for s in sw[k + 1 :]])
    return expr, (x_sq, N, L, *sw, *sb)


ALL = {
    "Property 1 (λ)": fc_lambda,
    "Lemma 1 probability": lemma1_probability,
    "Property 2": output_norm_bound,
    "Property 3": weight_difference_tail_bound,
    "Property 6": conv_weight_difference_tail_bound,
    "Theorem 2": theorem2_tail_bound,
    "Theorems 3/4 bound": disparity_upper_bound,
    "Theorem 3 probability": theorem3_probability,
    "Theorem 4 probability": theorem4_probability,
}


def latex_table() -> str:
    """Markdown table of every bound's LaTeX form."""
    rows = ["| quantity | form |", "|---|---|"]
    rows += [f"| {name} | ${sp.latex(f()[0])}$ |" for name, f in ALL.items()]
    rows.append(f"| Theorem 1 (M = 3) | ${sp.latex(variance_bound_uniform(3)[0])}$ |")
    return "\n".join(rows)
