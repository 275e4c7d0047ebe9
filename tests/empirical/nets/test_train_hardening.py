"""Training under bad options and failures: diverging runs, corrupt or edited resume points, kill -9 and
resume bit for bit, an unwritable cache (``empirical.nets.train`` through the CLI)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from empirical.cli import main
from tests.helpers import rewrite_safetensors as _rewrite


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--train-subset", "0"], "train_subset"),
        (["--train-subset", "-5"], "train_subset"),
        (["--lr", "inf"], "lr"),
        (["--width", "1000000000000"], "beyond"),
        (["--hidden-layers", "200", "--width", "100000"], "GiB"),
        (["--optimizer", "lbfgs"], "unknown optimizer"),
        (["--schedule", "linear"], "unknown schedule"),
        (["--momentum", "1.5"], "momentum must be in [0, 1)"),
        (["--weight-decay", "-1"], "weight_decay must be in [0, 10)"),
        (["--bn-sparsity", "nan"], "bn_sparsity"),
        (["--bn-init", "0.5"], "not to the FCN"),
        (["--arch", "vgg", "--bn-init", "0"], "bn_init must be a finite non-zero number"),
        (["--arch", "vgg", "--bn-init", "inf"], "bn_init"),
    ],
)
def test_train_options_are_checked(tmp_path, capsys, args, fragment, one_error):
    base = {"--hidden-layers": "2", "--width": "8", "--epochs": "1"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    argv = ["train", "--out", str(tmp_path / "t"), "--no-progress"] + [x for kv in base.items() for x in kv]
    one_error(main(argv), fragment)
    assert not (tmp_path / "t" / "model.safetensors").exists()


def test_diverging_training_stops_and_does_not_block_the_fix(tmp_path, capsys, mnist, one_error):
    out = tmp_path / "run"
    bad = [
        "train",
        "--hidden-layers",
        "2",
        "--width",
        "16",
        "--epochs",
        "1",
        "--train-subset",
        "2000",
        "--lr",
        "1e30",
        "--out",
        str(out),
        "--no-progress",
    ]
    one_error(main(bad), "diverged")
    assert not (out / "model.safetensors").exists()
    good = [a if a != "1e30" else "0.001" for a in bad]
    assert main(good) == 0  # the failed run's spec.json does not block the corrected command


def test_corrupt_resume_point_asks_for_restart(tmp_path, capsys, mnist, one_error):
    from empirical.nets.train import RunOptions, TrainSpec, train

    out = tmp_path / "run"
    spec = TrainSpec(2, 16, 2, train_subset=2000)
    train(spec, out, RunOptions(progress=False, stop_after_epochs=1))
    state = out / "train_state.safetensors"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # truncated
    argv = [
        "train",
        "--hidden-layers",
        "2",
        "--width",
        "16",
        "--epochs",
        "2",
        "--train-subset",
        "2000",
        "--out",
        str(out),
        "--no-progress",
    ]
    one_error(main(argv), "--restart")
    assert state.exists()  # never deleted silently
    assert main([*argv, "--restart"]) == 0 and (out / "model.safetensors").exists()


def test_edited_resume_point_is_refused(tmp_path, mnist):
    from empirical.errors import UserError
    from empirical.nets.train import RunOptions, TrainSpec, train

    out = tmp_path / "run"
    spec = TrainSpec(2, 16, 2, train_subset=2000)
    train(spec, out, RunOptions(progress=False, stop_after_epochs=1))
    _rewrite(out / "train_state.safetensors", edit_tensors=lambda t: t["model.layers.0.weight"].add_(0.01))
    with pytest.raises(UserError, match="corrupt or was edited"):
        train(spec, out, RunOptions(progress=False))


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory, mnist):
    from empirical.nets.checkpoint import read_checkpoint
    from empirical.nets.train import RunOptions, TrainSpec, train

    out = tmp_path_factory.mktemp("train_ref")
    torch.set_num_threads(1)  # the subprocesses below run one thread: same arithmetic
    try:
        path = train(TrainSpec(3, 64, 3, train_subset=20000), out, RunOptions(progress=False))
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    return read_checkpoint(path)[0]


@pytest.mark.parametrize("delay", [2.5, 4.5])
def test_kill9_during_train_then_rerun_matches(train_reference, tmp_path, delay):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "empirical.cli",
        "train",
        "--hidden-layers",
        "3",
        "--width",
        "64",
        "--epochs",
        "3",
        "--train-subset",
        "20000",
        "--out",
        str(out),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert subprocess.run(cmd, capture_output=True, env=env).returncode == 0
    from empirical.nets.checkpoint import read_checkpoint

    got = read_checkpoint(out / "model.safetensors")[0]
    assert all(torch.equal(got[k], train_reference[k]) for k in train_reference)


def test_unwritable_cache_directory(tmp_path, capsys, monkeypatch, one_error):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("CORELOCKER_CACHE", str(blocker / "cache"))
    code = main(
        [
            "train",
            "--hidden-layers",
            "2",
            "--width",
            "8",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "t"),
            "--no-progress",
        ]
    )
    one_error(code, "cache")


def test_a_file_where_the_run_directory_goes(tmp_path, one_error):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_error(main(["train", "--hidden-layers", "2", "--width", "8", "--out", str(blocker)]), "is a file")


def test_weights_without_a_spec_are_not_reused(tmp_path, one_error):
    """A directory with a model.safetensors but no spec.json is not a run of this spec (it used to be taken
    as a resume point of a different shape)."""
    from empirical.nets.checkpoint import save_checkpoint
    from empirical.nets.models import make_fcn

    out = tmp_path / "run"
    save_checkpoint(out / "model.safetensors", make_fcn(2, 8, seed=0), {"hidden_layers": 2, "width": 8})
    before = (out / "model.safetensors").read_bytes()
    argv = ["train", "--hidden-layers", "3", "--width", "16", "--epochs", "1", "--out", str(out), "--no-progress"]
    one_error(main(argv), "no spec.json")
    assert (out / "model.safetensors").read_bytes() == before and not (out / "spec.json").exists()


def test_a_second_training_run_into_the_same_directory_is_refused(tmp_path, capsys, one_error):
    """Issue 26 item 12: two `train --out t` both exited 0 and the second replaced the first's checkpoint."""
    import fcntl

    out = tmp_path / "t"
    out.mkdir()
    with open(out / ".train.lock", "a") as fh:  # what a running `train --out t` holds
        fcntl.flock(fh, fcntl.LOCK_EX)
        code = main(["train", "--hidden-layers", "2", "--width", "8", "--epochs", "1", "--out", str(out),
                     "--no-progress"])  # fmt: skip
    one_error(code, "another training run is writing into")
    assert not (out / "spec.json").exists()


def test_restart_with_another_spec_deletes_nothing(tmp_path, capsys, mnist, one_error):
    """Issue 26 item 12: `--restart` with another width deleted a different network's resume point."""
    from empirical.nets.train import RunOptions, TrainSpec, train

    out = tmp_path / "run"
    train(TrainSpec(2, 16, 2, train_subset=2000), out, RunOptions(progress=False, stop_after_epochs=1))
    state = out / "train_state.safetensors"
    before = state.read_bytes()
    one_error(main(["train", "--hidden-layers", "2", "--width", "24", "--epochs", "2", "--train-subset", "2000",
                    "--out", str(out), "--no-progress", "--restart"]), "another spec")  # fmt: skip
    assert state.read_bytes() == before
