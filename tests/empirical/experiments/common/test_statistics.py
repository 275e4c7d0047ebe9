"""Figure 5's statistics against independent references (``empirical.experiments.common.statistics``)."""

import numpy as np
import pandas as pd
import pytest

from empirical.experiments.common import statistics as st


def test_hc3_equals_the_sum_of_squared_leave_one_out_changes():
    """HC3 = Σᵢ (β₍₋ᵢ₎ − β)(β₍₋ᵢ₎ − β)ᵀ exactly (β₍₋ᵢ₎ − β = −(XᵀX)⁻¹xᵢeᵢ/(1 − hᵢ)); checked by refitting."""
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(40), rng.normal(size=40), rng.exponential(size=40)])
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=40) * (0.2 + np.abs(X[:, 1]))  # heteroscedastic
    fit = st.ols_hc3(X, y, ["a", "b", "c"])
    loo = []
    for i in range(40):
        keep = np.arange(40) != i
        loo.append(np.linalg.lstsq(X[keep], y[keep], rcond=None)[0] - fit.coef)
    loo = np.array(loo)
    np.testing.assert_allclose(fit.cov_hc3, loo.T @ loo, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fit.coef, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-12)


def _grid(width_effect, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(h, w) for h in range(4, 14) for w in range(100, 801, 100)]
    df = pd.DataFrame(rows, columns=["hidden_layers", "width"])
    df["value"] = -2.0 * np.log10(df.hidden_layers) + width_effect * np.log10(df.width) + rng.normal(0, 0.1, len(df))
    return df


def test_elasticities_recover_known_coefficients_with_honest_intervals():
    rows = st.elasticity_rows(_grid(-0.3), "value", "v")
    add = rows[rows.model == "additive"].set_index("term")
    assert add.loc["log10_depth", "ci_low"] < -2.0 < add.loc["log10_depth", "ci_high"]
    assert add.loc["log10_width", "ci_low"] < -0.3 < add.loc["log10_width", "ci_high"]
    c = add.loc["depth_minus_width (c − b)"]
    assert c.ci_low < 1.7 < c.ci_high  # c − b = −0.3 − (−2.0)


@pytest.mark.parametrize("effect, significant", [(0.0, False), (-0.4, True)])
def test_width_within_depth_permutation(effect, significant):
    res = st.within_depth_permutation(_grid(effect, seed=3), "value", n_perm=400)
    assert (res["p_value"] < 0.01) == significant


def test_unstable_cells_flags_a_loss_outlier_and_a_jumping_accuracy():
    rows = []
    for w, (loss, accs) in {100: (0.05, [0.97] * 8), 200: (0.06, [0.97] * 8), 300: (0.30, [0.97] * 8),
                            400: (0.05, [0.97, 0.80, 0.97, 0.96, 0.97, 0.97, 0.97, 0.97])}.items():  # fmt: skip
        for e, a in enumerate(accs, 1):
            rows.append(dict(hidden_layers=12, width=w, seed=0, epoch=e, loss=loss, test_acc=a))
    flagged = st.unstable_cells(pd.DataFrame(rows)).set_index("width")["reason"]
    assert set(flagged.index) == {300, 400}
    assert "final loss" in flagged[300] and "test accuracy" in flagged[400]


def test_extrapolation_scores_every_form_on_the_held_out_cells():
    train = _grid(-0.3)
    test = pd.DataFrame({"hidden_layers": [7, 13], "width": [3000, 8000]})
    test["value"] = -2.0 * np.log10(test.hidden_layers) - 0.3 * np.log10(test.width)
    ex = st.extrapolation(train, test, "value")
    best = ex.groupby("form")["error"].apply(lambda e: np.abs(e).max()).idxmin()
    assert best in ("power law in depth and width", "power law with interaction")
    assert len(ex) == len(st.FORMS) * 2


def test_crossing_is_exact_on_a_line_and_its_fieller_interval_covers_at_the_nominal_rate():
    """Noise-free: x* = (c − a)/b exactly. Noisy (homoscedastic, n = 20): the 95 % Fieller interval covers the
    true crossing in 0.90..0.99 of 400 simulated data sets (HC3 is slightly liberal at this n; the band
    is ±2.5 binomial standard errors around 0.95 widened for that)."""
    x = np.arange(2, 22, dtype=float)
    X = np.column_stack([np.ones_like(x), x])
    fit = st.ols_hc3(X, -1.0 - 0.1 * x + 1e-9 * np.sin(x), ["a", "slope"])
    at, lo, hi = st.crossing(fit, -4.7)
    assert at == pytest.approx(37.0, abs=1e-6) and lo <= at <= hi and hi - lo < 1e-3
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        f = st.ols_hc3(X, -1.0 - 0.1 * x + rng.normal(0, 0.05, len(x)), ["a", "slope"])
        _, lo, hi = st.crossing(f, -4.7)
        covered += lo <= 37.0 <= hi
    assert 0.90 <= covered / 400 <= 0.99


def test_crossing_interval_is_unbounded_when_the_slope_is_not_significant():
    rng = np.random.default_rng(2)
    x = np.arange(10, dtype=float)
    fit = st.ols_hc3(np.column_stack([np.ones_like(x), x]), rng.normal(0, 1.0, 10), ["a", "slope"])
    _, lo, hi = st.crossing(fit, -4.7)
    assert np.isnan(lo) and np.isnan(hi)


def test_welch_matches_scipy_and_its_interval():
    """Difference, p-value and 95 % interval against scipy's Welch test (its own confidence_interval)."""
    from scipy import stats

    from empirical.experiments.common.statistics import welch

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.02, 5), rng.normal(0.85, 0.05, 5)
    w = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert w["diff"] == pytest.approx(a.mean() - b.mean(), abs=1e-15)
    assert w["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert (w["low"], w["high"]) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))


def test_holm_by_hand():
    from empirical.experiments.common.statistics import holm

    # sorted 0.01, 0.03, 0.04 → 3·0.01 = 0.03, 2·0.03 = 0.06, max(0.06, 1·0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])


def test_mcnemar_exact():
    from scipy import stats

    from empirical.experiments.common.statistics import mcnemar

    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 0], bool)
    b = np.array([1, 0, 0, 0, 1, 0, 1, 1, 0, 0], bool)
    m = mcnemar(a, b)  # only a: 4, only b: 1
    assert (m["only_a"], m["only_b"]) == (4, 1)
    assert m["p"] == pytest.approx(stats.binomtest(1, 5, 0.5).pvalue) and m["p"] == pytest.approx(0.375)
    assert mcnemar(a, a)["p"] == 1.0


def test_paired_difference_matches_a_hand_case_and_a_paired_bootstrap():
    """Hand case: only_a 4, only_b 1 of n 10: diff 0.3, se sqrt(5 − 0.9)/10. Reference: the bootstrap over
    images (resampling pairs) of the same difference; its SD must match the closed-form SE within 3 %."""
    from scipy import stats

    from empirical.experiments.common.statistics import paired_difference

    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 0], bool)
    b = np.array([1, 0, 0, 0, 1, 0, 1, 1, 0, 0], bool)
    d = paired_difference(a, b)
    se = np.sqrt(5 - 0.9) / 10
    assert d["diff"] == pytest.approx(0.3)
    assert (d["low"], d["high"]) == pytest.approx((0.3 - stats.norm.ppf(0.975) * se, 0.3 + stats.norm.ppf(0.975) * se))
    rng = np.random.default_rng(0)
    x = rng.random(5000) < 0.6
    y = np.where(rng.random(5000) < 0.8, x, rng.random(5000) < 0.5)  # correlated outcomes, as on shared images
    d = paired_difference(x, y)
    idx = rng.integers(0, 5000, size=(4000, 5000))
    boot = x[idx].mean(1) - y[idx].mean(1)
    q = stats.norm.ppf(0.975)
    assert (d["high"] - d["low"]) / (2 * q) == pytest.approx(boot.std(), rel=0.03)
    with pytest.raises(ValueError):
        paired_difference(x, y[:10])


def test_paired_t_matches_scipy_and_its_bound_matches_its_test():
    """``paired_t`` against scipy's ttest_rel (p two-sided and one-sided) and a hand-computed interval; the one-sided
    95 % lower bound is above 0 exactly where the one-sided test rejects at 5 % (200 random draws)."""
    from scipy import stats as st

    from empirical.experiments.common.statistics import paired_t

    a, b = np.array([0.91, 0.93, 0.92, 0.95]), np.array([0.90, 0.90, 0.915, 0.93])
    r = paired_t(a, b)
    d = a - b
    assert r["p"] == pytest.approx(st.ttest_rel(a, b).pvalue, rel=1e-12)
    assert r["p_greater"] == pytest.approx(st.ttest_rel(a, b, alternative="greater").pvalue, rel=1e-12)
    half = st.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert (r["low"], r["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    rng = np.random.default_rng(0)
    for _ in range(200):
        x, y = rng.normal(0.01, 0.02, 5), rng.normal(0, 0.02, 5)
        t = paired_t(x, y)
        assert (t["bound"] > 0) == (t["p_greater"] < 0.05)
