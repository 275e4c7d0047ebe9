"""The fourth reliability audit's remaining cases (issue 37, items 6, 7, 9 and 10), one test each; every one
failed before its fix. The own-data cases are in ``test_own_data_safety.py``, the dead worker in
``experiments/test_executors.py``, the resume points in ``experiments/test_paper_widths.py``."""

import json
import os
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from empirical._io import temp_prefix
from empirical.cli import main
from empirical.nets.modules import overlapping_tensors


@pytest.fixture()
def two_class(tmp_path):
    """A two-class problem on 8 features and an MLP trained on it, imported as a checkpoint."""
    rng = np.random.default_rng(1)

    def split(n):
        y = rng.integers(0, 2, n)
        return (rng.normal(0, 1, (n, 8)) + 2.0 * y[:, None]).astype(np.float32), y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(300), split(200)
    np.savez(tmp_path / "two.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    (tmp_path / "mlp.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        def build():
            return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
        """))  # fmt: skip
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(50):
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x_tr)), torch.from_numpy(y_tr))
        opt.zero_grad(), loss.backward(), opt.step()
    torch.save(model.state_dict(), tmp_path / "mlp.pt")
    common = ["--model", f"{tmp_path / 'mlp.py'}:build", "--data", str(tmp_path / "two.npz")]
    assert main(["import", "--torch", str(tmp_path / "mlp.pt"), "--normalization", "none", *common,
                 "--out", str(tmp_path / "mlp.safetensors")]) == 0  # fmt: skip
    return tmp_path, ["--checkpoint", str(tmp_path / "mlp.safetensors"), *common]


@pytest.mark.slow
def test_two_class_data_goes_through_the_utility_commands(two_class):
    """Before: ``sweep.top_accuracy`` asked for top-3 of 2 logits and every command below crashed."""
    d, ck = two_class
    assert main(["ratio-for-utility", *ck, "--target", "0.6"]) == 0
    assert main(["lock", *ck, "--target-accuracy", "0.6", "--out-model", str(d / "l.safetensors"), "--key",
                 str(d / "k.safetensors")]) == 0  # fmt: skip
    assert main(["utility-curve", *ck, "--ratios", "0.1,0.5", "--random-seeds", "1", "--out", str(d / "uc")]) == 0


def test_overlapping_views_are_tied_parameters():
    """Before: only equal ``data_ptr`` counted as tied, so overlapping views of one storage passed and safetensors
    raised later."""
    base = torch.zeros(10)
    assert overlapping_tensors({"a": base[:6], "b": base[4:]}) == ("a", "b")
    assert overlapping_tensors({"a": base[:5], "b": base[5:]}) is None
    w = torch.zeros(4, 4)
    assert overlapping_tensors({"w": w, "row": w[2]}) == ("w", "row")
    assert overlapping_tensors({"a": torch.zeros(3), "b": torch.zeros(3)}) is None


def test_an_import_with_overlapping_views_is_one_line(tmp_path, one_error):
    (tmp_path / "views.py").write_text(textwrap.dedent("""
        import torch, torch.nn as nn

        class Views(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.zeros(784 * 10 + 10))
                self.register_buffer("tail", self.w.data[-20:])
            def forward(self, x):
                return x @ self.w[:7840].view(784, 10) + self.w[7840:]

        def build():
            return Views()
        """))  # fmt: skip
    torch.save({"w": torch.zeros(7850), "tail": torch.zeros(20)}, tmp_path / "v.pt")
    one_error(main(["import", "--torch", str(tmp_path / "v.pt"), "--model", f"{tmp_path / 'views.py'}:build",
                    "--normalization", "unit", "--out", str(tmp_path / "v.safetensors")]), "share memory")  # fmt: skip


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("double", "float64 tensors"),
        ("half_buffer", "float16 tensors"),
    ],
)
def test_import_never_writes_what_its_loader_refuses(tmp_path, body, fragment, one_error):
    """Before: import accepted float64 parameters and a float16 buffer, and every later command refused the file."""
    code = {
        "double": "return nn.Sequential(nn.Linear(784, 10)).double()",
        "half_buffer": "m = nn.Sequential(nn.Linear(784, 10)); m.register_buffer('s', torch.ones(3).half()); return m",
    }[body]
    (tmp_path / "m.py").write_text(f"import torch, torch.nn as nn\n\ndef build():\n    {code}\n")
    ns = {}
    exec((tmp_path / "m.py").read_text(), ns)
    torch.save(ns["build"]().state_dict(), tmp_path / "m.pt")
    one_error(main(["import", "--torch", str(tmp_path / "m.pt"), "--model", f"{tmp_path / 'm.py'}:build",
                    "--normalization", "unit", "--out", str(tmp_path / "m.safetensors")]), fragment)  # fmt: skip
    assert not (tmp_path / "m.safetensors").exists()


def test_five_d_samples_are_refused_before_anything_is_written(tmp_path, one_error):
    x = np.zeros((20, 1, 2, 2, 2, 2), np.float32)
    y = np.arange(20) % 2
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    (tmp_path / "m.py").write_text("import torch.nn as nn\n\ndef build():\n    return nn.Sequential(nn.Flatten(), "
                                   "nn.Linear(16, 2))\n")  # fmt: skip
    ns = {}
    exec((tmp_path / "m.py").read_text(), ns)
    torch.save(ns["build"]().state_dict(), tmp_path / "m.pt")
    one_error(main(["import", "--torch", str(tmp_path / "m.pt"), "--model", f"{tmp_path / 'm.py'}:build",
                    "--normalization", "none", "--data", str(tmp_path / "d.npz"), "--out",
                    str(tmp_path / "m.safetensors")]), "input_shape")  # fmt: skip
    assert not (tmp_path / "m.safetensors").exists()


def test_a_fresh_temp_file_of_someone_else_survives_a_commit(src, tmp_path):
    """Before: ``commit_files`` removed every ``.NAME.*.tmp`` at once, however new; the docs say after a minute."""
    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    fresh = tmp_path / f"{temp_prefix(model)}deadbeef.tmp"
    stale = tmp_path / f"{temp_prefix(key)}cafecafe.tmp"
    fresh.write_text("another writer's")
    stale.write_text("a killed writer's")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert main(["lock", "--checkpoint", str(src), "--ratio", "0.05", "--out-model", str(model), "--key", str(key),
                 "--no-eval"]) == 0  # fmt: skip
    assert fresh.exists() and not stale.exists()


def test_a_well_formed_journal_never_replaces_a_file_the_command_was_not_given(src, tmp_path, one_error):
    """Before: a planted journal of the right shape, with its temp file, replaced ``notes.txt`` on the next unlock."""
    d = tmp_path / "pair"
    d.mkdir()
    model, key = d / "locked.safetensors", d / "key.safetensors"
    assert main(["lock", "--checkpoint", str(src), "--ratio", "0.05", "--out-model", str(model), "--key", str(key),
                 "--no-eval"]) == 0  # fmt: skip
    notes = d / "notes.txt"
    notes.write_text("secret")
    token = "0123abcd"
    (d / f"{temp_prefix(notes)}{token}.tmp").write_text("evil")
    journal = d / f".corelocker-commit.{token}.json"
    journal.write_text(json.dumps({"pairs": [[str(d / f"{temp_prefix(notes)}{token}.tmp"), str(notes)]],
                                   "journals": [str(journal)]}))  # fmt: skip
    one_error(main(["unlock", "--checkpoint", str(model), "--key", str(key), "--out", str(d / "r.safetensors")]),
              "which this command was not given")  # fmt: skip
    assert notes.read_text() == "secret" and journal.exists()


def test_a_journal_refusal_says_why(src, tmp_path, one_error):
    """Before: every refusal read "(unreadable)": the specific error was caught and re-raised generically."""
    d = tmp_path / "pair"
    d.mkdir()
    (d / ".corelocker-commit.0123abcd.json").mkdir()  # a directory where a journal would be
    one_error(main(["lock", "--checkpoint", str(src), "--ratio", "0.05", "--out-model", str(d / "m.safetensors"),
                    "--key", str(d / "k.safetensors"), "--no-eval"]), "(not a plain file)")  # fmt: skip


def test_keygen_does_not_advise_a_flag_it_lacks(tmp_path, one_error):
    assert main(["keygen", "--out", str(tmp_path / "owner")]) == 0
    code = main(["keygen", "--out", str(tmp_path / "owner")])
    one_error(code, "choose another --out prefix")


def test_a_state_dir_that_is_a_file_is_refused_up_front(tmp_path, monkeypatch, one_error):
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("CORELOCKER_STATE_DIR", str(tmp_path / "afile"))
    one_error(main(["paper-widths", "--preset", "tiny", "--out", str(tmp_path / "run"), "--no-progress"]),
              "is not a directory")  # fmt: skip
    assert not (tmp_path / "run" / "config.json").exists()


def test_an_npz_as_checkpoint_and_a_directory_as_key_are_named(src, tmp_path, one_error):
    np.savez(tmp_path / "data.npz", x=np.zeros(3))
    one_error(main(["unlock", "--checkpoint", str(tmp_path / "data.npz"), "--key", str(src), "--out",
                    str(tmp_path / "r.safetensors")]), "is a NumPy .npz archive")  # fmt: skip
    (tmp_path / "keydir").mkdir()
    one_error(main(["unlock", "--checkpoint", str(src), "--key", str(tmp_path / "keydir"), "--out",
                    str(tmp_path / "r.safetensors")]), "is a directory")  # fmt: skip
