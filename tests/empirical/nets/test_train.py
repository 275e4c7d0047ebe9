"""FCN model and training: shapes, seeded init, a real learning signal, exact resume."""

import json

import pandas as pd
import pytest
import torch

from empirical.errors import UserError
from empirical.experiments.grid.theory_table import n_parameters
from empirical.nets.checkpoint import load_checkpoint, model_sha256, read_checkpoint, save_checkpoint
from empirical.nets.models import make_fcn
from empirical.nets.train import RunOptions, TrainSpec, accuracy, train


def test_fcn_shapes_and_activations():
    net = make_fcn(4, 20, seed=1)
    assert sum(p.numel() for p in net.parameters()) == n_parameters(4, 20)
    x = torch.randn(5, 784)
    ys = net.activations(x)
    assert [y.shape[1] for y in ys] == [784, 20, 20, 20, 20, 10]
    assert torch.equal(ys[-1], net(x))
    assert all(bool((y >= 0).all()) for y in ys[1:-1])  # ReLU after layers 1..H
    assert model_sha256(make_fcn(4, 20, seed=1)) == model_sha256(net)
    assert model_sha256(make_fcn(4, 20, seed=2)) != model_sha256(net)


def test_training_learns_and_records_everything(tiny_run, test_tensors):
    out, model, spec = tiny_run
    log = pd.read_csv(out / "train_log.csv")
    assert list(log.epoch) == [1, 2]
    assert log.loss.iloc[1] < log.loss.iloc[0]
    (acc,) = accuracy(model, *test_tensors)
    assert acc > 0.85  # chance is 0.1
    assert acc == pytest.approx(log.test_acc.iloc[-1], abs=0.03)  # same model, a test subset
    for field in ("hidden_layers", "width", "lr", "batch_size", "seed", "normalization", "data_fingerprint"):
        assert field in spec
    assert json.loads((out / "spec.json").read_text())["width"] == 32
    assert not (out / "train_state.safetensors").exists()


def test_interrupted_training_resumes_bit_for_bit(tmp_path, mnist):
    spec = TrainSpec(hidden_layers=2, width=16, epochs=3, train_subset=3000, seed=3)
    a = train(spec, tmp_path / "a", RunOptions(progress=False))
    assert (
        train(spec, tmp_path / "b", RunOptions(progress=False, stop_after_epochs=1)).name == "train_state.safetensors"
    )
    assert not (tmp_path / "b" / "model.safetensors").exists()
    assert len(pd.read_csv(tmp_path / "b" / "train_log.csv")) == 1
    b = train(spec, tmp_path / "b", RunOptions(progress=False))
    ta, tb = read_checkpoint(a)[0], read_checkpoint(b)[0]
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    la, lb = pd.read_csv(tmp_path / "a" / "train_log.csv"), pd.read_csv(tmp_path / "b" / "train_log.csv")
    pd.testing.assert_frame_equal(la.drop(columns="seconds"), lb.drop(columns="seconds"))
    # a finished cell is not trained again
    assert train(spec, tmp_path / "b", RunOptions(progress=False)) == b


def test_other_spec_in_same_directory_is_refused(tmp_path, mnist):
    train(TrainSpec(2, 8, 1, train_subset=500), tmp_path, RunOptions(progress=False))
    with pytest.raises(UserError, match="another spec"):
        train(TrainSpec(2, 9, 1, train_subset=500), tmp_path, RunOptions(progress=False))


@pytest.mark.parametrize(
    "kw,match", [({"width": 0}, "width"), ({"lr": -1.0}, "lr"), ({"normalization": "x"}, "normal")]
)
def test_bad_spec(kw, match):
    args = dict(hidden_layers=2, width=8, epochs=1) | kw
    with pytest.raises(UserError, match=match):
        TrainSpec(**args)


def test_checkpoint_refusals(tmp_path):
    net = make_fcn(2, 8, seed=0)
    good = save_checkpoint(tmp_path / "m.safetensors", net, {"hidden_layers": 2, "width": 8})
    model, meta = load_checkpoint(good)
    assert model_sha256(model) == model_sha256(net)
    with pytest.raises(UserError, match=r"does not match its spec \(fcn 3×8"):  # refused when written
        save_checkpoint(tmp_path / "w.safetensors", net, {"hidden_layers": 3, "width": 8})
    assert not (tmp_path / "w.safetensors").exists()
    with pytest.raises(UserError, match="unknown architecture 'mlp'"):
        save_checkpoint(tmp_path / "w.safetensors", net, {"arch": "mlp", "hidden_layers": 2, "width": 8})
    # a file written by other means with a spec that does not fit its tensors is still refused on load
    from safetensors.torch import save_file

    from empirical.nets.checkpoint import FORMAT, meta_sha256, params_sha256

    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    meta = {
        "format": FORMAT,
        "spec": json.dumps({"hidden_layers": 3, "width": 8}),
        "params_sha256": params_sha256(tensors),
    }
    meta["meta_sha256"] = meta_sha256(meta)
    save_file(tensors, str(tmp_path / "w.safetensors"), metadata=meta)
    with pytest.raises(UserError, match="do not match a 3×8 FCN"):
        load_checkpoint(tmp_path / "w.safetensors")
    raw = bytearray(good.read_bytes())
    raw[-5] ^= 0xFF  # flip bits inside the last tensor
    (tmp_path / "c.safetensors").write_bytes(bytes(raw))
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(tmp_path / "c.safetensors")
    (tmp_path / "t.safetensors").write_text("not a checkpoint")
    with pytest.raises(UserError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "t.safetensors")
    (tmp_path / "h.safetensors").write_bytes(good.read_bytes()[:200])
    with pytest.raises(UserError, match="not a readable"):
        load_checkpoint(tmp_path / "h.safetensors")
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_bf16_precision_is_part_of_the_spec(tmp_path, mnist):
    fp32 = TrainSpec(2, 16, 1, train_subset=1000)
    bf16 = TrainSpec(2, 16, 1, train_subset=1000, precision="bf16")
    assert fp32.key() != bf16.key()
    a = read_checkpoint(train(fp32, tmp_path / "a", RunOptions(progress=False)))[0]
    b = read_checkpoint(train(bf16, tmp_path / "b", RunOptions(progress=False)))[0]
    assert not torch.equal(a["layers.0.weight"], b["layers.0.weight"])  # bf16 changes the result
    with pytest.raises(UserError, match="precision"):
        TrainSpec(2, 16, 1, precision="fp8")
