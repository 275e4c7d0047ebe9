"""One test per erratum in ``bounds.errata``: each shows the printed statement and the reading
the toolkit implements differ, by a counterexample, a Monte-Carlo estimate or a hand case."""

import inspect
import sys

import numpy as np
import pytest

import bounds
from bounds.errata import ERRATA, errata_markdown
from tests.bounds.mc import identity, random_network_outputs, relu, total_variance
from tests.tolerances import N_SE


def test_every_erratum_names_a_test_here():
    here = {name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)}
    assert len({e.id for e in ERRATA}) == len(ERRATA)
    for e in ERRATA:
        assert e.test in here, e.id
        assert e.status in {"wrong", "harmless", "gap", "ambiguous"}
    assert errata_markdown().count("\n") == len(ERRATA) + 1


def test_e_a1_lipschitz_direction():
    x1, x2 = -2.0, -1.0
    assert not abs(relu(x1) - relu(x2)) >= 1.0 * abs(x1 - x2)  # printed (>=) fails for ReLU
    z = np.random.default_rng(0).standard_normal((2, 1000))
    assert np.all(np.abs(relu(z[0]) - relu(z[1])) <= np.abs(z[0] - z[1]))  # Lipschitz (<=) holds


def test_e_l1_isotropy_needed():
    # a 10⁶×1 column of N(0, 3²) entries: s₁ = ‖v‖ ≈ 3000; rows are not isotropic (variance 9)
    v = np.random.default_rng(0).standard_normal((1_000_000, 1)) * 3.0
    K_s = np.abs(v).max()  # max row norm (rows have one entry)
    s1 = np.linalg.norm(v)
    tau = 1.0
    bound_K_rownorm = bounds.subgaussian_singular_value_bound(v.shape[0], 1, K_s, C_s=10.0, tau=tau)
    # with K_s = max |entry| ≈ 15 this bound is loose; with the sub-Gaussian K of a N(0,9) (≈ 3·√(8/3))
    # the printed form fails for C_s = 10 although its probability 1 − 2e^{−1} ≈ 0.26 > 0
    K_psi2 = 3.0 * np.sqrt(8 / 3)
    bound_K_psi2 = bounds.subgaussian_singular_value_bound(v.shape[0], 1, K_psi2, C_s=10.0, tau=tau)
    assert s1 > bound_K_psi2
    assert s1 <= bound_K_rownorm
    # after rescaling to unit variance (isotropic rows) the bound holds
    assert s1 / 3.0 <= bounds.subgaussian_singular_value_bound(v.shape[0], 1, np.sqrt(8 / 3), C_s=10.0, tau=tau)


def test_e_p1_is_lemma1():
    for N in (10, 784, 8000):
        assert bounds.fc_lambda(N, 0.6, 1.0, 2.0) == bounds.subgaussian_singular_value_bound(N, N, 0.6, 1.0, 2.0)


def test_e_p1_input_width():
    # first layer of a width-100 MNIST network: W⁽¹⁾ is 100×784, N = max over layers 1..M = 100
    printed = bounds.fc_lambda(100, 0.6)
    lemma1 = bounds.subgaussian_singular_value_bound(100, 784, 0.6)
    assert printed < lemma1


def test_e_p2_norm_inequality():
    rng = np.random.default_rng(1)
    A, x = rng.standard_normal((8, 5)), rng.standard_normal(5)
    s1 = np.linalg.norm(A, 2)
    assert np.linalg.norm(A @ x) < s1 * np.linalg.norm(x) * (1 - 1e-6)
    v = np.linalg.svd(A)[2][0]
    assert np.linalg.norm(A @ v) == pytest.approx(s1)


def test_e_p2_bias_breaks_bound():
    # zero weights, positive bias, x = 0: ‖y⁽¹⁾‖ = ‖relu(b)‖ > (Lλ)‖x‖ = 0 for any λ
    b = np.array([0.5, 1.0, -0.2])
    x = np.zeros(4)
    y1 = relu(np.zeros((3, 4)) @ x + b)
    assert np.linalg.norm(y1) > bounds.output_norm_bound(np.linalg.norm(x), 1, lam=100.0)
    assert np.linalg.norm(y1) <= bounds.output_norm_bound_with_bias(0.0, [0.0], [np.linalg.norm(b)])[0]


def test_e_l2_symmetric_uniform():
    rng = np.random.default_rng(2)
    r, n, a, trials = 3, 5, 1.0, 200_000
    u = np.sort(rng.uniform(-a, a, size=(trials, n)), axis=1)[:, r - 1] ** 2
    se = u.std() / np.sqrt(trials)
    printed = bounds.order_statistic_moment_literal(r, n, 2, a)  # claimed for U(−a, a)
    assert abs(u.mean() - printed) > 20 * se
    assert abs(u.mean() - bounds.order_statistic_moment_symmetric(r, n, 2, a)) < N_SE * se


def test_e_p3_latala_terms():
    # D extracted entries, all magnitudes <= C_w: the exact Latała terms sit below 6C_w√D
    C_w = 0.3
    for D in (1, 4, 100, 10_000):
        second = np.full((1, D), C_w**2)  # worst case: every extracted entry in one row
        fourth = np.full((1, D), C_w**4)
        correct = bounds.latala_norm_bound(second, fourth)
        printed_fourth_term = (D**2 * 16 * C_w**4) ** 0.25
        assert (fourth.sum()) ** 0.25 <= printed_fourth_term
        assert correct <= bounds.weight_difference_expectation_bound(D, C_w)


def test_e_p3_deterministic_bound():
    rng = np.random.default_rng(3)
    for _ in range(50):
        W = rng.standard_normal((60, 40)) * 0.2
        k = int(rng.integers(1, 200))
        top = np.argsort(np.abs(W), axis=None)[-k:]
        dW = np.zeros(W.size)
        dW[top] = W.ravel()[top]
        C_w = np.abs(W).max()
        assert bounds.spectral_norm(dW.reshape(W.shape)) <= bounds.weight_difference_deterministic_bound(k, C_w) + 1e-12
    # conv: D whole filters extracted, the norm of the difference operator <= q²C_w√D
    F = rng.standard_normal((6, 5, 3, 3))
    l1 = np.abs(F).sum(axis=(2, 3))
    mask = l1 >= np.sort(l1.ravel())[-4]
    dF = np.where(mask[:, :, None, None], F, 0.0)
    assert bounds.conv_operator_norm(dF, 8) <= bounds.conv_weight_difference_deterministic_bound(4, np.abs(F).max(), 3)


def test_e_p4_fourier_entry_bound():
    F = np.ones((1, 1, 3, 3))
    P00 = bounds.frequency_matrices(F, 8)[0, 0, 0, 0]
    assert abs(P00) == pytest.approx(9.0)
    assert np.linalg.norm(F[0, 0], 2) == pytest.approx(3.0)  # printed bound ‖F‖₂ = 3 < 9
    assert abs(P00) <= np.abs(F).sum()
    # the printed C²λ with λ := max‖F‖₂ undershoots the operator norm; the corrected C·q^{3/2}·λ does not
    true = bounds.conv_operator_norm(F, 8)
    assert 1**2 * 3.0 < true == pytest.approx(9.0)
    assert bounds.conv_weight_norm_deterministic(F) >= true
    rng = np.random.default_rng(4)
    for shape in ((4, 3, 3, 3), (2, 5, 5, 5), (6, 6, 1, 1), (3, 3, 3, 3)):
        G = rng.standard_normal(shape) + (rng.random() < 0.5) * 2.0  # some with mean-shifted filters
        assert bounds.conv_operator_norm(G, 9) <= bounds.conv_weight_norm_deterministic(G) * (1 + 1e-12)
    assert bounds.conv_weight_norm_bound_corrected(4, 3, 0.5) == pytest.approx(4 * 3**1.5 * bounds.conv_lambda(3, 0.5))
    assert bounds.conv_K_s(F) == pytest.approx(np.sqrt(3.0))  # each row of an all-ones 3×3 filter


def test_e_p4_probability_product():
    p, cc = bounds.lemma1_probability(1.5), 4
    assert cc * p > 1  # the printed sum is not a probability
    assert bounds.conv_weight_norm_probability(2, 1.5) == pytest.approx(p**cc)


def test_e_p4_q_is_side():
    q = 3
    assert bounds.conv_lambda(q, 0.7) == bounds.subgaussian_singular_value_bound(q, q, 0.7)


X = np.array([0.9, -0.4, 0.3, 0.2])


def test_e_t1_exponent():
    widths, sw, sb = [6, 6, 6], 0.5, 0.0
    y = random_network_outputs(X, widths, sw, sb, identity, 40_000, np.random.default_rng(4))
    v, se = total_variance(y)
    assert abs(v - bounds.variance_bound_literal(X @ X, 6, 3, sw, sb)) < N_SE * se  # exponent M: equality
    assert v > bounds.variance_bound_literal(X @ X, 6, 3, sw, sb, exponent=1) + N_SE * se  # printed m = 1 fails


def test_e_t1_neuron_count():
    widths, sw, sb = [2, 30, 30], 0.4, 0.1  # layers wider than the ones before them
    y = random_network_outputs(X, widths, sw, sb, relu, 40_000, np.random.default_rng(5))
    v, se = total_variance(y)
    assert v > bounds.variance_bound_proof_reading(X @ X, widths, len(X), sw, sb) + N_SE * se
    assert v - N_SE * se <= bounds.variance_bound(X @ X, widths, sw, sb)


def test_e_t1_second_moment():
    assert relu(-1.0) > 1.0 * -1.0  # φ(z) <= Lz fails for z < 0
    widths, sw, sb = [6, 6], 0.5, 0.0
    rng = np.random.default_rng(6)
    y1 = random_network_outputs(X, widths[:1], sw, sb, relu, 40_000, rng)
    y1 = relu(y1)  # first-layer ReLU outputs
    v1, _ = total_variance(y1)
    second = (y1**2).sum(axis=1).mean()
    assert second > 1.5 * v1  # E‖y‖² > V(y): the recursion must carry second moments
    y = random_network_outputs(X, widths, sw, sb, relu, 40_000, rng)
    v, se = total_variance(y)
    assert v - N_SE * se <= bounds.variance_bound(X @ X, widths, sw, sb)


def test_e_t1_mean_zero_needed():
    widths, sw, sb = [6, 6, 3], 0.3, 0.0
    y = random_network_outputs(X, widths, sw, sb, identity, 40_000, np.random.default_rng(7), mean_w=0.4)
    v, se = total_variance(y)
    assert v > bounds.variance_bound(X @ X, widths, sw, sb) + N_SE * se


def test_e_t2_lower_bound_counterexample():
    # layer m: W* = [1, −1]; extracting its largest-|w| entry (the 1) gives W = [0, −1].
    # upstream extraction lowered y⁽ᵐ⁻¹⁾ from (1, 1) to (1, 0); layer m is the output (identity φ).
    W_star, W = np.array([[1.0, -1.0]]), np.array([[0.0, -1.0]])
    y_prev_star, y_prev = np.array([1.0, 1.0]), np.array([1.0, 0.0])
    d = np.linalg.norm(W @ y_prev - W_star @ y_prev_star)
    G = np.linalg.norm(W @ y_prev - W @ y_prev_star)
    assert (d, G) == (0.0, 1.0)
    assert d < G
    # footnote 4's condition y⁽¹⁾ <= y∗⁽¹⁾ holds and the claim still fails (issue 9's review):
    # W∗⁽¹⁾ = [5; 1], W∗⁽²⁾ = [1, −6], x = 1, ReLU; top-2 by |w| extracts the 5 and the −6
    W1s, W2s, x = np.array([[5.0], [1.0]]), np.array([[1.0, -6.0]]), np.array([1.0])
    W1, W2 = np.array([[0.0], [1.0]]), np.array([[1.0, 0.0]])
    y1s, y1 = relu(W1s @ x), relu(W1 @ x)
    assert np.all(y1 <= y1s) and tuple(y1) == (0.0, 1.0)
    d2 = np.linalg.norm(relu(W2 @ y1) - relu(W2s @ y1s))
    G2 = np.linalg.norm(relu(W2 @ y1) - relu(W2 @ y1s))
    assert (d2, G2) == (0.0, 5.0)


def test_e_t2_first_layer_zero():
    # no extraction in layer 1 (Section 3.1): y⁽¹⁾ = φ(W⁽¹⁾x) exactly, so G⁽¹⁾ = 0 for every input
    rng = np.random.default_rng(8)
    W1, x = rng.standard_normal((5, 4)), rng.standard_normal((100, 4))
    y1_locked = relu(x @ W1.T)
    G1 = np.linalg.norm(y1_locked - relu(x @ W1.T), axis=1)
    assert np.all(G1 == 0)
    # Markov bounds the upper tail: the printed quantity falls as μ grows (G unlikely to be large)
    assert bounds.theorem2_tail_bound(2.0, 3, 10, 2, 0.1) < bounds.theorem2_tail_bound(1.0, 3, 10, 2, 0.1)


def test_e_t3_union_never_larger():
    rng = np.random.default_rng(9)
    for _ in range(200):
        mu, m, tau = rng.uniform(1, 100), int(rng.integers(1, 14)), rng.uniform(0.5, 4)
        D, C_w = int(rng.integers(0, 1000)), rng.uniform(0.01, 0.5)
        prod = bounds.theorem3_probability(mu, m, tau, D, C_w)
        union = bounds.theorem3_probability_union(mu, m, tau, D, C_w)
        if prod >= 0:
            assert union <= prod + 1e-15


def test_e_t4_event_direction():
    # first conv layer, identity φ: G = 0 and d = ‖ΔW x‖; along the top singular vector d = ‖ΔW‖‖x‖,
    # so with ‖ΔW‖ > μ the bound G + Lμ‖x‖ fails: the event needed is ‖ΔW‖ <= μ
    rng = np.random.default_rng(10)
    F = rng.standard_normal((3, 2, 3, 3))
    dF = np.zeros_like(F)
    dF[1, 0] = F[1, 0]
    dW = bounds.conv_matrix(dF, 5)
    x = np.linalg.svd(dW)[2][0]
    d, G = np.linalg.norm(dW @ x), 0.0
    mu = 0.5 * bounds.conv_operator_norm(dF, 5)
    assert d > bounds.disparity_upper_bound(G, mu, 1, lam=1.0, x_norm=np.linalg.norm(x))


def test_e_t4_bn_scale_changes_the_bias():
    # one conv "neuron" followed by eval-mode BN: z = a·(w x) + c, a = γ/√(σ² + ε), c = β − a·mean
    relu = lambda v: max(v, 0.0)  # noqa: E731
    x, w, eps = 1.0, 1.0, 0.0

    def layer(gamma, beta, mean=0.0, var=1.0):
        a = gamma / np.sqrt(var + eps)
        return a * w, beta - a * mean  # folded weight and bias

    (W0, b0), (W1, b1) = layer(1.0, 2.0), layer(0.0, 0.0)  # bn-scale extraction zeroes γ and β
    y_star, y = relu(W0 * x + b0), relu(W1 * x + b1)
    d, G, mu = abs(y - y_star), 0.0, abs(W1 - W0)  # first layer: G = 0 (same input)
    assert d == 3.0 and mu == 1.0
    assert d > bounds.disparity_upper_bound(G, mu, 1, lam=1.0, x_norm=abs(x))  # the printed bound fails
    assert d <= G + 1.0 * (mu * abs(x) + abs(b1 - b0))  # with the bias term it holds


def test_e_notation_operator_norm():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((6, 4))
    xs = rng.standard_normal((2000, 4))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    assert np.max(np.linalg.norm(xs @ A.T, axis=1)) <= bounds.spectral_norm(A) + 1e-12


def test_docs_errata_table_is_current():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "errata.md").read_text()
    assert errata_markdown() in page


def test_e_t1_output_layer_is_linear():
    """φ = 0.5·tanh (L = 0.5) in the hidden layers, linear output: the printed L in every layer undershoots."""
    rng = np.random.default_rng(11)
    x, widths, sw, sb, T = np.array([1.5, -1.0, 0.8, 1.2]), [8, 8, 3], 0.25, 0.05, 40000  # tanh near-linear
    y = np.broadcast_to(x, (T, 4))
    for m, n in enumerate(widths):
        a_w, a_b = sw * 3**0.5, sb * 3**0.5  # uniform with these standard deviations (mean zero)
        W = rng.uniform(-a_w, a_w, size=(T, n, y.shape[1]))
        z = np.einsum("tij,tj->ti", W, y) + rng.uniform(-a_b, a_b, size=(T, n))
        y = z if m == len(widths) - 1 else 0.5 * np.tanh(z)
    q = ((y - y.mean(0)) ** 2).sum(1)
    v, se = q.mean(), q.std() / np.sqrt(T)
    printed = bounds.variance_bound(x @ x, widths, sw, sb, lipschitz=0.5)
    corrected = bounds.variance_bound(x @ x, widths, sw, sb, lipschitz=0.5, output_lipschitz=1.0)
    assert printed < v - 5 * se  # the printed form is violated
    assert v <= corrected + 3 * se


def test_e_p6_filter_sum_order():
    C_w = 0.3
    for q in (3, 5, 7):
        F = np.full((q, q), C_w)  # every entry at its bound C_w
        attained = F.sum() ** 2
        assert attained == pytest.approx(q**4 * C_w**2)
        assert attained > 6 * q**2 * C_w**2 > 4 * q**2 * C_w**2  # both printed constants undershoot
        # the deterministic bound holds for one extracted filter (D = 1)
        K = np.zeros((1, 1, q, q))
        K[0, 0] = F
        assert bounds.conv_operator_norm(K, 9) <= float(bounds.conv_weight_difference_deterministic_bound(1, C_w, q))


def test_e_l3_circulant_entries_repeat():
    n, q = 6, 3
    F = np.arange(1.0, q * q + 1).reshape(1, 1, q, q)  # nine distinct weights
    A = bounds.conv_matrix(F, n)
    values, counts = np.unique(A[A != 0], return_counts=True)
    assert set(values) == set(F.ravel()) and np.all(counts == n * n)  # each weight appears n² times


def test_e_p2_probability_is_a_lower_bound():
    W, lam, x = np.diag([3.0, 0.1]), 1.0, np.array([0.0, 1.0])
    assert np.linalg.norm(W, 2) > lam  # outside the conditioning event …
    assert np.linalg.norm(W @ x) <= lam * np.linalg.norm(x)  # … and the bound holds anyway
    # Monte Carlo: P{‖Wx‖ <= λ‖x‖} exceeds P{‖W‖₂ <= λ}, so "=" is false and "≥" is right
    rng = np.random.default_rng(12)
    Ws = rng.standard_normal((20000, 3, 3)) / 2.5
    xs = rng.standard_normal((20000, 3))
    event = np.linalg.norm(Ws, 2, axis=(1, 2)) <= 1.0
    bound = np.linalg.norm(np.einsum("tij,tj->ti", Ws, xs), axis=1) <= np.linalg.norm(xs, axis=1)
    assert np.all(bound[event])  # given the event, the bound is sure
    assert bound.mean() > event.mean() + 0.05
