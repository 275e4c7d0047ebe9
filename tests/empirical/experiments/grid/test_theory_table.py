"""The theory table and the ratio → count rule."""

import math
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bounds
from empirical.errors import UserError
from empirical.experiments.grid.theory_table import Constants, n_parameters, theory_table
from empirical.lock.ratio import check_ratio, n_extracted


def test_paper_counts():
    # 0.002 % of the 3 hidden 1000×1000 candidate matrices of a 4 × 1000 FCN: exactly 60 weights
    assert n_extracted(0.00002, 3 * 1000 * 1000) == 60
    assert n_extracted(0.00002, 1000 * 1000) == 20
    assert n_extracted(0.00002, 10) == 1  # at least one unit (Definition 1)
    assert n_extracted(0.5, 3) == 2  # ⌈1.5⌉


@given(r=st.floats(1e-6, 0.999), D=st.integers(1, 10**9))
def test_rounding_rule(r, D):
    k = n_extracted(r, D)
    assert 1 <= k <= D
    assert k >= r * D * (1 - 1e-12)
    assert k < r * D + 1 or k == 1


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan"), float("inf"), "abc"])
def test_bad_ratio(bad):
    with pytest.raises(UserError, match="ratio"):
        check_ratio(bad)


def test_n_parameters_matches_torch_model():
    import torch.nn as nn

    net = nn.Sequential(nn.Linear(784, 30), nn.Linear(30, 30), nn.Linear(30, 30), nn.Linear(30, 10))
    assert n_parameters(3, 30) == sum(p.numel() for p in net.parameters())


def test_table_columns_and_values():
    df = theory_table([4, 13], [1000, 8000], [0.00002, 0.01], Constants())
    assert len(df) == 8
    row = df[(df.hidden_layers == 4) & (df.width == 1000) & (df.ratio == 0.00002)].iloc[0]
    assert row.D_w == 20 and row.k_global == 60 and row.M == 5 and row.N == 1000
    assert row.lam == pytest.approx(float(bounds.fc_lambda(1000, 1 / math.sqrt(3), 1.0, 2.0)))
    assert row.out_norm_bound == pytest.approx(row.lam**4)
    # μ½ makes Property 3's Markov term exactly 1/2
    assert float(bounds.weight_difference_tail_bound(row.mu_half, row.D_w, row.C_w)) == pytest.approx(0.5)
    assert row.theorem2_tail_vacuous
    assert not row.p_theorem3_vacuous
    # deeper networks: larger output-norm bound, smaller Theorem 3 probability
    deep = df[(df.hidden_layers == 13) & (df.width == 1000) & (df.ratio == 0.00002)].iloc[0]
    assert deep.out_norm_bound > row.out_norm_bound and deep.p_theorem3 < row.p_theorem3


@pytest.mark.slow
def test_cli_writes_csv_and_rejects_bad_ratio(tmp_path):
    exe = [sys.executable, "-m", "empirical.cli"]
    ok = subprocess.run(exe + ["theory", "--preset", "tiny", "--out", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    df = pd.read_csv(tmp_path / "theory.csv")
    assert set(df.hidden_layers) == {2, 3} and set(df.width) == {16, 32}
    bad = subprocess.run(
        exe + ["theory", "--ratios", "1.5", "--out", str(tmp_path / "x")], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "ratio" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
