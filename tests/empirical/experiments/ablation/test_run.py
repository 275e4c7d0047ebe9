"""The bn-scale ablation (``empirical.experiments.ablation``) end to end on tiny nets, and its extraction variants."""

import importlib
import json

import pandas as pd
import pytest
import torch

from empirical.cli import main
from empirical.lock.extraction import extract
from empirical.lock.sweep import LockedSweep, rank_units
from empirical.nets.checkpoint import model_sha256
from empirical.nets.convnets import make_conv

ablation = importlib.import_module("empirical.experiments.ablation.run")


def _net(arch):
    m = make_conv(arch, 1, 4, seed=0).eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_var.uniform_(0.3, 3.0)
                mod.weight.uniform_(0.5, 1.5)
    return m


@pytest.mark.parametrize("arch", ["vgg", "preresnet"])
@pytest.mark.parametrize("indicator", ["bn-folded", "l1-channel"])
def test_new_indicators_lock_unlock_and_sweep(arch, indicator):
    m = _net(arch)
    sweep = LockedSweep(m, rank_units(m, 0.3, indicator))
    for r in (0.1, 0.3):
        locked, key = extract(m, r, indicator)
        assert model_sha256(sweep.set_ratio(r)) == model_sha256(locked)
        assert model_sha256(key.restore(locked)) == model_sha256(m)


def test_bn_folded_ranks_by_the_folded_scale():
    m = _net("vgg")
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    folded = torch.cat([(b.weight.abs() / torch.sqrt(b.running_var + b.eps)).detach() for b in bns])
    _, key = extract(m, 0.1, "bn-folded")
    k = key.meta["k_total"]
    chosen = torch.cat([e.values.reshape(-1) for e in key.entries if e.name.endswith("weight")]).abs()
    offset, picked = 0, []
    for b, e in zip(bns, [e for e in key.entries if e.name.endswith("weight")]):
        picked += [offset + int(p) for p in e.positions]
        offset += b.num_features
    assert sorted(picked) == sorted(torch.topk(folded, k).indices.tolist()) and len(chosen) == k


def test_l1_channel_silences_the_feature_map():
    """VGG: the whole output channel is zeroed with its BN's γ and β, so the channel's output is exactly 0."""
    m = _net("vgg")
    locked, key = extract(m, 0.2, "l1-channel")
    names = {e.name for e in key.entries}
    assert any(n.endswith(".bias") for n in names)  # β of the following BN is in the key
    conv_entry = next(e for e in key.entries if e.unit_size > 1)
    bn_index = int(conv_entry.name.split(".")[0]) + 1
    acts = {}
    locked[bn_index].register_forward_hook(lambda mod, i, o: acts.setdefault("out", o))
    locked(torch.randn(4, 784))
    assert torch.all(acts["out"][:, conv_entry.positions] == 0)


def test_ablation_runs_resumes_and_reports(tmp_path, fashion, one_error):
    args = ["ablation", "--out", str(tmp_path), "--archs", "vgg,preresnet", "--recipes", "adam,all", "--epochs-adam",
            "1", "--epochs-sgd", "1", "--train-subset", "1000", "--size", "vgg=1,4", "--size", "preresnet=1,4",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    locked = pd.read_csv(tmp_path / "locked.csv")
    assert set(locked["variant"]) == {"original", *ablation.VARIANTS}
    assert len(locked) == 4 * (1 + len(ablation.VARIANTS))
    hist = locked["class_histogram"].map(json.loads)
    assert (hist.map(sum) == 10_000).all()  # every test image predicted once
    assert (tmp_path / "report.md").exists() and (tmp_path / "figures" / "gamma_by_layer.png").exists()
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/locked.csv")}
    assert main(args) == 0  # resumes: nothing is redone
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/locked.csv")} == stamps
    one_error(main([*args[:-1], "--epochs-adam", "2", "--no-progress"]), "another configuration")
    (tmp_path / "report.md").unlink()
    assert main(["report", str(tmp_path)]) == 0 and "bn-scale" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--archs", "lenet"], "unknown architecture"),
        (["--recipes", "rmsprop"], "recipe"),
        (["--epochs-sgd", "0"], "epochs"),
        (["--train-subset", "0"], "train_subset"),
        (["--ratio", "1.5"], "ratio"),
        (["--size", "vgg=0,4"], "size of vgg"),
        (["--only", "vgg_foo"], "not in this configuration"),
    ],
)
def test_bad_ablation_options(tmp_path, extra, fragment, one_error):
    out = tmp_path / "abl"
    one_error(main(["ablation", "--out", str(out), "--no-progress", *extra]), fragment)
    assert not (out / "config.json").exists()


def test_a_recipe_trained_net_locks_and_unlocks_through_the_cli(tmp_path, fashion):
    """train with Network Slimming's recipe from the CLI: the recipe is in the spec, and the checkpoint locks
    (bn-scale) and unlocks bit for bit."""
    from empirical.nets.checkpoint import load_checkpoint

    run = tmp_path / "run"
    argv = ["train", "--arch", "preresnet", "--hidden-layers", "1", "--width", "4", "--epochs", "2",
            "--dataset", "fashion-mnist", "--train-subset", "512", "--optimizer", "sgd", "--lr", "0.1",
            "--weight-decay", "1e-4", "--schedule", "step", "--bn-init", "0.5", "--bn-sparsity", "1e-4",
            "--no-progress", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    model, meta = load_checkpoint(run)
    spec = meta["spec"]
    assert (spec["optimizer"], spec["schedule"], spec["bn_init"], spec["bn_sparsity"]) == ("sgd", "step", 0.5, 1e-4)
    assert "momentum" not in spec  # at its default: left out, so earlier keys stay valid
    locked, key = tmp_path / "locked.safetensors", tmp_path / "key.safetensors"
    assert main(["lock", "--checkpoint", str(run), "--ratio", "0.05", "--indicator", "bn-scale", "--no-eval",
                 "--out-model", str(locked), "--key", str(key)]) == 0  # fmt: skip
    restored = tmp_path / "restored.safetensors"
    assert main(["unlock", "--checkpoint", str(locked), "--key", str(key), "--out", str(restored)]) == 0
    back, _ = load_checkpoint(restored)
    assert model_sha256(back) == model_sha256(model)
    gone, _ = load_checkpoint(locked)
    assert model_sha256(gone) != model_sha256(model)


def test_every_locked_row_carries_the_cells_training_seed():
    """The random variants' own ranking seeds (0, 1) must not leak into the seed column of later rows."""
    import torch

    ablation = importlib.import_module("empirical.experiments.ablation.run")
    from empirical.nets.models import make_model

    model = make_model("vgg", 1, 4).eval()
    x, y = torch.randn(8, 784), torch.randint(0, 10, (8,))
    rows = ablation.locked_rows(model, x, y, ablation.AblationConfig(), "vgg", "all", seed=2)
    assert set(rows["seed"]) == {2} and len(rows) == 1 + len(ablation.VARIANTS)


def test_sparsity_dose_by_hand():
    """`all`: s = 1e-4, 6 epochs of ⌈30000/128⌉ = 235 steps, lr 0.1 (epochs 1-3), 0.01 (4-5), 0.001 (6), momentum
    0.9: 1e-4 · 235 · (0.3 + 0.02 + 0.001) / 0.1 = 0.075435. Adam has no such dose (NaN)."""
    import math

    ablation = importlib.import_module("empirical.experiments.ablation.run")

    config = ablation.AblationConfig()
    assert math.isclose(ablation.sparsity_dose(config.spec("vgg", "all")), 0.075435, rel_tol=1e-12)
    assert math.isnan(ablation.sparsity_dose(config.spec("vgg", "sparsity")))


def test_the_sparsity_dose_verdict_counts_seeds_per_architecture():
    """One row per architecture, not per seed: resnet locks in every seed, vgg in none, preresnet in one of two
    (so the verdict is INCONCLUSIVE, 1–2 of 3); the numbers give each seed's accuracy."""
    from empirical.experiments.ablation.report import dose_row

    rows = [("resnet", 0, 0.10), ("resnet", 1, 0.132), ("resnet", 2, 0.14), ("preresnet", 0, 0.10),
            ("preresnet", 1, 0.40), ("vgg", 0, 0.749), ("vgg", 1, 0.541)]  # fmt: skip
    dose = pd.DataFrame([dict(arch=a, seed=s, accuracy=acc) for a, s, acc in rows])
    r = dose_row(dose)
    assert r["verdict"] == "INCONCLUSIVE (1–2 of 3 architectures)"
    assert r["numbers"] == (
        "resnet 3 of 3 seed(s) (10.0, 13.2, 14.0 %); preresnet 1 of 2 seed(s) (10.0, 40.0 %); "
        "vgg 0 of 2 seed(s) (74.9, 54.1 %)"
    )
    assert "resnet, preresnet, vgg, 2–3 seeds per architecture" in r["scope"]
    decided = dose_row(dose[dose.arch != "preresnet"])
    assert decided["verdict"].startswith("PARTIAL (1 of 2")
