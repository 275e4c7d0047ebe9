"""Figure 5 at the paper's widths, epoch by epoch (``empirical.experiments.paper_widths``) on tiny shapes."""

import shutil

import pandas as pd
import pytest

from empirical.cli import main
from empirical.errors import UserError
from empirical.experiments import paper_widths as pw
from empirical.nets.train import RunOptions, train

TINY = pw.PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("pw")
    tables = pw.run(TINY, out, progress=False)
    return out, tables


def test_every_epoch_has_rows_and_critical_ratios(tiny_run):
    out, t = tiny_run
    assert list(t["cells"]["epochs_reached"]) == [h[2] for h in TINY.cells] and t["cells"]["finished"].all()
    ep = t["epochs"]
    for h, w, planned in TINY.cells:
        cell = ep[(ep.hidden_layers == h) & (ep.width == w)]
        assert sorted(cell.epoch.unique()) == list(range(1, planned + 1))
        for e in range(1, planned + 1):
            l1 = cell[(cell.epoch == e) & (cell.indicator == "l1")]
            assert 0.00002 in set(l1.ratio)  # the paper's ratio at every epoch
            full = TINY.sweep_due(e, planned)
            if full:  # otherwise the paper's ratio only — or every ratio when the previous epoch gave no hint
                assert set(l1.ratio) == set(TINY.ratios)
            rnd = cell[(cell.epoch == e) & (cell.indicator == "random")]
            assert (len(rnd) > 0) == TINY.random_due(e, planned)
    crit = t["critical"]
    assert set(crit.target) == set(TINY.targets)
    assert len(crit) == sum(p for *_, p in TINY.cells) * len(TINY.targets)
    found = crit[crit.status == "found"]
    assert len(found) and (found.accuracy <= found.target + 1e-12).all()  # the search meets its target
    log = t["epoch_log"]
    assert (log.peak_rss_gib > 0).all() and (log.eval_seconds >= 0).all()


def test_critical_ratio_between_sweeps_matches_a_fresh_search(tiny_run, mnist):
    """Epoch 2 of the 2 × 16 cell has no full sweep: its critical ratio comes from the previous epoch's hint.
    Retraining to epoch 2 and searching from scratch (full sweep) gives the same k."""
    out, t = tiny_run
    h, w, planned = TINY.cells[0]
    assert not TINY.sweep_due(2, planned)
    crit = t["critical"]
    row = crit[(crit.hidden_layers == h) & (crit.epoch == 2) & (crit.target == 0.5)].iloc[0]
    spec = TINY.train_spec((h, w, 2))
    path = train(spec, out / "ref", RunOptions(progress=False))
    from empirical.nets.checkpoint import load_checkpoint
    from empirical.nets.data import test_set_for

    model, meta = load_checkpoint(path)
    x, y = test_set_for(meta["spec"])
    _, fresh = pw.evaluate_epoch(model, x, y, TINY, full_sweep=True, with_random=False)
    ref = fresh[fresh.target == 0.5].iloc[0]
    assert ref.status == row.status
    if row.status == "found":
        assert abs(int(ref.k) - int(row.k)) <= max(1, TINY.crit_resolution * int(ref.k))


def test_interrupted_cell_resumes_to_the_same_rows(tiny_run, tmp_path, mnist):
    out, t = tiny_run
    cfg = pw.PaperWidthsConfig(**{**pw._config_from_json(TINY.to_json()), "cells": (TINY.cells[0],)})
    pw.run(cfg, tmp_path, progress=False, stop_after_epoch=2)
    part = pd.read_csv(tmp_path / "cells.csv")
    assert part.epochs_reached.tolist() == [2] and not part.finished.any()
    pw.run(cfg, tmp_path, progress=False)
    ref = t["epochs"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    again = pd.read_csv(tmp_path / "epochs.csv")
    pd.testing.assert_frame_equal(again, ref, check_dtype=False)


def test_fresh_machine_keeps_earlier_rows_apart(tiny_run, tmp_path):
    """Committed rows without the resume point: the cell retrains and the old rows move to *.previous.csv."""
    out, _ = tiny_run
    cfg = pw.PaperWidthsConfig(**{**pw._config_from_json(TINY.to_json()), "cells": (TINY.cells[0],)})
    pw.run(cfg, tmp_path, progress=False, stop_after_epoch=1)
    copy = tmp_path.parent / (tmp_path.name + "_fresh")
    shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("*.safetensors"))
    pw.run(cfg, copy, progress=False, stop_after_epoch=1)
    cell = copy / "cells" / pw.cell_name(*cfg.cells[0][:2], cfg.seed)
    assert (cell / "epochs.previous.csv").exists() and (cell / "epochs.csv").exists()


def test_another_configuration_and_another_kind_are_refused(tiny_run, tmp_path, capsys, one_error):
    out, _ = tiny_run
    other = pw.PaperWidthsConfig(**{**pw._config_from_json(TINY.to_json()), "random_seeds": 3})
    with pytest.raises(UserError, match="another configuration"):
        pw.run(other, out, progress=False)
    (tmp_path / "config.json").write_text('{"widths": [16], "hidden_layers": [2]}')  # a grid run
    one_error(main(["paper-widths", "--preset", "tiny", "--out", str(tmp_path), "--no-progress"]), "grid run")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--preset", "huge"], "unknown paper-widths preset"),
        (["--only", "7x"], "expected HxW"),
        (["--only", "9x9"], "not in this configuration"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--stop-after-epoch", "0"], "--stop-after-epoch must be >= 1"),
        (["--only", "2x16", "--stop-after-epoch", "x"], "invalid int value"),
    ],
)
def test_bad_options_are_one_error_line(tmp_path, capsys, args, fragment, one_error):
    out = tmp_path / "run"
    one_error(main(["paper-widths", "--preset", "tiny", "--out", str(out), "--no-progress", *args]), fragment)
    assert not (out / "config.json").exists()


def test_trend_extrapolates_the_epoch_at_the_paper_ratio_and_the_verdict_waits_for_the_planned_epochs():
    """A hand-made critical table with log10 r = −1 − 0.1·epoch: the line reaches log10(2e-5) = −4.699 at
    epoch 36.99; a cell short of its planned epochs gives a provisional verdict."""
    import numpy as np

    epochs = np.arange(1, 11)
    crit = pd.DataFrame(dict(hidden_layers=7, width=3000, target=0.5, status="found", epoch=epochs,
                             ratio=10.0 ** (-1 - 0.1 * epochs)))  # fmt: skip
    tr = pw.trend_rows(crit, 0.5).iloc[0]
    assert tr.slope_per_epoch == pytest.approx(-0.1, abs=1e-9)
    assert tr.epoch_at_paper_ratio == pytest.approx((np.log10(2e-5) + 1) / -0.1, abs=1e-6)
    last = pd.DataFrame(dict(hidden_layers=[7], width=[3000], epoch=[10], acc_original=[0.97],
                             acc_extracted=[0.97], acc_drop=[0.0]))  # fmt: skip
    v = pw.paper_claim_verdict(last, {"cells": [[7, 3000, 50]]})
    assert v["verdict"].startswith("FAIL so far (provisional: 7 × 3000 at epoch 10 of 50") and v["provisional"]
    v = pw.paper_claim_verdict(last.assign(epoch=50), {"cells": [[7, 3000, 50]]})
    assert v["verdict"] == "FAIL" and not v["provisional"]
