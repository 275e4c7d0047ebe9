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


def _one_cell():
    return pw.PaperWidthsConfig(**{**pw._config_from_json(TINY.to_json()), "cells": (TINY.cells[0],)})


def _clone(run, name):
    """What a fresh clone holds of a run: its committed files (no checkpoints, no locks)."""
    copy = run.parent / name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("*.safetensors", ".lock", ".*.lock"))
    return copy


def test_fresh_machine_keeps_earlier_rows_apart(tiny_run, tmp_path):
    """Committed rows without any resume point (another machine): the cell retrains and the old rows move to
    *.previous.csv; a second such restart keeps both archives (*.previous2.csv)."""
    cfg = _one_cell()
    run = tmp_path / "run"
    pw.run(cfg, run, progress=False, stop_after_epoch=1, state_dir=tmp_path / "machine1")
    copy = _clone(run, "fresh")
    pw.run(cfg, copy, progress=False, stop_after_epoch=1, state_dir=tmp_path / "machine2")
    cell = copy / "cells" / pw.cell_name(*cfg.cells[0][:2], cfg.seed)
    assert (cell / "epochs.previous.csv").exists() and (cell / "epochs.csv").exists()
    again = _clone(copy, "fresh2")
    pw.run(cfg, again, progress=False, stop_after_epoch=1, state_dir=tmp_path / "machine3")
    cell = again / "cells" / cell.name
    assert (cell / "epochs.previous.csv").exists() and (cell / "epochs.previous2.csv").exists()


def test_a_fresh_clone_resumes_from_the_state_dir(tiny_run, tmp_path, caplog):
    """Kill the run after epoch 2 (of 4), clone the committed files into a new checkout: with the same state dir
    the cell continues at epoch 3 (verified against the committed epoch-2 accuracy), without archiving, and ends
    with the rows of an uninterrupted run."""
    out, t = tiny_run
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "checkout1"
    pw.run(cfg, run, progress=False, stop_after_epoch=2, state_dir=state)
    assert not list((run / "cells").rglob("train_state*")) and len(list(state.glob("*.train_state.safetensors"))) == 1
    clone = _clone(run, "checkout2")
    with caplog.at_level("INFO"):
        pw.run(cfg, clone, progress=False, state_dir=state)
    assert "resume point at epoch 2 verified" in caplog.text and "retraining from epoch 0" not in caplog.text
    cell = clone / "cells" / pw.cell_name(*cfg.cells[0][:2], cfg.seed)
    assert not list(cell.glob("*.previous*.csv"))
    ref = t["epochs"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(clone / "epochs.csv"), ref, check_dtype=False)
    assert not list(state.glob("*.train_state.safetensors"))  # the finished cell's resume point is gone


def _forge(path, tamper: str) -> None:
    """Edit a resume point as a forger who knows the checksum recipe (it is no secret) would."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from empirical.nets.train import _state_digest

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    if tamper == "weights":
        tensors["model.layers.0.weight"].zero_()
    else:
        meta["spec_key"] = "0" * 16
    meta["state_sha256"] = _state_digest(tensors, meta)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize("tamper", ["weights", "rows", "foreign"])
def test_a_tampered_or_foreign_state_is_refused_and_the_cell_retrains(tiny_run, tmp_path, caplog, tamper):
    """A state whose weights were edited, committed rows from another run than the state's, or a state of another
    spec (checksums recomputed): one warning line names it, the committed rows move aside, the cell retrains."""
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "run"
    pw.run(cfg, run, progress=False, stop_after_epoch=1, state_dir=state)
    (path,) = state.glob("*.train_state.safetensors")
    cell = run / "cells" / pw.cell_name(*cfg.cells[0][:2], cfg.seed)
    if tamper == "rows":
        rows = pd.read_csv(cell / "epoch_log.csv")
        rows.assign(test_acc=rows.test_acc - 0.01).to_csv(cell / "epoch_log.csv", index=False)
    else:
        _forge(path, tamper)
    with caplog.at_level("INFO"):
        pw.run(cfg, run, progress=False, stop_after_epoch=1, state_dir=state)
    fragment = {"weights": "the restored model scores", "rows": "from another run", "foreign": "another training spec"}
    assert fragment[tamper] in caplog.text and "retraining from epoch 0" in caplog.text
    assert (cell / "epochs.previous.csv").exists()
    assert pd.read_csv(cell / "epoch_log.csv").epoch.tolist() == [1]


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
