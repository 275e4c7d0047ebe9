"""Verdict rows (``empirical.experiments.common.verdicts``): every experiment's report, docs page and README line
state the verdicts of its ``verdicts`` rows and no other — shown by replacing the rows' verdicts with markers and
reading the README line again, and by finding every row's verdict in the committed report."""

import re
from pathlib import Path

import pandas as pd
import pytest

from empirical.experiments.common import registry
from empirical.experiments.common.verdicts import COLUMNS, counted, line, table, verdict_words

ROOT = Path(__file__).resolve().parents[4]
COMMITTED = {  # kind: (run, the report's options that change its verdicts)
    "grid": ("results/cpu", {}),
    "paper-widths": ("results/paper-region", {"earlier_run": "results/paper-corner"}),
    "table1": ("results/fashion-mnist", {}),
    "ablation": ("results/fashion-mnist-ablation", {}),
    "attacks": ("results/attacks", {}),
    "other-archs": ("results/other-archs", {}),
}


def test_counted_and_the_words():
    assert counted(3, 3) == "PASS (3 of 3)" and counted(0, 2, "models") == "FAIL (0 of 2 models)"
    assert counted(1, 3) == "PARTIAL (1 of 3)" and counted(1, 1) == "PASS" and counted(0, 0) == "NOT TESTED"
    assert verdict_words("claim 1: NOT DECIDED; claim 2: PASS (2 of 3); NO EFFECT") == [
        "NOT DECIDED",
        "PASS",
        "NO EFFECT",
    ]
    assert verdict_words("passed, failing, FAILURE") == []


def test_a_row_without_a_verdict_word_is_refused():
    rows = table([dict(where="Table 9", claim="x", verdict="PASS", numbers="1 of 1")])
    assert list(rows.columns) == list(COLUMNS) and rows.scope.iloc[0] == ""
    assert line(rows.iloc[0]) == "Table 9: x — **PASS**: 1 of 1"
    with pytest.raises(ValueError, match="'maybe' is not a verdict"):
        table([dict(where="Table 9", claim="x", verdict="maybe")])


@pytest.mark.parametrize("kind", ["grid", "paper-widths", "table1", "ablation", "attacks", "other-archs", "audit"])
def test_the_readme_line_states_only_the_rows_verdicts(kind, monkeypatch):
    """With every verdict of the rows replaced by a marker, the README line holds the markers and no verdict word of
    its own: it cannot state a verdict its rows do not."""
    monkeypatch.chdir(ROOT)
    page = registry.experiment(kind).page
    markers = []
    if hasattr(page, "verdicts"):
        real = page.verdicts

        def marked(*args, **kwargs):
            v = real(*args, **kwargs).copy()
            v["verdict"] = [f"<V{len(markers) + i}>" for i in range(len(v))]
            markers.extend(v["verdict"])
            return v

        monkeypatch.setattr(page, "verdicts", marked)
    text = page.glance()
    assert verdict_words(text) == [], text
    if hasattr(page, "verdicts"):
        assert markers and any(m in text for m in markers)


@pytest.mark.parametrize("kind", sorted(COMMITTED))
def test_the_committed_report_holds_every_verdict_row(kind, monkeypatch):
    monkeypatch.chdir(ROOT)
    run, options = COMMITTED[kind]
    rows = registry.experiment(kind).verdicts(run, **options)
    report = (ROOT / run / "report.md").read_text()
    assert len(rows)
    for r in rows.itertuples():
        cell = re.escape(str(r.verdict).replace("|", "\\|"))
        assert re.search(rf"\| {cell} \|", report), (r.where, r.claim, r.verdict)
    assert isinstance(rows, pd.DataFrame) and list(rows.columns) == list(COLUMNS)
