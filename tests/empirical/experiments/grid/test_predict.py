"""The fitted-constant prediction recovers known constants from synthetic data; the baselines too."""

import numpy as np
import pandas as pd
import pytest

from empirical.experiments.grid.predict import (
    CHANCE,
    TAU,
    BaselineFit,
    TheoryFit,
    baseline_ratio_for,
    evaluate,
    fit_baseline,
    fit_theory,
    interpolated_ratio_for,
    prepare,
    theory_ratio_for,
)

RATIOS = [2e-5, 1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1, 2e-1]


def synthetic(truth: TheoryFit, depths=(4, 6, 8, 10), widths=(100, 200, 400), noise=0.0, seed=0) -> pd.DataFrame:
    """results.csv-shaped ℓ1 rows whose accuracy follows the theory model with known constants."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in depths:
        for w in widths:
            K_s_sq, C_w, acc0 = 0.3 + 0.01 * h, 0.5 / np.sqrt(w), 0.97
            lam1 = np.sqrt(w) + K_s_sq * (np.sqrt(w) + TAU)  # λ at C_s = 1, as results.csv stores it
            for r in RATIOS:
                D_w = max(1, round(r * w * w))
                rows.append(
                    dict(
                        hidden_layers=h,
                        width=w,
                        indicator="l1",
                        random_seed=0,
                        ratio=r,
                        acc_original=acc0,
                        D_w=D_w,
                        C_w=C_w,
                        lambda_property1=lam1,
                        acc_extracted=np.nan,
                    )
                )
    df = pd.DataFrame(rows)
    a = truth.predict(prepare(df.assign(acc_extracted=0.5)))
    df["acc_extracted"] = CHANCE + (df["acc_original"] - CHANCE) * np.clip(
        a + noise * rng.standard_normal(len(a)), 0, 1
    )
    return df


def test_theory_fit_recovers_known_constants():
    truth = TheoryFit(slope=1.7, offset=16.0, C_s=0.4)
    got = fit_theory(prepare(synthetic(truth)))
    assert got.slope == pytest.approx(truth.slope, rel=1e-4)
    assert got.offset == pytest.approx(truth.offset, rel=1e-4)
    assert got.C_s == pytest.approx(truth.C_s, rel=1e-3)


def test_theory_fit_with_noise_stays_close():
    truth = TheoryFit(slope=1.2, offset=18.0, C_s=2.0)
    got = fit_theory(prepare(synthetic(truth, noise=0.01)))
    assert got.slope == pytest.approx(truth.slope, rel=0.05)
    # C_s is weakly identified: it moves λ by K_s²(√N + τ)·ΔC_s against √N, so 1 % noise on the
    # accuracies already moves it by ~10 %
    assert got.C_s == pytest.approx(truth.C_s, rel=0.2)


def test_theory_ratio_inverts_the_model():
    truth = TheoryFit(slope=1.5, offset=15.5, C_s=0.7)
    df = prepare(synthetic(truth, depths=(6,), widths=(200,)))
    r = theory_ratio_for(truth, df, 0.5)
    # the model's accuracy at r (D_w from the cell's log-linear D_w(r)) is the target
    row = df.iloc[[0]].copy()
    q, p = np.polyfit(df["log_ratio"], np.log(df["D_w"]), 1)
    row["log_mu"] = np.log(6 * row["C_w"] * np.sqrt(np.exp(p + q * np.log(r))))
    acc = CHANCE + (row["acc_original"].iloc[0] - CHANCE) * truth.predict(row)[0]
    assert acc == pytest.approx(0.5, abs=1e-9)


def test_baseline_recovers_its_coefficients():
    coef = np.array([-9.0, -1.3, 0.2, -0.5])
    df = synthetic(TheoryFit(1, 1, 1))
    feats = BaselineFit.features(prepare(df))
    df["acc_extracted"] = CHANCE + (df["acc_original"] - CHANCE) / (1 + np.exp(feats @ coef))
    got = fit_baseline(prepare(df))
    np.testing.assert_allclose(got.coef, coef, rtol=1e-4, atol=1e-4)
    cell = prepare(df)[lambda d: (d.hidden_layers == 4) & (d.width == 100)]
    r = baseline_ratio_for(got, cell, 0.5)
    f = BaselineFit.features(cell.iloc[[0]].assign(log_ratio=np.log(r)))
    assert CHANCE + (0.97 - CHANCE) / (1 + np.exp(f @ got.coef))[0] == pytest.approx(0.5, abs=1e-6)


def test_interpolated_ratio_is_the_crossing():
    df = prepare(synthetic(TheoryFit(1.5, 15.5, 0.7), depths=(6,), widths=(200,)))
    r = interpolated_ratio_for(df, 0.5)
    f = df.sort_values("log_ratio")
    i = np.argmax(f["acc_extracted"].to_numpy() <= 0.5)
    assert f["ratio"].iloc[i - 1] < r <= f["ratio"].iloc[i]


def test_evaluate_reports_both_models():
    df = synthetic(TheoryFit(1.5, 15.5, 0.7))
    crit = pd.DataFrame(
        [
            dict(hidden_layers=h, width=w, target=0.5, status="found", ratio=1e-2)
            for h in (4, 6, 8, 10)
            for w in (100, 200, 400)
        ]
    )
    ev = evaluate(df, crit, 0.5)
    s = ev["summary"]
    assert s["n_networks"] == 12
    assert s["across_networks_acc_err_pp_theory"] < 1e-2  # the data follow the theory model exactly
    assert len(ev["one_network"]) == 12 and len(ev["across_networks"]) == 12
