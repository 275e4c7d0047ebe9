"""`import --torch`: a Sequential MLP trained outside the toolkit becomes a checkpoint every command reads."""

import pickle

import pytest
import torch
import torch.nn as nn

from empirical.cli import main
from empirical.nets.checkpoint import load_checkpoint


def _mlp(widths=(32, 32)):
    torch.manual_seed(0)
    dims = [784, *widths, 10]
    mods = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def test_import_then_check_bounds(tmp_path, capsys, mnist):
    net = _mlp()
    src, out = tmp_path / "net.pt", tmp_path / "net.safetensors"
    torch.save(net.state_dict(), src)
    assert main(["import", "--torch", str(src), "--normalization", "unit", "--out", str(out)]) == 0
    model, meta = load_checkpoint(out)
    assert meta["spec"]["normalization"] == "unit" and (meta["spec"]["hidden_layers"], meta["spec"]["width"]) == (2, 32)
    x = torch.rand(5, 784)
    assert torch.equal(model(x), net(x))
    assert main(["check-bounds", str(out), "--ratio", "0.05", "--n-samples", "200"]) == 0
    assert "sandwich" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: torch.save(_mlp((32, 16)).state_dict(), p), "one hidden width"),
        (lambda p: torch.save({"0.weight": torch.zeros(3, 3, 3)}, p), "not a Linear"),
        (lambda p: torch.save({"conv.weight": torch.zeros(3)}, p), "Sequential"),
        (lambda p: p.write_bytes(pickle.dumps(print)), "not a readable"),
        (lambda p: torch.save(_mlp(), p), "pickled model"),  # a full model, not its state dict
        (lambda p: p.write_text("garbage"), "not a readable"),
        (lambda p: torch.save({}, p), "empty"),
        (lambda p: torch.save({"0.weight": torch.zeros(32, 784), "0.bias": torch.zeros(())}, p), "bias of shape ()"),
        (lambda p: torch.save({**_mlp().state_dict(), "1.weight": torch.full((32, 784), float("nan"))}, p), "NaN"),
    ],
)
def test_bad_imports_are_one_error_line(tmp_path, capsys, make, fragment, one_error):
    src, out = tmp_path / "bad.pt", tmp_path / "out.safetensors"
    make(src)
    one_error(main(["import", "--torch", str(src), "--normalization", "unit", "--out", str(out)]), fragment)
    assert not out.exists()


def test_import_refuses_to_overwrite_its_input(tmp_path, capsys):
    src = tmp_path / "net.pt"
    torch.save(_mlp().state_dict(), src)
    assert main(["import", "--torch", str(src), "--normalization", "unit", "--out", str(src)]) == 2
    assert "same file" in capsys.readouterr().err


def test_a_torch_file_given_as_checkpoint_points_to_import(tmp_path, one_error):
    torch.save(_mlp().state_dict(), tmp_path / "net.pt")
    code = main(["lock", "--checkpoint", str(tmp_path / "net.pt"), "--ratio", "0.1", "--out-model",
                 str(tmp_path / "l"), "--key", str(tmp_path / "k")])  # fmt: skip
    one_error(code, "corelocker-bounds import --torch")
