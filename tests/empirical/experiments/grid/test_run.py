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
from empirical.experiments.grid.config import PRESETS
from empirical.experiments.grid.run import GridOptions, collect, run_grid

TINY = PRESETS["tiny"]
TABLE_KEYS = ["hidden_layers", "width", "seed", "indicator", "random_seed", "ratio"]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, mnist):
    """``reproduce --preset tiny`` in-process, one worker (the reference run)."""
    out = tmp_path_factory.mktemp("grid") / "tiny"
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    return out


def test_reproduce_writes_every_table_figure_and_report(reproduced):
    cfg = TINY
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
    from empirical.experiments.grid.run import run_lock

    with run_lock(reproduced):
        assert main(["grid", "--preset", "tiny", "--out", str(reproduced), "--no-progress"]) == 2
    assert "another grid run" in capsys.readouterr().err


def test_resume_from_tables_without_checkpoints(reproduced, tmp_path):
    """A fresh machine has the committed tables only: finished cells are not redone."""
    import shutil

    copy = tmp_path / "committed"
    shutil.copytree(reproduced, copy, ignore=shutil.ignore_patterns("*.safetensors"))
    stamps = {p: p.stat().st_mtime_ns for p in copy.glob("cells/*/results.csv")}
    tables = run_grid(TINY, copy, GridOptions(workers=1, progress=False))
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
    tables = run_grid(TINY, copy, GridOptions(workers=1, progress=False))
    assert (cell / "done.json").exists()
    pd.testing.assert_frame_equal(tables["results"], pd.read_csv(reproduced / "results.csv"))


def test_collect_ignores_unfinished_cells(reproduced, tmp_path):
    import shutil

    copy = tmp_path / "partial"
    shutil.copytree(reproduced, copy)
    victim = sorted(copy.glob("cells/*/done.json"))[0]
    victim.unlink()  # as if killed between the cell's tables and its done marker
    tables = collect(copy, TINY)
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
    tables = run_grid(TINY, copy, GridOptions(workers=1, progress=False))
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
    cfg = TINY.overridden(widths=(16,), hidden_layers=(3,))  # one cell: Ray's start-up dominates
    tables = run_grid(cfg, out, GridOptions(executor="ray", workers=1, progress=False))
    local = pd.read_csv(reproduced / "results.csv")
    local = local[(local["width"] == 16) & (local["hidden_layers"] == 3)].reset_index(drop=True)
    got = tables["results"]
    cols = [c for c in local.columns if c != "seconds"]
    pd.testing.assert_frame_equal(local[cols], got[cols], check_exact=False, rtol=1e-12)
    assert json.loads((out / "config.json").read_text())["widths"] == [16]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--ratio", "1.5"], "extraction ratio must be in (0, 1)"),
        (["--ratio", "0"], "extraction ratio must be in (0, 1)"),
        (["--ratio", "nan"], "extraction ratio must be in (0, 1)"),
        (["--vmax", "0"], "--vmax must be a positive number"),
    ],
)
def test_figures_refuse_a_ratio_outside_the_unit_interval(reproduced, capsys, one_error, args, fragment):
    """Issue 27 item 5: `figures --ratio 1.5` silently drew Figure 5 at 0.1; now one error line, nothing drawn."""
    before = sorted(p.name for p in (reproduced / "figures").iterdir())
    one_error(main(["figures", str(reproduced), *args]), fragment)
    assert sorted(p.name for p in (reproduced / "figures").iterdir()) == before


def test_figures_announce_the_ratio_they_draw(reproduced, capsys):
    """A ratio not in the run is replaced by the closest one of the run, said in a line and in the file name."""
    have = sorted(pd.read_csv(reproduced / "results.csv").ratio.unique())
    assert 0.003 not in have
    assert main(["figures", str(reproduced), "--ratio", "0.003", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert "--ratio 0.003 is not in the run; Figure 5 drawn at its closest ratio" in out
    used = float(out.split("closest ratio, ")[1].split()[0])
    assert used in have and (reproduced / "figures" / f"figure5_ratio_{used:g}.svg").exists()


def test_figure5_uses_one_fixed_scale():
    """A +0.07 pp wobble is drawn near white and an 86 pp collapse dark red: one ±100 pp scale for every ratio."""
    import figures

    cells = pd.DataFrame(dict(hidden_layers=[4, 4, 7, 7], width=[100, 200, 100, 200], acc_drop=[0.0007, -0.0005,
                              0.86, 0.0], acc_extracted=[0.97, 0.98, 0.11, 0.97]))  # fmt: skip
    fig = figures.figure5(cells, "0.002 %")
    norm = fig.axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == (-100, 100)
    assert abs(norm(0.07) - 0.5) < 0.001 and norm(86) > 0.9


@pytest.mark.parametrize("parent_alive", [True, False])
def test_a_grid_worker_never_outlives_its_parent(parent_alive):
    """Audit 3, item 4: a worker whose parent died before its initializer ran exits at once (its parent pid is
    no longer the one it was given); with the parent alive it runs on."""
    import subprocess
    import sys

    code = (
        "import os, time\n"
        "from empirical.experiments.common.executors import die_with_parent\n"
        f"die_with_parent(os.getppid() if {parent_alive} else os.getppid() + 1)\n"
        "time.sleep(0.5)\n"
        "print('ran on')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == ((0, "ran on") if parent_alive else (1, ""))
