"""Your own data and input shape (issue 27 item 4): a synthetic 3 × 32 × 32, 5-class set that the test writes
itself goes through import, ratio-for-utility, lock, unlock, check-bounds, utility-curve and attacks with
``--data FILE.npz``; chance is 1/5, not MNIST's 1/10."""

import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from empirical.cli import main
from empirical.nets.checkpoint import load_checkpoint

BUILDER = textwrap.dedent(
    """
    import torch.nn as nn

    def build():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(8 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 5),
        )
    """
)


def _data(n, rng, templates):
    y = rng.integers(0, 5, n)
    x = templates[y] + 0.8 * rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    d = tmp_path_factory.mktemp("own_data")
    rng = np.random.default_rng(0)
    templates = rng.standard_normal((5, 3, 32, 32)).astype(np.float32) * 0.5
    (x_tr, y_tr), (x_te, y_te) = _data(1500, rng, templates), _data(500, rng, templates)
    np.savez(d / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    (d / "net.py").write_text(BUILDER)
    ns = {}
    exec(BUILDER, ns)
    torch.manual_seed(0)
    model = ns["build"]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for _ in range(2):
        for i in range(0, len(xt), 50):
            loss = nn.functional.cross_entropy(model(xt[i : i + 50]), yt[i : i + 50])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.save(model.eval().state_dict(), d / "net.pt")
    return d


@pytest.mark.slow
def test_own_data_through_every_command(own, capsys, one_error):
    d = own
    data, builder = str(d / "data.npz"), f"{d / 'net.py'}:build"
    ckpt, locked, key = (str(d / n) for n in ("net.safetensors", "locked.safetensors", "key.safetensors"))
    assert main(["import", "--torch", str(d / "net.pt"), "--model", builder, "--normalization", "none",
                 "--data", data, "--out", ckpt]) == 0  # fmt: skip
    acc = float(capsys.readouterr().out.split("test accuracy with --normalization none: ")[1].split()[0])
    assert acc > 0.6
    _, meta = load_checkpoint(ckpt, builder=__import__("empirical.nets.modules").nets.modules.load_builder(builder))
    assert meta["spec"]["input_shape"] == [3, 32, 32] and meta["spec"]["n_classes"] == 5
    # chance is 1/5: a target of 0.15 is below chance here (it would be allowed with 10 classes)
    one_error(main(["ratio-for-utility", "--checkpoint", ckpt, "--model", builder, "--data", data, "--target",
                    "0.15"]), "chance 0.2")  # fmt: skip
    assert main(["ratio-for-utility", "--checkpoint", ckpt, "--model", builder, "--data", data, "--target",
                 "0.4"]) == 0  # fmt: skip
    assert main(["lock", "--checkpoint", ckpt, "--model", builder, "--data", data, "--target-accuracy", "0.4",
                 "--out-model", locked, "--key", key]) == 0  # fmt: skip
    assert main(["unlock", "--checkpoint", locked, "--key", key, "--model", builder,
                 "--out", str(d / "restored.safetensors")]) == 0  # fmt: skip
    assert main(["check-bounds", ckpt, "--model", builder, "--data", data, "--ratio", "0.05", "--n-samples", "100",
                 "--out", str(d / "cb")]) == 0  # fmt: skip
    assert len(pd.read_csv(d / "cb" / "bounds_checks.csv")) == 4
    assert main(["utility-curve", "--checkpoint", ckpt, "--model", builder, "--data", data, "--ratios", "0.01,0.1",
                 "--random-seeds", "1", "--out", str(d / "uc")]) == 0  # fmt: skip
    assert main(["attacks", "--checkpoint", locked, "--key", key, "--model", builder, "--data", data,
                 "--fractions", "0.2", "--epochs", "1", "--no-baseline", "--out", str(d / "att")]) == 0  # fmt: skip
    rows = pd.read_csv(d / "att" / "attacks.csv")
    assert rows.set_index("attack").loc["original (unlocked with the key)", "accuracy"] == pytest.approx(acc)
    # the data are part of the checkpoint's identity: other data are refused
    other = dict(np.load(data))
    other["x_test"] = other["x_test"] + 1
    np.savez(d / "other.npz", **other)
    one_error(main(["check-bounds", ckpt, "--model", builder, "--data", str(d / "other.npz"), "--ratio", "0.05"]),
              "fingerprint mismatch")  # fmt: skip


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda a: a.pop("y_test"), "no array 'y_test'"),
        (lambda a: a.update(y_train=a["y_train"][:-1]), "y_train n integer labels"),
        (lambda a: a.update(x_test=a["x_test"][:, :, :16]), "differ"),
        (lambda a: a.update(y_test=a["y_test"] - 3), "labels must be 0..C"),
    ],
)
def test_bad_data_files_are_one_line(own, tmp_path, edit, fragment, one_error):
    arrays = dict(np.load(own / "data.npz"))
    edit(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    code = main(["import", "--torch", str(own / "net.pt"), "--model", f"{own / 'net.py'}:build", "--normalization",
                 "none", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o.safetensors")])  # fmt: skip
    one_error(code, fragment)
    assert not (tmp_path / "o.safetensors").exists()
