"""Bad input, one row each: the CLI prints one error line naming the problem, exits 2 and writes nothing.

The rows need no trained network (no data); the ones that need the tiny trained FCN are at the end.
"""

import json

import pytest

from empirical.cli import main
from empirical.experiments.common.rundir import RunDir


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
    (tmp_path / "foreign").mkdir()  # files another program wrote, under names our commands write
    for name in ("theory.csv", "predictions.csv", "summary.json"):
        (tmp_path / "foreign" / name).write_text("x\n1\n")
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "results.csv").write_text("hidden_layers,width,seed,indicator,ratio\n2,8,0,l1,0.1\n2,8,0,l")
    (tmp_path / "other_csv").mkdir()
    (tmp_path / "other_csv" / "results.csv").write_text("name,score\na,1\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")  # a builder file that ends the process
    (tmp_path / "mod.py").write_text("import torch\ndef build():\n    return torch.nn.Linear(784, 10)\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deep" / "x.safetensors")


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
    # audit 3, item 10: validated before anything is created
    (["train", "--hidden-layers", "2", "--width", "8", "--out", "{t}/tr", "--dataset", "cifar"], "unknown dataset"),
    (
        ["train", "--hidden-layers", "2", "--width", "8", "--out", "{t}/tr", "--data-root", "{t}/nodata"],
        "does not exist",
    ),
    (["grid", "--preset", "tiny", "--out", "{t}/g", "--data-root", "{t}/nodata"], "does not exist"),
    # item 11: a directory holding another program's files under our names
    (["theory", "--out", "{t}/foreign"], "already holds theory.csv"),
    (
        ["predict-ratio", "--run", "{t}/header_only", "--target", "0.5", "--out", "{t}/foreign"],
        "already holds predictions",
    ),
    (["check-bounds", "{t}/sd.pt", "--ratio", "0.1", "--out", "{t}/foreign"], "already holds summary.json"),
    # item 9 and 14: values and paths
    (["report", "{t}/header_only", "--ratio", "-1"], "ratio must be in (0, 1)"),
    (["report", "{t}/header_only", "--ratio", "1e308"], "ratio must be in (0, 1)"),
    (["figures", "{t}/header_only", "--ratio", "0"], "ratio must be in (0, 1)"),
    (["figures", "{t}/header_only", "--ratio", "nan"], "ratio must be in (0, 1)"),
    (["utility-curve", "--checkpoint", "{t}/sd.pt", "--targets", "5", "--out", "{t}/uc"], "--targets: 5.0"),
    (["report", "{t}/cut"], "ends in a cut row"),
    (["report", "{t}/other_csv"], "not a grid table"),
    (
        ["lock", "--checkpoint", "{t}/sd.pt", "--ratio", "0.1", "--out-model", "{t}/dangling", "--key", "{t}/k"],
        "symbolic link",
    ),  # fmt: skip
    (
        [
            "lock",
            "--checkpoint",
            "{t}/sd.pt",
            "--ratio",
            "0.1",
            "--out-model",
            "{t}/m",
            "--key",
            "{t}/k",
            "--model",
            "{t}/exits.py:build",
        ],
        "SystemExit",
    ),  # fmt: skip
    # issue 27 item 3: attacks on your own locked model
    (["attacks", "--out", "{t}/a", "--key", "{t}/k"], "--key goes with --checkpoint"),
    (["attacks", "--checkpoint", "{t}/sd.pt", "--fractions", "0", "--out", "{t}/a"], "--fractions: 0.0"),
    (["attacks", "--checkpoint", "{t}/sd.pt", "--seeds", "0", "--out", "{t}/a"], "--seeds must be >= 1"),
    # issue 27 item 4: your own data's input shape
    (
        [
            "import",
            "--torch",
            "{t}/sd.pt",
            "--normalization",
            "none",
            "--model",
            "{t}/mod.py:build",
            "--input-shape",
            "abc",
            "--out",
            "{t}/i",
        ],
        "--input-shape 'abc'",
    ),  # fmt: skip
    (
        ["import", "--torch", "{t}/sd.pt", "--normalization", "none", "--input-shape", "3,32,32", "--out", "{t}/i"],
        "--input-shape goes with --model",
    ),  # fmt: skip
    # item 2: the builder file is an input --force may not replace
    (
        [
            "lock",
            "--checkpoint",
            "{t}/sd.pt",
            "--ratio",
            "0.1",
            "--out-model",
            "{t}/mod.py",
            "--key",
            "{t}/k",
            "--model",
            "{t}/mod.py:build",
            "--force",
        ],
        "--out-model and --model name the same file",
    ),  # fmt: skip
    (
        [
            "import",
            "--torch",
            "{t}/sd.pt",
            "--normalization",
            "standardize",
            "--model",
            "{t}/mod.py:build",
            "--out",
            "{t}/mod.py",
            "--force",
        ],
        "--out and --model name the same file",
    ),  # fmt: skip
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


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_text("garbage,columns\n1,2\n"),  # replaced by another table
        lambda p: p.write_bytes(p.read_bytes()[:-3]),  # cut mid-row
        lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"),  # reduced to its header
        lambda p: p.write_text(p.read_text() + "9,9\n"),  # a row added
    ],
    ids=["junk", "cut", "header-only", "extra-row"],
)
def test_a_damaged_table_of_a_finished_cell_is_not_finished(tmp_path, damage):
    """done.json records each table's sha256: any change to a table makes the cell run again (audit item 15),
    and its rows never reach the run's tables."""
    import pandas as pd

    rd = RunDir(tmp_path / "r", "grid", {"kind": "grid", "x": 1}, ("results",))
    with rd.open():
        rd.finish("a", {"results": pd.DataFrame({"v": [1, 2], "w": [3.5, 4.5]})}, {"ok": True})
        assert rd.is_finished("a")
        damage(rd.cell_dir("a") / "results.csv")
        assert not rd.is_finished("a") and not (rd.cell_dir("a") / "done.json").exists()
        assert rd.collect(["a"])["results"].empty
