"""Bad input, one row each: the CLI prints one error line naming the problem, exits 2 and writes nothing.

The rows need no trained network (no data); the ones that need the tiny trained FCN are at the end.
"""

import json

import pytest

from empirical.cli import main
from empirical.experiments.rundir import RunDir


def _setup(tmp_path):
    """Directories in states a user can leave behind."""
    (tmp_path / "cfg_list").mkdir()
    (tmp_path / "cfg_list" / "config.json").write_text("[]")
    (tmp_path / "cfg_null").mkdir()
    (tmp_path / "cfg_null" / "config.json").write_text("null")
    (tmp_path / "header_only").mkdir()
    (tmp_path / "header_only" / "results.csv").write_text("hidden_layers,width,seed\n")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "results.csv").write_bytes(b"\x00\xff\x13" * 50)
    (tmp_path / "sd.pt").write_bytes(b"not a torch file")


CASES = [
    (
        ["lock", "--checkpoint", "{t}/sd.pt", "--ratio", "0.05", "--out-model", "{t}/newdir/", "--key", "{t}/k"],
        "names a directory",
    ),
    (["unlock", "--checkpoint", "{t}/sd.pt", "--key", "{t}/k", "--out", "{t}/newdir/"], "names a directory"),
    (["theory", "--C-s", "0"], "--C-s must be a finite number > 0"),
    (["theory", "--C-e", "nan"], "--C-e must be a finite number > 0"),
    (["table1", "--size", "0", "--out", "{t}/t1"], "expected ARCH=H,W"),
    (["table1", "--check-samples", "10000000", "--out", "{t}/t1"], "check_samples in 1..10000"),
    (["grid", "--preset", "tiny", "--out", "{t}/cfg_list"], "not ours"),
    (["grid", "--preset", "tiny", "--out", "{t}/cfg_null"], "not ours"),
    (["report", "{t}/header_only"], "has no rows"),
    (["predict-ratio", "--run", "{t}/header_only", "--target", "0.5"], "has no rows"),
    (["report", "{t}/garbage"], "results.csv"),
    (
        ["import", "--torch", "{t}/sd.pt", "--normalization", "standardize", "--dataset", "cifar", "--out", "{t}/i"],
        "unknown --dataset 'cifar'",
    ),  # fmt: skip
    (["import", "--torch", "{t}/sd.pt", "--normalization", "bogus", "--out", "{t}/i"], "unknown normalization"),
    (["import", "--torch", "{t}/sd.pt", "--normalization", "standardize", "--out", "{t}/i"], "sd.pt"),
]


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a[:2]) + f"#{i}" for i, (a, _) in enumerate(CASES)])
def test_one_error_line_nothing_written(args, fragment, tmp_path, one_error):
    _setup(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    one_error(main([a.format(t=tmp_path) for a in args]), fragment)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # nothing created, nothing half-written


def test_into_a_train_run(tiny_run, tmp_path, one_error):
    """check-bounds and utility-curve refuse a directory that holds a trained network (they would mix files)."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run[0], run_dir)
    before = sorted(p.name for p in run_dir.iterdir())
    one_error(main(["check-bounds", str(run_dir), "--ratio", "0.1", "--out", str(run_dir)]), "holds a train run")
    one_error(main(["utility-curve", "--checkpoint", str(run_dir), "--out", str(run_dir)]), "holds a train run")
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_utility_curve_outputs_land_together(tiny_run, tmp_path, monkeypatch, capsys):
    """A failure while writing the figure leaves neither curve.csv nor table5.csv behind."""
    import matplotlib.figure

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    out = tmp_path / "u"
    code = main(["utility-curve", "--checkpoint", str(tiny_run[0]), "--ratios", "0.01,0.1", "--random-seeds", "1",
                 "--out", str(out)])  # fmt: skip
    assert code != 0 and "No space left" in capsys.readouterr().err
    assert not (out / "curve.csv").exists() and not (out / "table5.csv").exists()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_done_marker_without_its_table_reruns_the_cell(tmp_path):
    """A cell whose done.json survived but whose table did not (or is truncated) is not finished."""
    rd = RunDir(tmp_path / "r", "grid", {"kind": "grid", "x": 1}, ("results",))
    with rd.open():
        rd.finish("a", {"results": __import__("pandas").DataFrame({"v": [1]})}, {"ok": True})
        assert rd.is_finished("a")
        (rd.cell_dir("a") / "results.csv").write_text("")  # truncated to nothing
        assert not rd.is_finished("a") and not (rd.cell_dir("a") / "done.json").exists()
        (rd.cell_dir("a") / "done.json").write_text(json.dumps({"ok": True}))
        (rd.cell_dir("a") / "results.csv").unlink()
        assert not rd.is_finished("a")
        assert rd.collect(["a"])["results"].empty
