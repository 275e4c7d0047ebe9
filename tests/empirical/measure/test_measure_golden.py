"""The one measurement gives the numbers of the two it replaced (``measure`` for FCNs, ``measure_net``
for conv nets), pinned in golden tables written by the old code (``data/make_golden_measure.py``).

Every column of the old tables must be present with the same value (relative tolerance 1e-12, i.e.
the same float64 arithmetic up to summation order); new columns may be added.
"""

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from make_golden_measure import cases  # noqa: E402

from empirical.measure import measure  # noqa: E402

CASES = list(cases())


def _same(gold: pd.DataFrame, new: pd.DataFrame) -> list:
    new = pd.read_csv(io.StringIO(new.to_csv(index=False, float_format="%.17g")))  # compare like with like
    bad = [c for c in gold.columns if c not in new.columns]
    for c in gold.columns:
        if c in bad:
            continue
        a, b = gold[c], new[c]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            if not np.allclose(a, b, rtol=1e-12, atol=1e-14, equal_nan=True):
                bad.append(c)
        elif not (a.fillna("NA").astype(str) == b.fillna("NA").astype(str)).all():
            bad.append(c)
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_one_measurement_reproduces_the_old_ones(case):
    name, model, locked, x, y = case
    res = measure(model, locked, x, y, batch=40)
    for part, df in (("layers", res.layers), ("samples", res.samples)):
        gold = pd.read_csv(DATA / f"golden_{name}_{part}.csv")
        assert len(gold) == len(df)
        assert _same(gold, df) == [], part


def test_golden_tables_are_not_trivial():
    gold = pd.read_csv(DATA / "golden_fcn_l1_layers.csv")
    assert (gold["mu"] > 0).sum() >= 2 and gold["theorem2_holds_frac"].notna().all()
    conv = pd.read_csv(DATA / "golden_vgg_bn-scale_layers.csv")
    assert set(conv["kind"]) >= {"conv", "linear"} and (conv["n_extracted"] > 0).any()
