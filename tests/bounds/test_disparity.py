"""Properties 2, 3, 5, 6 and Theorems 2–4: hand-computed values and monotonicity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds


def test_hand_values():
    tau, mu = 2.0, 30.0
    p = 1 - 2 * np.exp(-4)
    assert bounds.output_norm_bound(1.5, 3, 4.0, 0.5) == pytest.approx(1.5 * 8)
    assert bounds.output_norm_probability(3, tau) == pytest.approx(p**3)
    assert bounds.weight_difference_tail_bound(mu, 25, 0.2, 1.0) == pytest.approx(6 * 0.2 * 5 / 30)
    assert bounds.conv_weight_difference_tail_bound(mu, 25, 0.2, 3, 1.0) == pytest.approx(9 * 6 * 0.2 * 5 / 30)
    assert bounds.theorem2_tail_bound(2.0, 3, 10, 4, 0.5) == pytest.approx(100 * 8 / 2)
    assert bounds.disparity_upper_bound(0.5, 2.0, 3, 4.0, 1.5, 1.0) == pytest.approx(0.5 + 2 * 16 * 1.5)
    assert bounds.theorem3_probability(mu, 4, tau, 25, 0.2) == pytest.approx((1 - 0.2) * p**3)
    assert bounds.theorem3_probability_union(mu, 4, tau, 25, 0.2) == pytest.approx(1 - 0.2 - 3 * 2 * np.exp(-4))
    assert bounds.theorem4_probability(mu, 2, tau, 1, 0.2, 1, 2) == pytest.approx((1 - 0.04) * p**4)
    assert bounds.conv_output_norm_bound(1.0, 2, 3, 0.5) == pytest.approx(4.5**2)
    assert bounds.conv_output_norm_probability(2, 3, tau) == pytest.approx(p**18)
    assert bounds.conv_lambda_theorem4(2, 3, 1.0, 1.0, 1.0) == pytest.approx(4 * (2 * np.sqrt(3) + 1))
    np.testing.assert_allclose(bounds.output_norm_bound_with_bias(1.0, [2.0, 3.0], [0.5, 1.0]), [2.5, 8.5])


def test_vacuity_flags_not_clipping():
    p = bounds.weight_difference_tail_bound(0.1, 100, 1.0)  # 6·1·10/0.1: "at most 600"
    assert p == pytest.approx(600.0)
    assert bounds.is_vacuous(p)
    q = bounds.theorem3_probability(0.1, 3, 1.0, 100, 1.0)
    assert q < 0 and bounds.is_vacuous(q)
    assert not bounds.is_vacuous(0.5)
    assert list(bounds.is_vacuous(np.array([0.0, 0.3, 1.0, np.nan]))) == [True, False, True, True]


@settings(max_examples=60, deadline=None)
@given(
    mu=st.floats(0.01, 1e3),
    d_mu=st.floats(0.01, 10),
    m=st.integers(1, 14),
    D=st.integers(0, 10_000),
    C_w=st.floats(0.001, 2),
    tau=st.floats(0.1, 5),
    G=st.floats(0, 10),
    lam=st.floats(1, 100),
)
def test_monotonicity(mu, d_mu, m, D, C_w, tau, G, lam):
    # tail bounds fall with μ and grow with D_w; Theorem 3's probability grows with μ and τ
    assert bounds.weight_difference_tail_bound(mu + d_mu, D, C_w) <= bounds.weight_difference_tail_bound(mu, D, C_w)
    assert bounds.weight_difference_tail_bound(mu, D + 1, C_w) >= bounds.weight_difference_tail_bound(mu, D, C_w)
    p = bounds.theorem3_probability(mu, m, tau, D, C_w)
    if p >= 0:
        assert bounds.theorem3_probability(mu + d_mu, m, tau, D, C_w) >= p
        assert bounds.theorem3_probability(mu, m, tau + 0.1, D, C_w) >= p
    # the upper bound grows with G, μ, depth (λ >= 1) and never undercuts G
    b = bounds.disparity_upper_bound(G, mu, m, lam, 1.0)
    assert b >= G
    assert bounds.disparity_upper_bound(G, mu + d_mu, m, lam, 1.0) >= b
    assert bounds.disparity_upper_bound(G, mu, m + 1, lam, 1.0) >= b
    assert bounds.theorem2_tail_bound(mu + d_mu, m, 100, D, C_w) <= bounds.theorem2_tail_bound(mu, m, 100, D, C_w)


def test_deterministic_sandwich_on_random_layers():
    # d <= G + L‖ΔW‖‖y*⁽ᵐ⁻¹⁾‖ for a ReLU layer with biases, whatever the upstream perturbation
    rng = np.random.default_rng(5)
    for _ in range(200):
        W = rng.standard_normal((7, 5))
        b = rng.standard_normal(7)
        mask = np.abs(W) >= np.sort(np.abs(W).ravel())[-3]
        W_locked = np.where(mask, 0.0, W)
        y_prev_orig = np.abs(rng.standard_normal(5))
        y_prev_lock = y_prev_orig + 0.3 * rng.standard_normal(5)
        relu = lambda z: np.maximum(z, 0)  # noqa: E731
        y_orig, y_lock = relu(W @ y_prev_orig + b), relu(W_locked @ y_prev_lock + b)
        d = np.linalg.norm(y_lock - y_orig)
        G = np.linalg.norm(y_lock - relu(W_locked @ y_prev_orig + b))
        assert d <= bounds.sandwich_upper(G, np.linalg.norm(W - W_locked, 2), np.linalg.norm(y_prev_orig)) + 1e-12


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: bounds.weight_difference_tail_bound(0.0, 3, 1.0), "mu"),
        (lambda: bounds.weight_difference_tail_bound(1.0, -3, 1.0), "D_w"),
        (lambda: bounds.theorem3_probability(1.0, 0, 1.0, 3, 1.0), "m"),
        (lambda: bounds.disparity_upper_bound(-1.0, 1.0, 2, 3.0, 1.0), "G"),
        (lambda: bounds.output_norm_bound_with_bias(1.0, [1.0, 2.0], [1.0]), "one entry per layer"),
        (lambda: bounds.theorem2_tail_bound(1.0, 2, 10, 3, float("inf")), "C_w"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_vacuous_factors_do_not_multiply_into_a_probability():
    # τ = 0.5: 1 − 2e^{−τ²} < 0; two such factors must not give a positive "probability"
    base = bounds.lemma1_probability(0.5)
    assert base < 0
    assert bounds.output_norm_probability(2, 0.5) == base
    assert bounds.is_vacuous(bounds.theorem3_probability(1.0, 2, 0.5, 1, 1.0))
    assert bounds.is_vacuous(bounds.conv_weight_norm_probability(2, 0.5))


@settings(max_examples=50, deadline=None)
@given(
    C=st.integers(1, 64),
    Q=st.integers(1, 7),
    K=st.floats(0, 3),
    tau=st.floats(0.9, 4),
    m=st.integers(1, 10),
    mu=st.floats(0.1, 1e4),
    D=st.integers(0, 1000),
)
def test_conv_bounds_monotone(C, Q, K, tau, m, mu, D):
    # Properties 4–6 and Theorem 4 grow with channels and filter size; probabilities shrink
    assert bounds.conv_weight_norm_bound(C + 1, Q, K, 1.0, tau) > bounds.conv_weight_norm_bound(C, Q, K, 1.0, tau)
    assert bounds.conv_weight_norm_bound(C, Q + 1, K, 1.0, tau) > bounds.conv_weight_norm_bound(C, Q, K, 1.0, tau)
    assert bounds.conv_output_norm_probability(m, C + 1, tau) <= bounds.conv_output_norm_probability(m, C, tau)
    tail = bounds.conv_weight_difference_tail_bound(mu, D, 0.1, Q)
    assert bounds.conv_weight_difference_tail_bound(mu, D, 0.1, Q + 1) >= tail
    p = bounds.theorem4_probability(mu, m, tau, D, 0.1, Q, C)
    if p > 0:
        assert bounds.theorem4_probability(mu * 2, m, tau, D, 0.1, Q, C) >= p
        assert bounds.theorem4_probability_union(mu, m, tau, D, 0.1, Q, C) <= p + 1e-15


def test_output_norm_bound_with_bias_vectorised():
    x = np.array([0.0, 1.0, 2.0])
    out = bounds.output_norm_bound_with_bias(x, [2.0, 3.0], [0.5, 1.0])
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[:, 1], [2.5, 8.5])
