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
        # audit 3: two Sequentials (one was dropped silently), sparse and meta tensors (tracebacks)
        (
            lambda p: torch.save(
                {
                    **{f"a.{k}": v for k, v in _mlp().state_dict().items()},
                    **{f"other.{k}": v for k, v in _mlp().state_dict().items()},
                },
                p,
            ),
            "two modules",
        ),  # fmt: skip
        (lambda p: torch.save({**_mlp().state_dict(), "1.weight": torch.zeros(32, 784).to_sparse()}, p), "sparse"),
        (lambda p: torch.save({**_mlp().state_dict(), "1.weight": torch.zeros(32, 784, device="meta")}, p), "meta"),
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


TIED = """import torch.nn as nn
def build():
    a, b = nn.Linear(784, 784), nn.Linear(784, 10)
    m = nn.Sequential(nn.Flatten(), a, nn.ReLU(), nn.Linear(784, 784), nn.ReLU(), b)
    m[3].weight = a.weight  # tied
    return m
"""


def test_tied_parameters_are_refused_in_one_line(tmp_path, one_error):
    (tmp_path / "tied.py").write_text(TIED)
    import importlib.util

    spec = importlib.util.spec_from_file_location("tied", tmp_path / "tied.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.save(mod.build().state_dict(), tmp_path / "sd.pt")
    code = main(["import", "--torch", str(tmp_path / "sd.pt"), "--normalization", "unit", "--model",
                 f"{tmp_path / 'tied.py'}:build", "--out", str(tmp_path / "o.safetensors")])  # fmt: skip
    one_error(code, "tied parameters")
    assert not (tmp_path / "o.safetensors").exists()


@pytest.fixture
def imported(tmp_path, mnist):
    src, out = tmp_path / "net.pt", tmp_path / "run" / "model.safetensors"
    out.parent.mkdir()
    torch.save(_mlp().state_dict(), src)
    assert main(["import", "--torch", str(src), "--normalization", "unit", "--out", str(out)]) == 0
    return out


def test_export_never_replaces_the_checkpoint_a_run_directory_resolves_to(imported, one_error):
    before = imported.read_bytes()
    code = main(["export", "--checkpoint", str(imported.parent), "--torch", str(imported), "--force"])
    one_error(code, "name the same file")
    assert imported.read_bytes() == before


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda n: {k: v for k, v in n.items() if k != "layers.0.weight"}, "misses layers.0.weight"),  # dropped
        (lambda n: {**n, "layers.9.weight": "9.weight"}, "names no tensor layers.9.weight"),
        (lambda n: {k: "same" for k in n}, "two tensors one name"),  # tensors merged under one name
    ],
)
def test_export_refuses_an_edited_source_name_map(imported, tmp_path, edit, fragment, one_error):
    """An edited source_names (checksums recomputed) must not make export write 0 tensors or merge some."""
    from empirical.nets.checkpoint import read_checkpoint, save_checkpoint

    model, meta = load_checkpoint(imported)
    spec = {**meta["spec"], "source_names": edit(meta["spec"]["source_names"])}
    save_checkpoint(tmp_path / "edited.safetensors", model, spec)
    read_checkpoint(tmp_path / "edited.safetensors")  # a valid, self-consistent checkpoint
    one_error(main(["export", "--checkpoint", str(tmp_path / "edited.safetensors"), "--torch", str(tmp_path / "o.pt")]),
              fragment)  # fmt: skip
    assert not (tmp_path / "o.pt").exists()


def test_export_on_a_full_disk_is_one_line(imported, tmp_path, monkeypatch, one_error):
    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\nmore")

    monkeypatch.setattr(torch, "save", full)
    one_error(main(["export", "--checkpoint", str(imported), "--torch", str(tmp_path / "o.pt")]), "writing failed")
    assert not list(tmp_path.glob("*o.pt*"))
