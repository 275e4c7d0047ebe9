"""check-bounds and theory on the command line: option checks and what the printed tables promise."""

import json

import pytest

from empirical.cli import main


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--batch", "0"], "--batch"),
        (["--C-s", "nan"], "--C-s"),
        (["--tau", "-1"], "--tau"),
        (["--C-e", "inf"], "--C-e"),
    ],
)
def test_check_bounds_options_are_checked(src, capsys, args, fragment, one_error):
    one_error(main(["check-bounds", str(src), *args]), fragment)


def test_theory_empty_list_and_every_ratio_printed(capsys, one_error):
    one_error(main(["theory", "--ratios", ","]), "empty")
    assert main(["theory", "--hidden-layers", "4", "--widths", "100", "--ratios", "0.00002,0.01"]) == 0
    out = capsys.readouterr().out
    assert "ratio 2e-05:" in out and "ratio 0.01:" in out


def test_check_bounds_report_traps(src, tmp_path, capsys):
    """Vacuous probabilities are starred, layers with nothing extracted get no tightness or tail,
    and summary.json says what its Theorem 1 numbers are."""
    import pandas as pd

    out = tmp_path / "chk"
    assert main(["check-bounds", str(src), "--ratio", "0.05", "--n-samples", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    layers = pd.read_csv(out / "bounds_checks.csv")
    none = layers[layers["n_extracted"] == 0]
    assert len(none) and none["theorem3_meas_tightness_median"].isna().all()
    assert none["theorem2_tail_at_mean_G"].isna().all()
    vacuous = layers["theorem3_probability_vacuous"].fillna(False).astype(bool)
    assert vacuous.any()  # on a trained network Theorem 3's probability is vacuous somewhere (negative)
    assert ("* vacuous" in printed) == bool(vacuous.any())
    summary = json.loads((out / "summary.json").read_text())
    assert "spread over inputs" in summary["descriptions"]["output_spread_original"]
