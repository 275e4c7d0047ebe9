"""Lemmas 1–3 and Properties 1, 4 against Monte-Carlo estimates and hand-computed cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds
from tests.tolerances import N_SE


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("r,n", [(1, 1), (1, 8), (5, 8), (8, 8), (20, 20)])
def test_order_statistic_moments_monte_carlo(r, n, k):
    rng = np.random.default_rng(100 * r + n + k)
    a, trials = 2.5, 200_000
    mag = np.sort(rng.uniform(0, a, size=(trials, n)), axis=1)[:, r - 1] ** k
    assert abs(mag.mean() - bounds.order_statistic_moment(r, n, k, a)) < N_SE * mag.std() / np.sqrt(trials)
    sym = np.sort(rng.uniform(-a, a, size=(trials, n)), axis=1)[:, r - 1] ** k
    assert abs(sym.mean() - bounds.order_statistic_moment_symmetric(r, n, k, a)) < N_SE * sym.std() / np.sqrt(trials)


def test_order_statistic_hand_case():
    # the maximum of one U(0, 1): E U² = 1/3, E U⁴ = 1/5
    assert bounds.order_statistic_moment(1, 1, 2) == pytest.approx(1 / 3)
    assert bounds.order_statistic_moment(1, 1, 4) == pytest.approx(1 / 5)
    # the printed k = 2, 4 forms are the U(0, a) moments
    for r, n in [(1, 3), (3, 3), (4, 9)]:
        for k in (2, 4):
            assert bounds.order_statistic_moment_literal(r, n, k, 1.7) == pytest.approx(
                bounds.order_statistic_moment(r, n, k, 1.7)
            )


@pytest.mark.parametrize("dist", ["gauss", "rademacher", "uniform"])
def test_latala_bound_monte_carlo(dist):
    rng = np.random.default_rng(1)
    m, n, trials, s = 40, 25, 2000, 0.7
    if dist == "gauss":
        B = rng.standard_normal((trials, m, n)) * s
        m4 = 3 * s**4
    elif dist == "rademacher":
        B = rng.choice([-s, s], size=(trials, m, n))
        m4 = s**4
    else:
        a = s * np.sqrt(3)
        B = rng.uniform(-a, a, size=(trials, m, n))
        m4 = a**4 / 5
    norms = np.linalg.norm(B, 2, axis=(1, 2))
    bound = bounds.latala_norm_bound(np.full((m, n), s**2), np.full((m, n), m4), C_e=1.0)
    assert norms.mean() + N_SE * norms.std() / np.sqrt(trials) <= bound
    assert bound / norms.mean() < 2.0  # the right order, not just a bound


def test_latala_single_entry_hand_case():
    # one ±1 entry: E‖B‖ = 1 and the bound is C_e·(1 + 1 + 1)
    s2, s4 = np.zeros((3, 4)), np.zeros((3, 4))
    s2[1, 2] = s4[1, 2] = 1.0
    assert bounds.latala_norm_bound(s2, s4, C_e=0.5) == pytest.approx(1.5)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_lemma1_frequency_at_least_probability(tau):
    # isotropic rows (standard Gaussian): s₁ <= √m + C_s K_s² (√n + τ) at least 1 − 2e^{−τ²} of the time
    rng = np.random.default_rng(3)
    m, n, trials = 60, 30, 500
    A = rng.standard_normal((trials, m, n))
    s1 = np.linalg.norm(A, 2, axis=(1, 2))
    K_s = np.linalg.norm(A, axis=2).max(axis=1)
    ok = s1 <= bounds.subgaussian_singular_value_bound(m, n, K_s, C_s=1.0, tau=tau)
    p = bounds.lemma1_probability(tau)
    assert ok.mean() >= p - N_SE * np.sqrt(max(p * (1 - p), 1e-12) / trials)


def test_property1_and_4_forms():
    assert bounds.fc_lambda(100, 0.5, C_s=2.0, tau=1.0) == pytest.approx(10 + 2 * 0.25 * 11)
    assert bounds.conv_lambda(3, 1.0, tau=1.0) == pytest.approx(2 * np.sqrt(3) + 1)
    assert bounds.conv_weight_norm_bound(4, 3, 1.0, tau=1.0) == pytest.approx(16 * (2 * np.sqrt(3) + 1))
    # τ defaults to 2 everywhere (bounds, CLI, measure, theory table): √3 + (√3 + 2)
    assert bounds.conv_lambda(3, 1.0) == pytest.approx(2 * np.sqrt(3) + 2)
    assert bounds.fc_lambda(100, 0.5) == pytest.approx(10 + 0.25 * 12)
    assert bounds.conv_weight_norm_probability(2, 2.0) == pytest.approx((1 - 2 * np.exp(-4)) ** 4)


@settings(max_examples=50, deadline=None)
@given(
    N=st.integers(1, 10_000),
    K=st.floats(0, 10),
    C=st.floats(0, 10),
    tau=st.floats(0, 10),
    dN=st.integers(1, 100),
    dK=st.floats(0.01, 1),
)
def test_lambda_monotone(N, K, C, tau, dN, dK):
    lam = bounds.fc_lambda(N, K, C, tau)
    assert bounds.fc_lambda(N + dN, K, C, tau) > lam
    assert bounds.fc_lambda(N, K + dK, C, tau) >= lam
    assert bounds.fc_lambda(N, K, C, tau + dK) >= lam


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: bounds.fc_lambda(-3, 1.0), "N"),
        (lambda: bounds.fc_lambda(10, float("nan")), "K_s"),
        (lambda: bounds.fc_lambda(2.5, 1.0), "N"),
        (lambda: bounds.order_statistic_moment(5, 3, 2), "r <= n"),
        (lambda: bounds.order_statistic_moment_literal(1, 3, 3), "k = 2 and k = 4"),
        (lambda: bounds.latala_norm_bound(np.ones((2, 2)), np.ones((2, 3))), "one shape"),
        (lambda: bounds.lemma1_probability(float("nan")), "tau"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
