"""The grid: reproduce end to end, kill -9 and resume, refused configurations, the Ray executor."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from empirical.cli import main
from empirical.experiments.grid import GridConfig, GridOptions, collect, run_grid
from empirical.experiments.presets import get_preset

TINY = get_preset("tiny")
TABLE_KEYS = ["hidden_layers", "width", "seed", "indicator", "random_seed", "ratio"]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, mnist):
    """``reproduce --preset tiny`` in-process, one worker (the reference run)."""
    out = tmp_path_factory.mktemp("grid") / "tiny"
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    return out


def test_reproduce_writes_every_table_figure_and_report(reproduced):
    cfg = GridConfig.from_preset(TINY)
    for name in (
        "config.json",
        "results.csv",
        "bounds_checks.csv",
        "disparities.csv",
        "critical_ratios.csv",
        "theorem1_mc.csv",
        "train_log.csv",
        "report.md",
    ):
        assert (reproduced / name).is_file(), name
    res = pd.read_csv(reproduced / "results.csv")
    n_rows = len(cfg.cells()) * len(cfg.ratios) * (1 + cfg.random_seeds)
    assert len(res) == n_rows and not res.duplicated(TABLE_KEYS).any()
    for col in (
        "hidden_layers",
        "width",
        "indicator",
        "ratio",
        "n_extracted",
        "acc_original",
        "acc_extracted",
        "top3_extracted",
        "n_parameters",
        "share_of_parameters",
    ):
        assert col in res
    assert set(res["indicator"]) == {"l1", "random"}
    assert (res["ratio"] == 0.00002).any()
    assert res["sandwich_all_hold"].dropna().all()
    figs = {p.name for p in (reproduced / "figures").glob("*.png")}
    assert {
        "figure5_paper_ratio.png",
        "critical_ratios.png",
        "disparity_profile.png",
        "theorem1_monte_carlo.png",
    } <= figs
    report = (reproduced / "report.md").read_text()
    for where in (
        "Property 1",
        "Property 2",
        "Property 3",
        "Property 4",
        "Lemma 2",
        "Lemma 4",
        "Theorem 1",
        "Theorem 2",
        "Theorem 3",
        "Theorem 4",
        "Figure 5",
        "E-T1-EXP",
    ):
        assert where in report, where
    assert "depth matters more than width" in report


def _tables(run):
    return {n: pd.read_csv(run / f"{n}.csv") for n in ("results", "bounds_checks", "critical_ratios")}


def test_kill9_mid_cell_then_resume_gives_the_same_tables(reproduced, tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "empirical.cli",
        "grid",
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    # wait until one cell is finished and the next has started training, then kill the whole group
    while time.time() < deadline:
        done = list(out.glob("cells/*/done.json"))
        started = list(out.glob("cells/*/spec.json"))
        if done and len(started) > len(done):
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(out.glob("cells/*/done.json")))
    assert 1 <= n_done < 4
    res = pd.read_csv(out / "results.csv")  # the top-level table holds finished cells only, no partial rows
    assert res.groupby(["hidden_layers", "width"]).ngroups == n_done
    assert not res.duplicated(TABLE_KEYS).any()
    assert main(cmd[3:]) == 0
    a, b = _tables(reproduced), _tables(out)
    for name in a:
        cols = [c for c in a[name].columns if c not in ("seconds",)]
        pd.testing.assert_frame_equal(a[name][cols], b[name][cols], check_exact=False, rtol=1e-12)


def test_changed_configuration_is_refused(reproduced, capsys, one_error):
    before = (reproduced / "results.csv").read_bytes()
    one_error(main(["grid", "--preset", "tiny", "--epochs", "2", "--out", str(reproduced), "--no-progress"]),
              "another configuration (differs in: epochs)")  # fmt: skip
    assert (reproduced / "results.csv").read_bytes() == before


def test_second_concurrent_run_is_refused(reproduced, capsys):
    from empirical.experiments.grid import run_lock

    with run_lock(reproduced):
        assert main(["grid", "--preset", "tiny", "--out", str(reproduced), "--no-progress"]) == 2
    assert "another grid run" in capsys.readouterr().err


def test_resume_from_tables_without_checkpoints(reproduced, tmp_path):
    """A fresh machine has the committed tables only: finished cells are not redone."""
    import shutil

    copy = tmp_path / "committed"
    shutil.copytree(reproduced, copy, ignore=shutil.ignore_patterns("*.safetensors"))
    stamps = {p: p.stat().st_mtime_ns for p in copy.glob("cells/*/results.csv")}
    tables = run_grid(GridConfig.from_preset(TINY), copy, GridOptions(workers=1, progress=False))
    assert {p: p.stat().st_mtime_ns for p in copy.glob("cells/*/results.csv")} == stamps
    assert not list(copy.glob("cells/*/model.safetensors"))
    assert len(tables["results"]) == len(pd.read_csv(reproduced / "results.csv"))


def test_corrupt_resume_point_retrains_that_cell(reproduced, tmp_path):
    """A cell's train_state is a local cache: a corrupt one is retrained, not a reason to stop the grid."""
    import shutil

    copy = tmp_path / "committed"
    shutil.copytree(reproduced, copy, ignore=shutil.ignore_patterns("*.safetensors"))
    cell = sorted(copy.glob("cells/*/done.json"))[-1].parent
    (cell / "done.json").unlink()
    (cell / "train_state.safetensors").write_bytes(b"not a safetensors file")
    tables = run_grid(GridConfig.from_preset(TINY), copy, GridOptions(workers=1, progress=False))
    assert (cell / "done.json").exists()
    pd.testing.assert_frame_equal(tables["results"], pd.read_csv(reproduced / "results.csv"))


def test_collect_ignores_unfinished_cells(reproduced, tmp_path):
    import shutil

    copy = tmp_path / "partial"
    shutil.copytree(reproduced, copy)
    victim = sorted(copy.glob("cells/*/done.json"))[0]
    victim.unlink()  # as if killed between the cell's tables and its done marker
    tables = collect(copy, GridConfig.from_preset(TINY))
    assert tables["results"].groupby(["hidden_layers", "width"]).ngroups == 3


@pytest.mark.parametrize("damage", ["done-marker", "table-deleted"])
def test_a_cell_that_runs_again_after_a_crash_completes(reproduced, tmp_path, damage):
    """Issue 26 item 3: after a kill -9 between a cell's tables and its done.json (its checkpoint still there),
    or with one of its tables deleted, the rerun crashed every time ("cannot insert n_parameters, already
    exists": the training log had become the cell's table). Now the cell runs again to the same rows."""
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(reproduced, copy)  # checkpoints included: the cell does not retrain, it re-evaluates
    cell = sorted(copy.glob("cells/*/done.json"))[0].parent
    (cell / "done.json").unlink()
    if damage == "table-deleted":
        (cell / "disparities.csv").unlink()
    tables = run_grid(GridConfig.from_preset(TINY), copy, GridOptions(workers=1, progress=False))
    assert (cell / "done.json").exists()
    pd.testing.assert_frame_equal(tables["train_log"], pd.read_csv(reproduced / "train_log.csv"))
    key = ["hidden_layers", "width", "indicator", "random_seed", "ratio"]
    got = tables["results"].sort_values(key).reset_index(drop=True)
    ref = pd.read_csv(reproduced / "results.csv").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["acc_original", "acc_extracted"]], ref[["acc_original", "acc_extracted"]])


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--ratios", ","], "empty"),
        (["--widths", "0"], "widths"),
        (["--hidden-layers", "1"], "hidden layers"),
        (["--epochs", "0"], "epochs"),
        (["--workers", "0"], "workers"),
        (["--executor", "slurm"], "executor"),
        (["--preset", "huge"], "preset"),
        (["--ratios", "0.00002,1.5"], "ratio"),
    ],
)
def test_bad_grid_input_is_one_error_line(tmp_path, capsys, args, fragment, one_error):
    out = tmp_path / "bad"
    one_error(main(["grid", "--preset", "tiny", "--out", str(out), "--no-progress", *args]), fragment)
    assert not (out / "results.csv").exists()


def test_ray_executor_matches_local(reproduced, tmp_path):
    pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    out = tmp_path / "ray"
    cfg = GridConfig.from_preset(TINY, widths=(16,), hidden_layers=(3,))  # one cell: Ray's start-up dominates
    tables = run_grid(cfg, out, GridOptions(executor="ray", workers=1, progress=False))
    local = pd.read_csv(reproduced / "results.csv")
    local = local[(local["width"] == 16) & (local["hidden_layers"] == 3)].reset_index(drop=True)
    got = tables["results"]
    cols = [c for c in local.columns if c != "seconds"]
    pd.testing.assert_frame_equal(local[cols], got[cols], check_exact=False, rtol=1e-12)
    assert json.loads((out / "config.json").read_text())["widths"] == [16]
