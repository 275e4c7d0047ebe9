"""A new user's own CNN, trained in plain PyTorch, through every job from README commands alone:
import --model, ratio-for-utility, lock (own parameter names), unlock bit for bit, check-bounds,
utility-curve and export back to a plain state dict."""

import textwrap

import pytest
import torch
import torch.nn as nn
from safetensors import safe_open

from empirical.cli import main
from empirical.lock.keys import AccessKey
from empirical.nets.data import normalize

BUILDER = textwrap.dedent(
    """
    import torch.nn as nn

    def build():
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
        )
    """
)


@pytest.fixture(scope="module")
def user_cnn(tmp_path_factory, mnist):
    """The user's files: mycnn.py and a state dict trained for one epoch on 10,000 images (unit scaling)."""
    d = tmp_path_factory.mktemp("user")
    (d / "mycnn.py").write_text(BUILDER)
    ns = {}
    exec(BUILDER, ns)
    torch.manual_seed(0)
    model = ns["build"]()
    x, y = normalize(mnist[0][:10_000], "unit"), torch.from_numpy(mnist[1][:10_000])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(2):
        for i in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.save(model.eval().state_dict(), d / "cnn.pt")
    return d, model


def test_a_users_cnn_through_every_job(user_cnn, capsys, one_error):
    d, model = user_cnn
    builder = f"{d / 'mycnn.py'}:build"
    ckpt, locked, key, restored = (
        d / n for n in ("cnn.safetensors", "l.safetensors", "k.safetensors", "r.safetensors")
    )
    assert main(["import", "--torch", str(d / "cnn.pt"), "--model", builder, "--normalization", "unit",
                 "--out", str(ckpt)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    acc = float(out.split("test accuracy with --normalization unit: ")[1].split()[0])
    assert acc > 0.5
    # every later command needs the builder
    one_error(main(["lock", "--checkpoint", str(ckpt), "--ratio", "0.05", "--out-model", str(locked),
                    "--key", str(key)]), "pass --model")  # fmt: skip
    target = f"{(acc + 0.1) / 2:.3f}"  # halfway to chance
    assert main(["ratio-for-utility", "--checkpoint", str(ckpt), "--model", builder, "--target", target]) == 0
    k = int(capsys.readouterr().out.split("extract k = ")[1].split()[0])
    assert main(["lock", "--checkpoint", str(ckpt), "--model", builder, "--k", str(k), "--out-model", str(locked),
                 "--key", str(key)]) == 0  # fmt: skip
    assert "test accuracy" in capsys.readouterr().out
    with safe_open(str(locked), framework="pt") as fh:  # the owner's folders stay theirs (issue 27 item 6)
        assert str(d) not in str(fh.metadata())
    names = {e.name for e in AccessKey.load(key).entries}
    assert names and names <= {n for n, _ in model.named_parameters()}  # the user's own parameter names
    with safe_open(str(locked), framework="pt") as fh:
        assert set(fh.keys()) == set(model.state_dict())
    assert main(["unlock", "--checkpoint", str(locked), "--key", str(key), "--model", builder,
                 "--out", str(restored)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["check-bounds", str(ckpt), "--model", builder, "--ratio", "0.05", "--n-samples", "100",
                 "--out", str(d / "cb")]) == 0  # fmt: skip
    printed = [ln for ln in capsys.readouterr().out.splitlines() if str(d) not in ln]  # (lines naming paths vary)
    assert max(len(line) for line in printed) <= 120, max(printed, key=len)  # issue 27 item 8
    import pandas as pd

    layers = pd.read_csv(d / "cb" / "bounds_checks.csv")
    # the user's own module names: conv + its BN, then the classifier (positions in their nn.Sequential)
    assert list(layers["module"]) == ["1 + 2", "5 + 6", "9 + 10", "14"]
    assert main(["utility-curve", "--checkpoint", str(ckpt), "--model", builder, "--ratios", "0.01,0.1",
                 "--random-seeds", "1", "--out", str(d / "uc"), "--format", "svg"]) == 0  # fmt: skip
    assert (d / "uc" / "utility_curve.svg").exists()
    assert main(["export", "--checkpoint", str(restored), "--model", builder, "--torch", str(d / "back.pt")]) == 0
    back = torch.load(d / "back.pt", weights_only=True)
    assert back.keys() == model.state_dict().keys()
    assert all(torch.equal(back[n], t) for n, t in model.state_dict().items())  # bit for bit, own names
    # the attacks on the user's own locked CNN (issue 27 item 3): both recipes, the key-position attack
    assert main(["attacks", "--checkpoint", str(locked), "--key", str(key), "--model", builder, "--fractions",
                 "0.01", "--epochs", "1", "--no-baseline", "--out", str(d / "att")]) == 0  # fmt: skip
    import pandas as pd

    rows = pd.read_csv(d / "att" / "attacks.csv")
    ft = rows[rows["attack"].isin(["FTLL", "FTAL", "RTLL", "RTAL"])]
    assert sorted(ft["recipe"].unique()) == ["adam", "sgd"] and len(ft) == 8
    kp = rows[rows["attack"] == "key positions"].iloc[0]
    assert kp["recall"] == 1.0 and kp["precision"] == 1.0  # the zero fill marks every key position
    det = pd.read_csv(d / "att" / "detectors.csv").set_index("detector")
    assert det.loc["exact zeros", "recall"] == 1.0 and len(det) == 5
    ref = dict(zip(rows["attack"], rows["accuracy"]))
    assert ref["original (unlocked with the key)"] == pytest.approx(acc, abs=1e-9)
    assert rows["accuracy"].between(0, 1).all()


def test_a_changed_builder_or_wrong_state_dict_is_refused(user_cnn, tmp_path, one_error):
    d, _ = user_cnn
    ckpt = tmp_path / "c.safetensors"
    assert main(["import", "--torch", str(d / "cnn.pt"), "--model", f"{d / 'mycnn.py'}:build",
                 "--normalization", "unit", "--out", str(ckpt)]) == 0  # fmt: skip
    commented = tmp_path / "commented.py"  # a comment and blank lines: the same code, accepted
    commented.write_text("# my CNN, with a note\n\n" + BUILDER.replace("def build():", "def build():  # the net\n"))
    assert main(["lock", "--checkpoint", str(ckpt), "--model", f"{commented}:build", "--ratio", "0.05", "--no-eval",
                 "--out-model", str(tmp_path / "l0"), "--key", str(tmp_path / "k0")]) == 0  # fmt: skip
    other = tmp_path / "other.py"  # the same shapes, another activation: other code, refused
    other.write_text("nn.Tanh()".join(BUILDER.rsplit("nn.ReLU()", 1)))
    assert other.read_text() != BUILDER
    code = main(["lock", "--checkpoint", str(ckpt), "--model", f"{other}:build", "--ratio", "0.05",
                 "--out-model", str(tmp_path / "l"), "--key", str(tmp_path / "k")])  # fmt: skip
    one_error(code, "code differs from the builder")
    tanh = tmp_path / "two.py"  # a second function in the same file, same shapes: another network, refused
    tanh.write_text(BUILDER + "\n\ndef build_tanh():\n    return build()\n")
    code = main(["lock", "--checkpoint", str(ckpt), "--model", f"{tanh}:build_tanh", "--ratio", "0.05",
                 "--out-model", str(tmp_path / "l"), "--key", str(tmp_path / "k")])  # fmt: skip
    one_error(code, "imported with the function 'build', not 'build_tanh'")
    one_error(main(["import", "--torch", str(d / "cnn.pt"), "--model", f"{other}:nothing", "--normalization",
                    "unit", "--out", str(tmp_path / "x.safetensors")]), "defines no function")  # fmt: skip
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import torch.nn as nn\n\n\ndef build():\n    return nn.Sequential(nn.Linear(784, 10))\n")
    one_error(main(["import", "--torch", str(d / "cnn.pt"), "--model", f"{wrong}:build", "--normalization", "unit",
                    "--out", str(tmp_path / "y.safetensors")]), "does not fit the model")  # fmt: skip


def test_mlp_export_gives_the_original_names_back(tmp_path, mnist):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
    torch.save(net.state_dict(), tmp_path / "mlp.pt")
    assert main(["import", "--torch", str(tmp_path / "mlp.pt"), "--normalization", "unit", "--out",
                 str(tmp_path / "m.safetensors")]) == 0  # fmt: skip
    assert main(["export", "--checkpoint", str(tmp_path / "m.safetensors"), "--torch", str(tmp_path / "b.pt")]) == 0
    back = torch.load(tmp_path / "b.pt", weights_only=True)
    assert back.keys() == net.state_dict().keys() and all(torch.equal(back[k], v) for k, v in net.state_dict().items())


def test_lock_prints_each_layers_share_and_warns_past_half(user_cnn, tmp_path, capsys):
    """Every lock prints each layer's share of the extraction; a layer losing more than half its units warns."""
    d, _ = user_cnn
    builder = f"{d / 'mycnn.py'}:build"
    ckpt = tmp_path / "c.safetensors"
    assert main(["import", "--torch", str(d / "cnn.pt"), "--model", builder, "--normalization", "unit",
                 "--out", str(ckpt)]) == 0  # fmt: skip
    capsys.readouterr()
    for ratio, warns in (("0.05", False), ("0.7", True)):
        out_dir = tmp_path / ratio
        assert (
            main(
                [
                    "lock",
                    "--checkpoint",
                    str(ckpt),
                    "--model",
                    builder,
                    "--ratio",
                    ratio,
                    "--no-eval",
                    "--out-model",
                    str(out_dir / "l.safetensors"),
                    "--key",
                    str(out_dir / "k.safetensors"),
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert "locked " in out and " of " in out and "%)" in out  # per layer: count of units (share)
        assert ("warning:" in out and "loses" in out) == warns, out
