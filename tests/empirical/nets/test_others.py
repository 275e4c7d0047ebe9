"""A ViT and an LSTM (``empirical.nets.others``) through every command, on tiny shapes (issue: Tables 6–7)."""

import pandas as pd
import pytest
import torch

from empirical.cli import main
from empirical.lock.extraction import extract
from empirical.lock.sweep import LockedSweep, rank_units
from empirical.measure import measure
from empirical.nets.checkpoint import load_checkpoint, model_sha256
from empirical.nets.models import make_model

TINY = {"vit": ("fashion-mnist", "1", "16", "0.003"), "lstm": ("mnist", "1", "16", "0.01")}  # ~65 % in 2 epochs


@pytest.mark.parametrize("arch", ["vit", "lstm"])
@pytest.mark.parametrize("indicator", ["l1", "l1-neuron", "bn-scale", "random"])
def test_units_lock_unlock_and_sweep(arch, indicator):
    m = make_model(arch, 2, 16, seed=0).eval()
    if arch == "lstm" and indicator == "bn-scale":
        with pytest.raises(ValueError, match="batch-norm"):
            extract(m, 0.1, indicator)
        return
    sweep = LockedSweep(m, rank_units(m, 0.2, indicator))
    for r in (0.05, 0.2):
        locked, key = extract(m, r, indicator)
        assert model_sha256(sweep.set_ratio(r)) == model_sha256(locked)
        assert model_sha256(key.restore(locked)) == model_sha256(m)
    names = {e.name for e in key.entries}
    assert not any("proj" in n or n.endswith("weight_ih_l0") for n in names)  # the first projection is excluded


def test_blocks_are_measured_without_a_chain_bound():
    m = make_model("vit", 2, 16, seed=0).eval()
    locked, _ = extract(m, 0.1)
    x, y = torch.randn(16, 784), torch.randint(0, 10, (16,))
    res = measure(m, locked, x, y)
    blocks = res.layers[res.layers["kind"] == "opaque"]
    assert len(blocks) >= 3 and (blocks["chain_bound"] != "yes").all() and blocks["e_within_B_frac"].isna().all()
    assert res.summary["sandwich_all_hold"]  # d <= G + e: the triangle inequality, exact
    assert blocks["n_extracted"].sum() > 0


@pytest.mark.parametrize("arch", ["vit", "lstm"])
def test_every_command_on_a_tiny_model(arch, tmp_path, mnist, fashion):
    dataset, h, w, lr = TINY[arch]
    run = tmp_path / "run"
    assert main(["train", "--arch", arch, "--dataset", dataset, "--hidden-layers", h, "--width", w, "--epochs", "2",
                 "--lr", lr, "--train-subset", "6000", "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    model, meta = load_checkpoint(run)
    assert meta["test_acc"] > 0.4  # learned something: the utility search below has room
    locked, key, restored = tmp_path / "l.safetensors", tmp_path / "k.safetensors", tmp_path / "r.safetensors"
    assert main(["lock", "--checkpoint", str(run), "--ratio", "0.05", "--out-model", str(locked), "--key",
                 str(key)]) == 0  # fmt: skip
    assert main(["unlock", "--checkpoint", str(locked), "--key", str(key), "--out", str(restored)]) == 0
    assert model_sha256(load_checkpoint(restored)[0]) == model_sha256(model)
    assert main(["check-bounds", str(run), "--ratio", "0.05", "--n-samples", "50", "--out", str(tmp_path / "cb")]) == 0
    assert (pd.read_csv(tmp_path / "cb" / "bounds_checks.csv")["kind"] == "opaque").any()
    assert main(["utility-curve", "--checkpoint", str(run), "--ratios", "0.01,0.1", "--random-seeds", "1",
                 "--out", str(tmp_path / "uc")]) == 0  # fmt: skip
    target = (meta["test_acc"] + 0.1) / 2  # halfway to chance
    assert main(["ratio-for-utility", "--checkpoint", str(run), "--target", f"{target:.3f}", "--json"]) == 0


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--arch", "vit", "--channels-last", "--out", "{t}/v"], "channels_last applies to conv nets only"),
        (["train", "--arch", "lstm", "--hidden-layers", "100", "--out", "{t}/v"], "too large"),
        (["train", "--arch", "vit", "--bn-init", "0"], "bn_init"),
        (
            [
                "lock",
                "--checkpoint",
                "{t}/vit.safetensors",
                "--ratio",
                "0.05",
                "--indicator",
                "l1-channel",
                "--out-model",
                "{t}/l",
                "--key",
                "{t}/k",
            ],
            "needs conv layers",
        ),  # fmt: skip
        (
            [
                "lock",
                "--checkpoint",
                "{t}/vit.safetensors",
                "--ratio",
                "0.05",
                "--indicator",
                "bn-folded",
                "--out-model",
                "{t}/l",
                "--key",
                "{t}/k",
            ],
            "needs batch-norm layers",
        ),  # fmt: skip
        (
            [
                "lock",
                "--checkpoint",
                "{t}/vit.safetensors",
                "--ratio",
                "1.5",
                "--indicator",
                "l1-neuron",
                "--out-model",
                "{t}/l",
                "--key",
                "{t}/k",
            ],
            "ratio",
        ),  # fmt: skip
        (["other-archs", "--out", "{t}/grid"], "holds a grid run, not an other-archs one"),
    ],
)
def test_bad_input_for_the_other_architectures(args, fragment, tmp_path, one_error):
    """One error line, exit 2, nothing written (an untrained ViT checkpoint: no data needed)."""
    from empirical.nets.checkpoint import save_checkpoint
    from empirical.nets.train import TrainSpec

    spec = TrainSpec(1, 16, 1, dataset="fashion-mnist", arch="vit")
    save_checkpoint(tmp_path / "vit.safetensors", make_model("vit", 1, 16, seed=0), spec.as_dict())
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "config.json").write_text('{"kind": "grid"}')
    before = sorted(tmp_path.rglob("*"))
    argv = [a.format(t=tmp_path) for a in args]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "v")] if "--out" not in argv else []
    one_error(main(argv), fragment)
    assert sorted(tmp_path.rglob("*")) == before
