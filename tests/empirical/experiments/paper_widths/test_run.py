"""Figure 5 at the paper's widths, epoch by epoch (``empirical.experiments.paper_widths.run``) on tiny shapes."""

import importlib
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from empirical.cli import main
from empirical.errors import UserError
from empirical.experiments.paper_widths import claims, cost, resume
from empirical.experiments.paper_widths import config as pwc
from empirical.experiments.paper_widths import evaluate as ev
from empirical.experiments.paper_widths import report as pwr
from empirical.host import cpu_model
from empirical.nets.train import RunOptions, train

pw = importlib.import_module("empirical.experiments.paper_widths.run")

TINY = pwc.PRESETS["tiny"]
ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("pw")
    tables = pw.run(TINY, out, pw.PaperWidthsOptions(progress=False))
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
    assert (log.host == cpu_model()).all() and cpu_model()  # the machine each epoch ran on
    assert (log.denormals == "flushed").all()  # training on the CPU flushes them (nets.threads)


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
    _, fresh = ev.evaluate_epoch(model, x, y, TINY, full_sweep=True, with_random=False)
    ref = fresh[fresh.target == 0.5].iloc[0]
    assert ref.status == row.status
    if row.status == "found":
        assert abs(int(ref.k) - int(row.k)) <= max(1, TINY.crit_resolution * int(ref.k))


def test_interrupted_cell_resumes_to_the_same_rows(tiny_run, tmp_path, mnist):
    out, t = tiny_run
    cfg = replace(TINY, cells=(TINY.cells[0],))
    pw.run(cfg, tmp_path, pw.PaperWidthsOptions(progress=False, stop_after_epoch=2))
    part = pd.read_csv(tmp_path / "cells.csv")
    assert part.epochs_reached.tolist() == [2] and not part.finished.any()
    pw.run(cfg, tmp_path, pw.PaperWidthsOptions(progress=False))
    ref = t["epochs"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    again = pd.read_csv(tmp_path / "epochs.csv")
    pd.testing.assert_frame_equal(again, ref, check_dtype=False)


def _one_cell():
    return replace(TINY, cells=(TINY.cells[0],))


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
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=tmp_path / "machine1"))
    copy = _clone(run, "fresh")
    pw.run(cfg, copy, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=tmp_path / "machine2"))
    cell = copy / "cells" / pwc.cell_name(*cfg.cells[0][:2], cfg.seed)
    assert (cell / "epochs.previous.csv").exists() and (cell / "epochs.csv").exists()
    again = _clone(copy, "fresh2")
    pw.run(cfg, again, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=tmp_path / "machine3"))
    cell = again / "cells" / cell.name
    assert (cell / "epochs.previous.csv").exists() and (cell / "epochs.previous2.csv").exists()


def test_a_fresh_clone_resumes_from_the_state_dir(tiny_run, tmp_path, caplog):
    """Kill the run after epoch 2 (of 4), clone the committed files into a new checkout: with the same state dir
    the cell continues at epoch 3 (verified against the committed epoch-2 accuracy), without archiving, and ends
    with the rows of an uninterrupted run."""
    out, t = tiny_run
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "checkout1"
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=2, state_dir=state))
    assert not list((run / "cells").rglob("train_state*")) and len(list(state.glob("*.train_state.safetensors"))) == 1
    clone = _clone(run, "checkout2")
    with caplog.at_level("INFO"):
        pw.run(cfg, clone, pw.PaperWidthsOptions(progress=False, state_dir=state))
    assert "resume point at epoch 2 verified" in caplog.text and "retraining from epoch 0" not in caplog.text
    cell = clone / "cells" / pwc.cell_name(*cfg.cells[0][:2], cfg.seed)
    assert not list(cell.glob("*.previous*.csv"))
    ref = t["epochs"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(clone / "epochs.csv"), ref, check_dtype=False)
    assert not list(state.glob("*.train_state.safetensors"))  # the finished cell's resume point is gone


def _forge(path, tamper: str) -> None:
    """Edit a resume point as a forger who knows the checksum recipe (it is no secret) would."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from empirical.nets.resume import state_digest

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    if tamper == "weights":
        tensors["model.layers.0.weight"].zero_()
    else:
        meta["spec_key"] = "0" * 16
    meta["state_sha256"] = state_digest(tensors, meta)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize("tamper", ["weights", "rows", "foreign"])
def test_a_tampered_or_foreign_state_is_refused_and_the_cell_retrains(tiny_run, tmp_path, caplog, tamper):
    """A state whose weights were edited, committed rows from another run than the state's, or a state of another
    spec (checksums recomputed): one warning line names it, the committed rows move aside, the cell retrains."""
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "run"
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=state))
    (path,) = state.glob("*.train_state.safetensors")
    cell = run / "cells" / pwc.cell_name(*cfg.cells[0][:2], cfg.seed)
    if tamper == "rows":
        rows = pd.read_csv(cell / "epoch_log.csv")
        rows.assign(test_acc=rows.test_acc - 0.01).to_csv(cell / "epoch_log.csv", index=False)
    else:
        _forge(path, tamper)
    with caplog.at_level("INFO"):
        pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=state))
    fragment = {"weights": "the restored model scores", "rows": "from another run", "foreign": "another training spec"}
    assert fragment[tamper] in caplog.text and "retraining from epoch 0" in caplog.text
    assert (cell / "epochs.previous.csv").exists()
    assert pd.read_csv(cell / "epoch_log.csv").epoch.tolist() == [1]


def test_another_configuration_and_another_kind_are_refused(tiny_run, tmp_path, capsys, one_error):
    out, _ = tiny_run
    other = replace(TINY, random_seeds=3)
    with pytest.raises(UserError, match="another configuration"):
        pw.run(other, out, pw.PaperWidthsOptions(progress=False))
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
        (["--state-dir", "{t}/afile"], "is not a directory"),
    ],
)
def test_bad_options_are_one_error_line(tmp_path, capsys, args, fragment, one_error):
    out = tmp_path / "run"
    (tmp_path / "afile").write_text("")
    args = [a.format(t=tmp_path) for a in args]
    one_error(main(["paper-widths", "--preset", "tiny", "--out", str(out), "--no-progress", *args]), fragment)
    assert not (out / "config.json").exists()


def test_trend_extrapolates_the_epoch_at_the_paper_ratio():
    """A hand-made critical table with log10 r = −1 − 0.1·epoch: the line reaches log10(2e-5) = −4.699 at
    epoch 36.99."""
    epochs = np.arange(1, 11)
    crit = pd.DataFrame(dict(hidden_layers=7, width=3000, target=0.5, criterion="0.5", status="found", epoch=epochs,
                             ratio=10.0 ** (-1 - 0.1 * epochs)))  # fmt: skip
    tr = pwr.trend_rows(crit, "0.5").iloc[0]
    assert tr.slope_per_epoch == pytest.approx(-0.1, abs=1e-9)
    assert tr.epoch_at_paper_ratio == pytest.approx((np.log10(2e-5) + 1) / -0.1, abs=1e-6)


@pytest.mark.parametrize(
    "h, w, region1, region2",
    [(7, 3000, "boundary", "outside"), (7, 4000, "inside", "outside"), (6, 8000, "boundary", "outside"),
     (10, 6000, "inside", "inside"), (13, 8000, "inside", "inside"), (10, 5000, "inside", "boundary"),
     (4, 8000, "outside", "outside"), (13, 3000, "boundary", "outside")],
)  # fmt: skip
def test_claim_regions_read_more_than_strictly(h, w, region1, region2):
    """§5.1.2: "more than 6 hidden layers and more than 3,000 neurons"; "more than 9 ... more than 5,000"."""
    assert claims.claim_region(h, w, claims.CLAIMS[0]) == region1
    assert claims.claim_region(h, w, claims.CLAIMS[1]) == region2


def test_the_regions_hold_35_and_12_cells_of_the_paper_grid():
    assert len(claims.region_cells(claims.CLAIMS[0])) == 35 and len(claims.region_cells(claims.CLAIMS[1])) == 12
    assert set(claims.region_cells(claims.CLAIMS[1])) < set(claims.region_cells(claims.CLAIMS[0]))
    region = pwc.PRESETS["paper-region"].cells
    assert [c[:2] for c in region[:5]] == [(7, 4000), (10, 6000), (13, 8000), (13, 4000), (7, 8000)]
    assert {c[:2] for c in region} == set(claims.region_cells(claims.CLAIMS[0])) and {c[2] for c in region} == {50}


def _cells(*rows):
    """Measured cells as ``claims.measured_cells`` gives them: (h, w, epoch, original, locked)."""
    return pd.DataFrame([dict(hidden_layers=h, width=w, epoch=e, acc_original=a0, acc_extracted=a, seeds=1, run="r",
                              host="x", n_extracted=1) for h, w, e, a0, a in rows])  # fmt: skip


def test_a_claim_is_decided_only_by_most_of_its_region_at_epoch_50():
    """One cell at epoch 50 decides nothing about 35; a cell short of epoch 50 is provisional, never counted, and
    no cell is dropped for a low accuracy (13 × 8000 at 65.6 % is shown, provisional)."""
    v = claims.claim_verdicts(_cells((7, 4000, 50, 0.98, 0.97), (13, 8000, 1, 0.656, 0.10), (7, 3000, 50, 0.98, 0.1)))
    one, two = v.set_index("claim").loc["claim 1"], v.set_index("claim").loc["claim 2"]
    assert one.verdict == "NOT DECIDED" and one.measured_at_50 == 1 and one.not_met == 1 and one.provisional == 1
    assert (
        "1 of 35 cells measured at epoch 50 (no measured cell meets it: not met at 7 × 4000 (epoch 50, one seed: "
        "98.00 → 97.00 % at 0.002 %, level 49.00 %))" in one.sentence
    )
    assert "met at 13 × 8000 (epoch 1 of 50, provisional, one seed: 65.60 → 10.00 %" in one.sentence
    assert "7 × 3000" not in one.sentence  # the boundary cell is not counted
    assert two.verdict == "NOT DECIDED" and two.measured_at_50 == 0
    # the thresholds: half the original for claim 1 (within 1 pp), chance + 5 pp for claim 2
    per = claims.cell_verdicts(_cells((10, 6000, 50, 0.98, 0.495), (10, 7000, 50, 0.98, 0.16)))
    assert per.set_index(["claim", "cell"])["meets"].to_dict() == {
        ("claim 1", "10 × 6000"): True, ("claim 1", "10 × 7000"): True,
        ("claim 2", "10 × 6000"): False, ("claim 2", "10 × 7000"): True}  # fmt: skip


def test_pass_and_fail_need_more_than_half_of_the_region():
    inside = claims.region_cells(claims.CLAIMS[0])
    meet = [(h, w, 50, 0.98, 0.10) for h, w in inside[:18]]
    assert claims.claim_verdicts(_cells(*meet)).iloc[0].verdict == "PASS"  # 18 of 35 meet it
    assert claims.claim_verdicts(_cells(*meet[:17])).iloc[0].verdict == "NOT DECIDED"  # 17: "most" not shown
    miss = [(h, w, 50, 0.98, 0.97) for h, w in inside[:18]]
    assert claims.claim_verdicts(_cells(*miss)).iloc[0].verdict == "FAIL"  # 18 do not: most cannot meet it
    assert claims.claim_verdicts(_cells(*miss[:17])).iloc[0].verdict == "NOT DECIDED"
    assert (
        "(no measured cell meets it: 7 × 4000, 7 × 5000, 7 × 6000,"
        in claims.claim_verdicts(_cells(*miss)).iloc[0].sentence
    )


def test_paired_projections_keep_r15_at_or_above_r_half():
    """Issue 36: the saturating r15 projection once fell below the r50 bound. Projected as r_half plus a gap >= 0,
    r15 >= r_half holds at every projected epoch, in every replicate's quantiles, for every form — here on the
    committed 7 × 4000 rows, whose gap shrinks with the epochs."""
    from empirical.experiments.paper_widths import projection as P

    crit = pwr.load_run(ROOT / "results" / "paper-corner")["critical"]
    crit = crit[(crit.hidden_layers == 7) & (crit.width == 4000)]
    hi, lo = pwr.series(crit, "0.5"), pwr.series(crit, "0.15")
    rows, bands = P.project_pair(hi.epoch, hi.y, lo.epoch, lo.y, 50, n_boot=200)
    wide = bands.pivot_table(index=["form", "epoch"], columns="series", values=["fit", "low", "high"])
    for q in ("fit", "low", "high"):
        assert (wide[(q, "low")] >= wide[(q, "high")] - 1e-12).all(), q
    assert set(rows.series) == {"high", "low"} and "delta_aicc" in rows


def test_aicc_penalises_more_than_aic_with_few_points():
    from empirical.experiments.paper_widths import projection as P

    t = np.arange(2, 14, dtype=float)
    y = -1 - 0.05 * t + np.random.default_rng(0).normal(0, 0.02, len(t))
    n, k = len(t), P.N_PARAMS["quadratic"] + 1
    assert P.aicc("quadratic", t, y) - P.aic("quadratic", t, y) == pytest.approx(2 * k * (k + 1) / (n - k - 1))


def test_projection_recovers_each_form_and_its_backtest_is_exact_on_its_own_form():
    """Noise-free series of each form: the fit reproduces the value at epoch 50 (1e-6 decades; the saturating τ
    lies on the profile grid), the bootstrap band collapses onto it, and the backtest error of the true form is
    0 while the line's is not on a slowing series."""
    from empirical.experiments.paper_widths import projection as P

    t = np.arange(2, 19, dtype=float)
    truth = {"linear": lambda s: -1 - 0.05 * s, "quadratic": lambda s: -1 - 0.08 * s + 0.0013 * s**2,
             "saturating": lambda s: -3 + 2 * np.exp(-s / P._TAUS[120])}  # fmt: skip
    for form, f in truth.items():
        rows, band = P.project(t, f(t), 50, n_boot=50)
        r = rows.set_index("form").loc[form]
        assert r.projected == pytest.approx(f(50.0), abs=1e-6)
        assert r.high - r.low < 1e-6
        assert band[band.form == form].epoch.tolist() == list(range(2, 51))
    e = np.arange(1, 51)
    series = pd.DataFrame(dict(cell="x", epoch=e, y=truth["quadratic"](e)))
    bt = P.backtest(series).set_index("form")["error"]
    assert bt["quadratic"] == pytest.approx(0, abs=1e-9) and bt["linear"] < -0.5  # the line overshoots downward


@pytest.mark.slow
def test_projection_interval_covers_the_truth_in_monte_carlo():
    """A straight line with iid N(0, 0.05²) noise, 17 epochs: the 95 % block-bootstrap interval of the line's
    value at epoch 50 contains the true value in at least 80 % of 200 draws (residual bootstraps undercover with
    few points and blocks: 0.80 is the stated floor; its binomial SE at 0.9 is 0.02)."""
    from empirical.experiments.paper_widths import projection as P

    rng, t, hits = np.random.default_rng(1), np.arange(2, 19, dtype=float), 0
    for _ in range(200):
        y = -1 - 0.05 * t + rng.normal(0, 0.05, len(t))
        reps = P.block_bootstrap("linear", t, y, [50.0], n_boot=200, seed=int(rng.integers(1 << 30)))[:, 0]
        lo, hi = np.quantile(reps, [0.025, 0.975])
        hits += lo <= -3.5 <= hi
    assert hits / 200 >= 0.80


def test_projection_agreement():
    from empirical.experiments.paper_widths import projection as P

    rows = pd.DataFrame(dict(low=[1e-3, 2e-3], high=[1e-2, 5e-2]))
    assert P.agreement(rows, 2e-5) == "none" and P.agreement(rows, 1) == "all"
    assert P.agreement(rows, 1.5e-3) == "undecided" and P.agreement(rows.iloc[:0], 1) == "undecided"


@pytest.mark.parametrize("n", [1999, 2000, 10_000])
def test_accuracy_by_halves_equals_the_whole_set_accuracy_exactly(n):
    """The epoch's original accuracy now comes from the two halves' hit counts (one pass instead of three);
    it must be the same float as ``top_accuracy`` on the whole set, for odd and even set sizes."""
    import torch

    from empirical.lock.sweep import top_accuracy
    from empirical.nets.models import make_fcn

    g = torch.Generator().manual_seed(n)
    x, y = torch.randn(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)
    model = make_fcn(2, 16, seed=0).eval()
    acc, top3, (a_s, a_h) = ev.accuracy_by_halves(model, x, y)
    assert (acc, top3) == top_accuracy(model, x, y)
    assert (a_s, a_h) == (top_accuracy(model, x[0::2], y[0::2])[0], top_accuracy(model, x[1::2], y[1::2])[0])
    from empirical.nets.train import accuracy

    assert acc == accuracy(model, x, y)[0]  # the training loop's test accuracy, now taken from this pass


def test_the_shared_test_pass_changes_no_row():
    """evaluate_epoch given the training loop's accuracy_by_halves writes the rows it computes on its own."""
    import torch

    from empirical.nets.models import make_fcn

    g = torch.Generator().manual_seed(3)
    x = torch.randn(600, 784, generator=g)
    model = make_fcn(2, 32, seed=1).eval()
    with torch.no_grad():  # the model's own labels: accuracy 1, so both critical-ratio targets are searched
        y = model(x).argmax(dim=1)
    config = pwc.PaperWidthsConfig(cells=((2, 32, 1),), ratios=(0.00002, 0.1, 0.5, 0.9), targets=(0.5, 0.3))
    alone = ev.evaluate_epoch(model, x, y, config, True, False)
    shared = ev.evaluate_epoch(model, x, y, config, True, False, original=ev.accuracy_by_halves(model, x, y))
    assert (alone[1]["status"] == "found").all()
    for a, b in zip(alone, shared):
        pd.testing.assert_frame_equal(a, b)


def test_a_fresh_out_gets_every_row_or_retrains(tiny_run, tmp_path, caplog):
    """Issue 37, item 4: a fresh ``--out`` once resumed from another run's resume point and silently lacked
    epochs 1–k. Now the resume point carries the rows it continues: a fresh run directory of the same
    configuration gets them back (and ends with the rows of an uninterrupted run); a checkout whose committed rows
    stop short of the resume point gets the missing epochs back too."""
    out, t = tiny_run
    cfg, state = _one_cell(), tmp_path / "state"
    pw.run(cfg, tmp_path / "first", pw.PaperWidthsOptions(progress=False, stop_after_epoch=2, state_dir=state))
    with caplog.at_level("INFO"):
        pw.run(cfg, tmp_path / "fresh", pw.PaperWidthsOptions(progress=False, state_dir=state))
    assert "epochs 1-2 restored from the resume point" in caplog.text
    ref = t["epochs"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fresh" / "epochs.csv"), ref, check_dtype=False)


def test_rows_committed_before_the_last_epochs_are_completed(tiny_run, tmp_path, caplog):
    out, t = tiny_run
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "run"
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=state))
    committed = _clone(run, "committed-at-1")
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=3, state_dir=state))
    with caplog.at_level("INFO"):
        pw.run(cfg, committed, pw.PaperWidthsOptions(progress=False, state_dir=state))
    assert "epochs 2-3 restored" in caplog.text and "retraining from epoch 0" not in caplog.text
    ref = t["critical"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(committed / "critical.csv"), ref, check_dtype=False)


def test_runs_that_evaluate_alike_share_nothing_else(tiny_run, tmp_path):
    """Two configurations that train the same cell but evaluate it differently keep separate resume points:
    running one never moves, refuses or deletes the other's."""
    cfg, state = _one_cell(), tmp_path / "state"
    other = replace(cfg, random_seeds=1)
    assert resume.state_tag(cfg) != resume.state_tag(other)
    pw.run(cfg, tmp_path / "a", pw.PaperWidthsOptions(progress=False, stop_after_epoch=2, state_dir=state))
    (mine,) = state.glob("*.train_state.safetensors")
    before = mine.read_bytes()
    pw.run(other, tmp_path / "b", pw.PaperWidthsOptions(progress=False, state_dir=state))
    assert mine.exists() and mine.read_bytes() == before
    assert pd.read_csv(tmp_path / "b" / "epoch_log.csv").epoch.tolist() == list(range(1, cfg.cells[0][2] + 1))


@pytest.mark.parametrize("proves", [True, False])
def test_an_untagged_resume_point_is_adopted_only_when_it_proves_itself(tiny_run, tmp_path, caplog, proves):
    """Resume points written before they were bound to a run (no tag in the name) are adopted when the run's rows
    match them; otherwise the cell retrains and the file stays where it is (it may be another run's)."""
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "run"
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=2, state_dir=state))
    (tagged,) = state.glob("*.train_state.safetensors")
    legacy = state / f"{cfg.train_spec(cfg.cells[0]).key()}.train_state.safetensors"
    tagged.rename(legacy)
    cell = run / "cells" / pwc.cell_name(*cfg.cells[0][:2], cfg.seed)
    if not proves:
        rows = pd.read_csv(cell / "epoch_log.csv")
        rows.assign(test_acc=rows.test_acc - 0.01).to_csv(cell / "epoch_log.csv", index=False)
    with caplog.at_level("INFO"):
        pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=3, state_dir=state))
    if proves:
        assert "adopted" in caplog.text and not legacy.exists() and tagged.exists()
        assert not list(cell.glob("*.previous*.csv"))
    else:
        assert "retraining from epoch 0" in caplog.text and legacy.exists()
    assert pd.read_csv(cell / "epoch_log.csv").epoch.tolist() == [1, 2, 3]


def test_a_resume_point_without_its_spec_key_is_refused(tiny_run, tmp_path, caplog):
    """Issue 37, item 6: the old digest did not cover ``spec_key``, so removing it passed the check."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from empirical.nets.resume import state_digest

    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "run"
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=state))
    (path,) = state.glob("*.train_state.safetensors")
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    for k in ("spec_key", "digest_version"):  # a version-1 resume point without its key
        meta.pop(k)
    meta = {k: v for k, v in meta.items() if not k.startswith("extra.")}
    meta["state_sha256"] = state_digest(tensors, meta)
    save_file(tensors, str(path), metadata=meta)
    with caplog.at_level("INFO"):
        pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, stop_after_epoch=1, state_dir=state))
    assert "another training spec (none recorded)" in caplog.text and "retraining from epoch 0" in caplog.text


def test_a_deadline_stops_cleanly_and_the_next_window_continues(tiny_run, tmp_path, caplog, monkeypatch):
    """``--deadline``: no epoch starts unless the slowest so far would end in time; every finished epoch's rows are
    written, and the next window (the same command) continues to the rows of an uninterrupted run."""
    from empirical.nets import train as nets_train

    out, t = tiny_run
    cfg, state = _one_cell(), tmp_path / "state"
    run = tmp_path / "run"
    ticks = iter(range(0, 10_000, 10))  # a fake clock: every reading is 10 s after the last
    with monkeypatch.context() as m, caplog.at_level("INFO"):
        m.setattr(nets_train, "clock", lambda: float(next(ticks)))
        # start 0, deadline 35; epoch 1 starts at 20 and takes 10; epoch 2 would start at 50 and end at 60
        pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, state_dir=state, deadline=35))
    cell = run / "cells" / pwc.cell_name(*cfg.cells[0][:2], cfg.seed)
    first = pd.read_csv(cell / "epoch_log.csv").epoch.tolist()
    assert first == [1] and "would end after the deadline" in caplog.text  # one epoch ran, then it stopped
    assert not (cell / "done.json").exists()
    pw.run(cfg, run, pw.PaperWidthsOptions(progress=False, state_dir=state, deadline=3600))
    ref = t["epochs"]
    ref = ref[ref.hidden_layers == cfg.cells[0][0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(run / "epochs.csv"), ref, check_dtype=False)
    log = pd.read_csv(cell / "epoch_log.csv")
    assert (log.precision == "fp32").all() and (~log.tf32.astype(bool)).all()


def test_a_bad_deadline_is_one_line(tmp_path, one_error):
    one_error(main(["paper-widths", "--preset", "tiny", "--out", str(tmp_path / "r"), "--deadline", "0",
                    "--no-progress"]), "--deadline must be > 0")  # fmt: skip


def test_the_half_criterion_and_the_per_target_cadence(tiny_run, tmp_path):
    """``paper-region``'s evaluation on a tiny cell: claim 1's criterion ``half`` searched at every epoch for half
    the epoch's original accuracy, chance + 5 pp every second epoch and every epoch from ``dense_from`` on; the
    epoch log says what each epoch evaluated and on how many threads."""
    cfg = replace(_one_cell(), targets=("half", 0.15), target_every=(1, 2), dense_from=4, cells=((2, 16, 5),))
    pw.run(cfg, tmp_path / "run", pw.PaperWidthsOptions(progress=False, state_dir=tmp_path / "state"))
    crit = pd.read_csv(tmp_path / "run" / "critical.csv", dtype={"criterion": str})
    by = crit.groupby("criterion")["epoch"].apply(list).to_dict()
    assert by["half"] == [1, 2, 3, 4, 5] and by["0.15"] == [1, 2, 4, 5]
    half = crit[(crit.criterion == "half") & (crit.status == "found")]
    assert np.allclose(half.target, half.acc_original / 2) and (half.accuracy <= half.target + 1e-12).all()
    log = pd.read_csv(tmp_path / "run" / "epoch_log.csv")
    assert log.targets_searched.tolist() == ["half 0.15", "half 0.15", "half", "half 0.15", "half 0.15"]
    assert (log.threads_min >= 1).all() and (log.threads_max >= log.threads_min).all()


def test_the_cost_table_names_the_denormal_mode_of_every_epoch():
    """Epochs logged before the column existed kept denormals (their code never flushed them)."""
    assert cost.spans([5, 1, 2, 3, 7, 8]) == "1–3, 5, 7–8" and cost.spans([]) == ""
    log = pd.DataFrame(
        dict(hidden_layers=7, width=4000, epoch=range(1, 6), train_seconds=[500.0, 500, 500, 250, 250],
             eval_seconds=[50.0, 50, 50, 50, 150], full_sweep=[True, False, False, False, True],
             denormals=[None, None, None, "flushed", "flushed"])
    )  # fmt: skip
    (row,) = cost.eval_share(log).to_dict("records")
    assert row["denormals"] == "kept 1–3; flushed 4–5" and row["eval_share"] == 350 / 2000
    assert row["eval_share_without_sweeps"] == 150 / 1250 and row["within_budget"]
    assert cost.eval_share(log.drop(columns="denormals")).denormals.tolist() == ["kept 1–5"]
    modes = cost.by_mode(log).set_index("denormals")
    assert modes.loc["kept", "epochs"] == "1–3" and modes.loc["flushed", "train_s_per_epoch"] == 250
    assert modes.loc["flushed", "eval_share"] == 100 / 250 and modes.loc["kept", "eval_share"] == 0.1
