"""SymPy forms: lambdified expressions equal the numeric functions; they render to LaTeX."""

import numpy as np
import pytest
import sympy

import bounds
from bounds import symbolic

PAIRS = [
    (symbolic.fc_lambda, bounds.fc_lambda, [(100, 0.6, 1.0, 2.0), (7, 1.3, 0.2, 0.5)]),
    (symbolic.lemma1_probability, bounds.lemma1_probability, [(0.7,), (2.0,)]),
    (symbolic.output_norm_bound, bounds.output_norm_bound, [(1.5, 3, 4.0, 0.9), (0.3, 7, 1.1, 1.0)]),
    (symbolic.weight_difference_tail_bound, bounds.weight_difference_tail_bound, [(2.0, 50, 0.1, 1.3)]),
    (symbolic.conv_weight_difference_tail_bound, bounds.conv_weight_difference_tail_bound, [(2.0, 50, 0.1, 3, 1.3)]),
    (symbolic.theorem2_tail_bound, bounds.theorem2_tail_bound, [(3.0, 4, 100, 5, 0.05)]),
    (symbolic.disparity_upper_bound, bounds.disparity_upper_bound, [(0.4, 2.0, 5, 3.0, 1.2, 1.0)]),
    (symbolic.theorem3_probability, bounds.theorem3_probability, [(40.0, 5, 2.0, 30, 0.2, 1.0)]),
    (symbolic.theorem4_probability, bounds.theorem4_probability, [(400.0, 3, 2.5, 3, 0.2, 3, 2, 1.0)]),
]


@pytest.mark.parametrize("sym,num,points", PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_lambdified_equals_numeric(sym, num, points):
    expr, args = sym()
    f = sympy.lambdify(args, expr, "numpy")
    for pt in points:
        assert float(f(*pt)) == pytest.approx(float(num(*pt)), rel=1e-12)
    assert sympy.latex(expr)


def test_variance_bound_symbolic():
    M = 3
    expr, args = symbolic.variance_bound_uniform(M)
    f = sympy.lambdify(args, expr, "numpy")
    sw, sb = [0.3, 0.4, 0.5], [0.1, 0.2, 0.05]
    assert float(f(2.0, 9, 1.0, *sw, *sb)) == pytest.approx(bounds.variance_bound(2.0, [9] * M, sw, sb), rel=1e-12)
    assert float(f(2.0, 9, 1.3, *sw, *sb)) == pytest.approx(
        bounds.variance_bound_literal(2.0, 9, M, sw, sb, 1.3), rel=1e-12
    )


def test_latex_table_lists_every_form():
    table = symbolic.latex_table()
    for name in symbolic.ALL:
        assert name in table
    assert np.all([line.count("$") == 2 for line in table.splitlines()[2:]])
