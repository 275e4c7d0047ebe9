"""Every verdict function of the grid report on synthetic tables, one per verdict it can give
(PASS, FAIL, INCONCLUSIVE, VACUOUS / NON-VACUOUS) — ``empirical.experiments.grid.report``."""

import numpy as np
import pandas as pd
import pytest

from empirical.experiments.common.bound_claims import tail_verdict
from empirical.experiments.grid import report


def _verdicts(rows):
    return {r["claim"]: r["verdict"] for r in rows}


def _checks(**over):
    base = dict(
        layer=[1, 2], n_extracted=[0, 5], w_norm=[1.0, 2.0], lambda_property1=[10.0, 10.0],
        w_norm_within_property1=[True, True], property2_holds_frac=[1.0, 1.0], property2_bias_holds_frac=[1.0, 1.0],
        mu=[0.0, 0.5], property3_expectation_bound=[3.0, 3.0], property3_tail_at_mu_vacuous=[np.nan, True],
        sandwich_holds_frac=[1.0, 1.0], sandwich_max_violation=[-1.0, -1.0], theorem2_holds_frac=[1.0, 1.0],
        theorem2_tail_at_mean_G_vacuous=[np.nan, True], theorem3_meas_holds_frac=[1.0, 1.0],
        theorem3_p1_holds_frac=[1.0, 1.0], theorem3_meas_tightness_median=[np.nan, 5.0],
        theorem3_p1_tightness_median=[np.nan, 50.0], theorem3_probability_vacuous=[np.nan, True],
    )  # fmt: skip
    base.update(over)
    return pd.DataFrame(base)


def test_property_claims_pass_and_fail():
    assert set(_verdicts(report.property_claims(_checks())).values()) >= {"PASS", "VACUOUS"}
    bad = _verdicts(report.property_claims(_checks(w_norm_within_property1=[True, False], mu=[0.0, 4.0])))
    assert bad["‖ΔW⁽ᵐ⁾‖₂ <= 6C_eC_w√D_w (C_e = 1; the printed bound on E‖ΔW‖₂)"] == "FAIL"
    assert any(k.startswith("‖W∗⁽ᵐ⁾‖₂ <= λ") and v == "FAIL" for k, v in bad.items())


def test_tail_verdicts_are_vacuous_or_non_vacuous_never_pass():
    assert tail_verdict(pd.Series([True, True])) == "VACUOUS"
    assert tail_verdict(pd.Series([True, False, False])) == "NON-VACUOUS (2 of 3)"
    assert tail_verdict(pd.Series([np.nan])) == "NOT TESTED"
    rows = report.theorem23_claims(_checks(theorem3_probability_vacuous=[np.nan, False]))
    assert _verdicts(rows)["P{bound holds} >= (1 − 6C_eC_w√D_w/μ)(1 − 2e^(−τ²))^(m−1) at the measured μ"] == (
        "NON-VACUOUS (1 of 1)"
    )


def test_theorem23_claims_pass_and_fail():
    ok = _verdicts(report.theorem23_claims(_checks()))
    assert ok["d⁽ᵐ⁾ >= G⁽ᵐ⁾ when the largest weights are extracted"] == "PASS"
    assert ok["d⁽ᵐ⁾ <= G⁽ᵐ⁾ + Lμ⁽ᵐ⁾‖y∗⁽ᵐ⁻¹⁾‖₂ on every sample (deterministic; a self-check)"] == "PASS"
    bad = _verdicts(report.theorem23_claims(_checks(theorem2_holds_frac=[1.0, 0.9], sandwich_holds_frac=[1.0, 0.5])))
    assert bad["d⁽ᵐ⁾ >= G⁽ᵐ⁾ when the largest weights are extracted"] == "FAIL"
    assert bad["d⁽ᵐ⁾ <= G⁽ᵐ⁾ + Lμ⁽ᵐ⁾‖y∗⁽ᵐ⁻¹⁾‖₂ on every sample (deterministic; a self-check)"] == "FAIL"


def test_theorem1_claims():
    mc = pd.DataFrame(dict(mc_variance=[1.0, 2.0], bound=[2.0, 3.0], mc_over_bound=[0.5, 0.67],
                           holds_within_2se=[True, True], n_networks=[8, 8]))  # fmt: skip
    assert _verdicts(report.theorem1_claims(mc)).popitem()[1] == "PASS"
    assert _verdicts(report.theorem1_claims(mc.assign(holds_within_2se=[True, False]))).popitem()[1] == "FAIL"


def _grid(depth_effect, width_effect, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(h, w) for h in (4, 6, 8, 10, 13) for w in (100, 200, 400, 800)]
    df = pd.DataFrame(rows, columns=["hidden_layers", "width"])
    df["acc_drop"] = depth_effect * np.log10(df.hidden_layers) + width_effect * np.log10(df.width)
    df["acc_drop"] += rng.normal(0, noise, len(df))
    return df


@pytest.mark.parametrize(
    "depth, width, expect",
    [
        (1.0, 0.3, {"deeper": "PASS", "wider": "PASS", "more": "PASS"}),
        (-1.0, -0.3, {"deeper": "FAIL", "wider": "FAIL", "more": "FAIL"}),
        (0.0, 0.0, {"deeper": "INCONCLUSIVE", "wider": "INCONCLUSIVE", "more": "INCONCLUSIVE"}),
        (0.2, 1.5, {"deeper": "PASS", "wider": "PASS", "more": "FAIL"}),
    ],
)
def test_trend_claims_from_the_regression(depth, width, expect):
    # one fixed noise draw each (seed 1); with no effect a 95 % interval still excludes 0 in 1 of 20 draws
    rows = report.trend_claims("x", _grid(depth, width, seed=1), "acc_drop", n_boot=200, unstable=pd.DataFrame())
    got = {r["claim"].split()[0]: r["verdict"] for r in rows}
    assert got == {"deeper": expect["deeper"], "wider": expect["wider"], "depth": expect["more"]}


def test_trend_claims_repeat_without_unstable_cells():
    unstable = pd.DataFrame([dict(hidden_layers=13, width=800, seed=0, reason="final loss")])
    rows = report.trend_claims("x", _grid(1.0, 0.3), "acc_drop", n_boot=200, unstable=unstable)
    assert all("without the 1 unstable cells" in r["numbers"] for r in rows)


def test_trend_claims_on_too_few_cells_are_inconclusive():
    rows = report.trend_claims("x", _grid(1.0, 0.3).head(3), "acc_drop", n_boot=200, unstable=pd.DataFrame())
    assert [r["verdict"] for r in rows] == ["INCONCLUSIVE"] * 3


@pytest.mark.parametrize(
    "depth, noise, margin, expect",
    [
        (0.0, 0.0005, 0.01, "NO EFFECT"),  # an interval of a few hundredths of a pp: inside ±1 pp per decade
        (0.002, 0.0005, 0.01, "NO EFFECT"),  # significant, but 0.2 pp per decade matters less than the margin
        (0.0, 0.05, 0.01, "INCONCLUSIVE"),  # too noisy to rule out ±1 pp
        (1.0, 0.05, 0.01, "PASS"),
        (0.002, 0.0005, None, "PASS"),  # no margin: the sign decides
    ],
)
def test_equivalence_margin_reads_no_effect(depth, noise, margin, expect):
    rows = report.trend_claims("x", _grid(depth, 0.0, noise=noise, seed=1), "acc_drop", 200, pd.DataFrame(), margin)
    assert rows[0]["verdict"] == expect
    assert ("NO EFFECT when it lies within ±1 pp per decade" in rows[0]["tolerance"]) == (margin is not None)
