"""Theorem 1 against Monte-Carlo estimates over random networks satisfying Assumption 2."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds
from tests.bounds.mc import identity, random_network_outputs, relu, total_variance
from tests.tolerances import N_SE

X = np.array([0.9, -0.4, 0.3, 0.2])
CASES = [  # widths [N1..NM], sigma_w, sigma_b
    ([6, 5, 3], [0.5, 0.4, 0.3], [0.2, 0.1, 0.3]),
    ([3, 12, 2], 0.35, 0.05),
    ([8, 8, 8, 8], [0.4, 0.3, 0.35, 0.3], 0.1),
]


@pytest.mark.parametrize("widths,sw,sb", CASES)
def test_linear_network_attains_the_bound(widths, sw, sb):
    # identity activations (L = 1) make every step of the corrected recursion an equality
    y = random_network_outputs(X, widths, sw, sb, identity, 40_000, np.random.default_rng(0))
    v, se = total_variance(y)
    assert abs(v - bounds.variance_bound(X @ X, widths, sw, sb)) < N_SE * se


@pytest.mark.parametrize("widths,sw,sb", CASES)
def test_relu_network_within_the_bound(widths, sw, sb):
    y = random_network_outputs(X, widths, sw, sb, relu, 40_000, np.random.default_rng(1))
    v, se = total_variance(y)
    assert v - N_SE * se <= bounds.variance_bound(X @ X, widths, sw, sb)


def test_lipschitz_scaling():
    # φ(z) = 2·relu(z) is 2-Lipschitz; its outputs stay within the L = 2 bound
    widths, sw, sb = [5, 4, 3], 0.4, 0.1
    y = random_network_outputs(X, widths, sw, sb, lambda z: 2 * relu(z), 40_000, np.random.default_rng(2))
    v, se = total_variance(y)
    assert v - N_SE * se <= bounds.variance_bound(X @ X, widths, sw, sb, lipschitz=2.0)


def test_literal_uniform_formula_equals_recursion():
    sw, sb = [0.3, 0.5, 0.2, 0.4], [0.1, 0.2, 0.3, 0.05]
    for L in (1.0, 1.5):
        assert bounds.variance_bound_literal(2.0, 7, 4, sw, sb, L) == pytest.approx(
            bounds.variance_bound(2.0, [7] * 4, sw, sb, L), rel=1e-12
        )


def test_hand_computed_single_layer():
    # one layer: V = N (σ_w² ‖x‖² + σ_b²) L²
    assert bounds.variance_bound(2.0, [3], 0.5, 0.1, lipschitz=2.0) == pytest.approx(4 * 3 * (0.25 * 2 + 0.01))


@settings(max_examples=50, deadline=None)
@given(
    widths=st.lists(st.integers(1, 50), min_size=1, max_size=6),
    sw=st.floats(0.01, 2),
    sb=st.floats(0, 2),
    x_sq=st.floats(0, 10),
    grow=st.integers(0, 5),
)
def test_monotone_in_widths_and_sigmas(widths, sw, sb, x_sq, grow):
    base = bounds.variance_bound(x_sq, widths, sw, sb)
    wider = [w + grow for w in widths]
    assert bounds.variance_bound(x_sq, wider, sw, sb) >= base
    assert bounds.variance_bound(x_sq, widths, sw * 1.1, sb) >= base
    assert bounds.variance_bound(x_sq, widths, sw, sb + 0.1) >= base
    assert bounds.variance_bound(x_sq + 1, widths, sw, sb) >= base


@pytest.mark.parametrize(
    "args,match",
    [
        ((1.0, [3, -2], 0.1, 0.1), "widths"),
        ((1.0, [], 0.1, 0.1), "widths"),
        ((1.0, [3, 2], [0.1, 0.2, 0.3], 0.1), "sigma_w"),
        ((1.0, [3, 2], 0.1, [0.1]), "sigma_b"),
        ((float("nan"), [3, 2], 0.1, 0.1), "x_sq_norm"),
        ((1.0, [3, 2], -0.1, 0.1), "sigma_w"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        bounds.variance_bound(*args)
