"""Every table a report reads is validated in one place (issue 37, item 6): ``report`` on a hand-edited or foreign
run directory gives one error line naming the file, row and column, and writes nothing. Each case edits a copy
of a committed run; each failed before (a traceback, or a report of nonsense)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from empirical.cli import main
from empirical.errors import UserError
from empirical.experiments.common.validate import validate

ROOT = Path(__file__).resolve().parents[4]


def _edit_csv(path, fn):
    df = pd.read_csv(path)
    fn(df).to_csv(path, index=False)


def _junk_row(df):
    row = df.iloc[[0]].astype(object).copy()
    row.iloc[0, list(df.columns).index("ratio") if "ratio" in df else 0] = "junk"
    return pd.concat([df.astype(object), row], ignore_index=True)


GRID_CASES = {
    "a junk row": ("results.csv", _junk_row, "holds 'junk', not a number"),
    "a negative ratio": ("results.csv", lambda d: d.assign(ratio=-d.ratio), "must lie in [0, 1]"),
    "accuracies in %": ("results.csv", lambda d: d.assign(acc_extracted=100 * d.acc_extracted), "in percent"),
    "a junk critical_ratios.csv": ("critical_ratios.csv", lambda d: d.assign(k="many"), "not a number"),
    "a junk train_log.csv": ("train_log.csv", lambda d: d.assign(epoch=0.5), "whole numbers"),
    "bounds_checks.csv without columns": ("bounds_checks.csv", lambda d: d.drop(columns=["theorem2_holds_frac"]),
                                          "no column 'theorem2_holds_frac'"),
    "theorem1_mc.csv all NaN": ("theorem1_mc.csv", lambda d: d.assign(mc_variance=np.nan), "empty in every row"),
}  # fmt: skip


@pytest.mark.parametrize("case", GRID_CASES)
def test_a_hand_edited_grid_run_is_one_line(tmp_path, case, one_error):
    run = tmp_path / "quick"
    shutil.copytree(ROOT / "results" / "quick", run)
    table, edit, fragment = GRID_CASES[case]
    _edit_csv(run / table, edit)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    one_error(main(["report", str(run)]), fragment)
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    "edit, fragment",
    [(_junk_row, "not a number"), (lambda d: d.drop(columns=["acc_extracted"]), "no column 'acc_extracted'")],
)
def test_a_hand_edited_paper_widths_run_is_one_line(tmp_path, edit, fragment, one_error):
    run = tmp_path / "corner"
    shutil.copytree(ROOT / "results" / "paper-corner", run)
    _edit_csv(run / "epochs.csv", edit)
    one_error(main(["report", str(run)]), fragment)


def test_a_table1_config_without_its_fields_is_one_line(tmp_path, one_error):
    run = tmp_path / "t1"
    shutil.copytree(ROOT / "results" / "fashion-mnist", run)
    (run / "config.json").write_text(json.dumps({"archs": ["vgg"]}))  # a legacy config: no ratio, no epochs
    one_error(main(["report", str(run)]), "not a complete table1 configuration (no 'ratio')")


def test_validate_keeps_good_tables_and_converts_numbers():
    df = pd.DataFrame({"hidden_layers": ["4", "5"], "ratio": [0.1, 0.2], "acc_drop": [-0.01, 0.3], "note": ["a", 1]})
    out = validate(df, Path("t.csv"), required=("hidden_layers",))
    assert out.hidden_layers.tolist() == [4, 5] and out.acc_drop.tolist() == [-0.01, 0.3]
    with pytest.raises(UserError, match="line 4, column 'ratio'"):
        validate(pd.DataFrame({"ratio": [0.1, 0.2, "x"]}), Path("t.csv"))
