"""Conv nets end to end on real Fashion-MNIST: sizes, resumable training, lock/unlock, check-bounds, Table 1."""

import json

import pandas as pd
import pytest
import torch
import torch.nn as nn

from empirical.cli import main
from empirical.errors import UserError
from empirical.nets.checkpoint import load_checkpoint, read_checkpoint, write_checkpoint_file
from empirical.nets.convnets import count_macs, depth, make_conv
from empirical.nets.train import RunOptions, TrainSpec, train

TINY = {"vgg": (1, 4), "resnet": (1, 4), "densenet": (1, 4)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fashion):
    """Each architecture at a tiny size, 1 epoch on 1,024 Fashion-MNIST images (channels-last)."""
    out = {}
    for arch, (h, w) in TINY.items():
        d = tmp_path_factory.mktemp(arch)
        spec = TrainSpec(h, w, 1, dataset="fashion-mnist", train_subset=1024, arch=arch, channels_last=True)
        out[arch] = train(spec, d, RunOptions(progress=False))
    return out


def test_reference_sizes():
    # ResNet-20 on CIFAR has 269,722 parameters (He et al.'s shape, option A); one input channel saves 16·2·9
    assert sum(p.numel() for p in make_conv("resnet", 3, 16).parameters()) == 269_722 - 16 * 2 * 9
    assert depth("resnet", 3) == 20 and depth("densenet", 12) == 40
    dn40 = sum(p.numel() for p in make_conv("densenet", 12, 12).parameters())
    assert 1.0e6 < dn40 < 1.1e6  # DenseNet-40 (k = 12) is quoted at 1.0 M
    # MACs by hand: conv 1→2 (3×3, same) on 28×28, then the classifier 2→10 after GAP
    tiny = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(2, 10))  # fmt: skip
    assert count_macs(tiny) == 28 * 28 * 2 * 9 + 2 * 10


def test_forward_shapes_and_seeded_init():
    x = torch.randn(3, 784)
    for arch, (h, w) in TINY.items():
        a, b = make_conv(arch, h, w, seed=5), make_conv(arch, h, w, seed=5)
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
        assert a(x).shape == (3, 10)
    with pytest.raises(ValueError, match="unknown conv architecture"):
        make_conv("alexnet", 1, 4)


def test_training_learns_and_resumes_bit_for_bit(tmp_path, fashion):
    spec = TrainSpec(1, 4, 2, dataset="fashion-mnist", train_subset=2048, arch="resnet", seed=1)
    a = train(spec, tmp_path / "a", RunOptions(progress=False))
    train(spec, tmp_path / "b", RunOptions(progress=False, stop_after_epochs=1))
    b = train(spec, tmp_path / "b", RunOptions(progress=False))
    ta, tb = read_checkpoint(a)[0], read_checkpoint(b)[0]
    assert any(k.endswith("running_var") for k in ta)  # BN statistics are part of the checkpoint
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    log = pd.read_csv(tmp_path / "a" / "train_log.csv")
    assert log.loss.iloc[1] < log.loss.iloc[0] and log.test_acc.iloc[-1] > 0.15  # learning (chance: 0.10)
    meta = read_checkpoint(a)[1]
    assert meta["format"] == "corelocker-bounds/net-v1" and meta["spec"]["arch"] == "resnet"


def test_fcn_spec_keys_unchanged_by_the_conv_fields():
    """FCN cells named before conv nets existed keep their key (the grid resumes from committed tables)."""
    spec = TrainSpec(3, 32, 2)
    assert "arch" not in spec.as_dict() and "channels_last" not in spec.as_dict()
    assert TrainSpec(2, 8, 1, arch="vgg").as_dict()["arch"] == "vgg"
    with pytest.raises(UserError, match="architecture"):
        TrainSpec(2, 8, 1, arch="alexnet")


@pytest.mark.parametrize("arch", list(TINY))
@pytest.mark.parametrize("indicator", ["l1", "bn-scale"])
def test_lock_unlock_bit_exact(trained, tmp_path, arch, indicator):
    src = trained[arch]
    locked, key, restored = tmp_path / "locked.safetensors", tmp_path / "key.safetensors", tmp_path / "r.safetensors"
    assert main(["lock", "--checkpoint", str(src), "--ratio", "0.2", "--indicator", indicator,
                 "--out-model", str(locked), "--key", str(key)]) == 0  # fmt: skip
    assert main(["unlock", "--checkpoint", str(locked), "--key", str(key), "--out", str(restored)]) == 0
    a, b, lk = read_checkpoint(src)[0], read_checkpoint(restored)[0], read_checkpoint(locked)[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], lk[k]) for k in a)
    model, _ = load_checkpoint(locked)
    assert not model.training  # loaded in eval mode: BN uses its running statistics


def test_check_bounds_cli_on_a_cnn(trained, tmp_path, capsys):
    out = tmp_path / "cb"
    rc = main(["check-bounds", str(trained["vgg"]), "--ratio", "0.1", "--n-samples", "64", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "holds on every sample and layer: True" in text
    layers = pd.read_csv(out / "bounds_checks.csv")
    assert (layers.sandwich_holds_frac == 1.0).all()
    assert {"mu_zero_padded", "mu_circular", "mu_property4", "theorem4_probability", "n_in"} <= set(layers.columns)
    conv = layers[layers.kind == "conv"]
    assert list(conv.n_in) == [28, 14, 7]  # each layer's own feature-map size
    samples = pd.read_csv(out / "samples.csv")
    assert len(samples) == 64 * len(layers)


def test_checkpoint_of_another_architecture_is_refused(trained, tmp_path):
    tensors, meta = read_checkpoint(trained["vgg"])
    model, _ = load_checkpoint(trained["vgg"])
    bad = tmp_path / "bad.safetensors"
    with pytest.raises(UserError, match="does not match its spec"):  # refused when written
        write_checkpoint_file(bad, model, {**meta["spec"], "arch": "resnet"})
    with pytest.raises(UserError, match="unknown architecture"):
        write_checkpoint_file(bad, model, {**meta["spec"], "arch": "lenet"})
    from safetensors.torch import save_file

    from empirical.nets.checkpoint import NET_FORMAT, meta_sha256, params_sha256

    for spec, match in (
        ({**meta["spec"], "arch": "resnet"}, "do not match"),
        ({**meta["spec"], "arch": "lenet"}, "unknown architecture"),
    ):
        raw = {"format": NET_FORMAT, "spec": json.dumps(spec), "params_sha256": params_sha256(tensors)}
        raw["meta_sha256"] = meta_sha256(raw)
        save_file(tensors, str(bad), metadata=raw)  # written by other means: still refused on load
        with pytest.raises(UserError, match=match):
            load_checkpoint(bad)


def test_table1_end_to_end_and_resume(tmp_path, fashion, capsys):
    args = ["table1", "--out", str(tmp_path), "--epochs", "1", "--train-subset", "512", "--random-seeds", "2",
            "--curve-random-seeds", "1", "--check-samples", "16", "--ratios", "0.01,0.1", "--ratio", "0.1",
            "--no-progress", "--archs", "vgg,densenet"]  # fmt: skip
    for arch in ("vgg", "densenet"):  # a --size for an architecture not run is refused
        args += ["--size", "{}={},{}".format(arch, *TINY[arch])]
    assert main(args) == 0
    t = pd.read_csv(tmp_path / "table1.csv")
    assert list(t.arch) == ["vgg", "densenet"] and (t.random_seeds == 2).all()
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves.indicator) == {"l1", "bn-scale", "random"}
    assert (tmp_path / "figures" / "table1_curves.png").stat().st_size > 0
    assert "Table 1" in (tmp_path / "report.md").read_text()
    stamp = (tmp_path / "cells" / "vgg" / "done.json").read_text()
    assert main(args) == 0  # resumes: nothing is redone
    assert (tmp_path / "cells" / "vgg" / "done.json").read_text() == stamp
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "table1.csv"), t)
    checks = pd.read_csv(tmp_path / "bounds_checks.csv")
    (tmp_path / "bounds_checks.csv").unlink()
    assert main(["table1", "--out", str(tmp_path), "--recheck"]) == 0  # same measurement, recomputed
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "bounds_checks.csv"), checks)
    changed = [a if a != "2" else "3" for a in args]  # --random-seeds 3
    assert main(changed) == 2
    assert "another configuration" in capsys.readouterr().err
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["random_seeds"] == 2


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["table1", "--archs", "alexnet"], "unknown architecture"),
        (["table1", "--archs", ","], "unknown architecture"),
        (["table1", "--ratio", "1.5"], "ratio"),
        (["table1", "--ratios", "0.001,0"], "ratio"),
        (["table1", "--epochs", "0"], "epochs"),
        (["table1", "--random-seeds", "0"], "random_seeds"),
        (["table1", "--size", "resnet=3"], "ARCH=H,W"),
        (["table1", "--size", "lenet=1,2"], "unknown architecture"),
        (["train", "--arch", "alexnet"], "unknown --arch"),
        (["train", "--arch", "fcn", "--width", "8"], "--hidden-layers and --width"),
        (["train", "--arch", "resnet", "--width", "5000"], "too large"),
        (["train", "--hidden-layers", "2", "--width", "8", "--channels-last"], "conv nets only"),
    ],
)
def test_bad_conv_input_is_one_error_line(tmp_path, capsys, args, fragment, one_error):
    out = tmp_path / "out"
    one_error(main([*args, "--out", str(out), "--no-progress"]), fragment)
    assert not out.exists() or not any(out.iterdir())  # nothing written
