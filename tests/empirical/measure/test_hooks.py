"""The bounds against any ``nn.Module`` through hooks (issue 41): every parametrised layer of a ResNet-18, a
DenseNet block, a MobileNetV2 block and a custom-forward ResNet with projection shortcuts gets d, G, B and the
sandwich, by module name; the chain bound where the layer is on a chain, "not applicable" with the reason where
it is not. Checked against quantities computed by hand from the modules, and the bad inputs are one line each."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock.extraction import extract
from empirical.measure import measure_module
from empirical.measure.hooks import chain_positions, parametrised_layers

from .published_nets import DenseNetBlock, MobileNetV2Block, ProjectionResNet, ResNet18, settle

torch.manual_seed(0)
X = torch.randn(24, 3, 32, 32)
Y = torch.randint(0, 10, (24,))


def _locked(model, ratio=0.05):
    model = settle(model, X)
    locked, _ = extract(model, ratio)
    return model, locked.eval()


@pytest.mark.parametrize("build", [ResNet18, DenseNetBlock, MobileNetV2Block, ProjectionResNet],
                         ids=["resnet18", "densenet-block", "mobilenetv2-block", "projection-resnet"])  # fmt: skip
def test_every_parametrised_layer_gets_d_G_and_the_sandwich(build):
    model, locked = _locked(build())
    res = measure_module(model, locked, X, Y % 5 if build is ProjectionResNet else Y, batch=10)
    layers = res["layers"]
    names = [n for n, _ in parametrised_layers(model)[0]]
    assert list(layers["layer"]) == names  # every one, by its module name, in order
    assert (layers["sandwich_holds_frac"] == 1.0).all() and (layers["e_within_B_frac"] == 1.0).all()
    assert res["summary"]["sandwich_all_hold"] and not res["summary"]["not_measured"]
    assert (layers["n_extracted"] > 0).any()
    chained = layers[layers["chain_bound"].str.startswith("Theorem 3")]
    inside = layers[layers["chain_bound"].str.startswith("not applicable")]
    assert len(chained) >= 1 and len(inside) >= 1  # the stem is a chain; the blocks are not
    assert chained["layer"].iloc[0] in {"conv1", "stem", "stem.0", "conv"}
    assert (chained["theorem3_holds_frac"] >= 0).all()


def test_the_reasons_name_the_residual_the_concatenation_and_the_branch():
    why = lambda model: {n: c.get("why", "chain") for n, c in chain_positions(model, [n for n, _ in  # noqa: E731
                         parametrised_layers(model)[0]]).items()}  # fmt: skip
    resnet = why(ResNet18())
    assert resnet["conv1"] == "chain" and resnet["bn1"] == "chain"
    assert "a sum (residual connection)" in resnet["layer2.0.conv1"] or "branch" in resnet["layer2.0.conv1"]
    assert "branch" in resnet["layer1.0.conv1"]  # its input also feeds the identity shortcut
    dense = why(DenseNetBlock())
    assert "inputs" in dense["block.1.norm"] or "branch" in dense["block.1.norm"]  # after torch.cat
    assert dense["stem"] == "chain"


def test_d_G_and_B_match_a_hand_computation_on_the_projection_shortcut():
    """The shortcut's conv: d, G, e recomputed by running the modules by hand, B from a dense ‖ΔW‖₂."""
    torch.manual_seed(1)
    model, locked = _locked(ProjectionResNet(), ratio=0.2)
    res = measure_module(model, locked, X[:8], Y[:8] % 5, batch=8)
    row = res["layers"].set_index("layer").loc["proj.0"]
    samples = res["samples"][res["samples"].layer == "proj.0"]
    m, lk = model.double(), locked.double()
    x = X[:8].double()
    with torch.no_grad():
        h_o = torch.relu(m.bn(m.conv(x)))
        h_l = torch.relu(lk.bn(lk.conv(x)))
        y_o, y_l, cross = m.proj[0](h_o), lk.proj[0](h_l), lk.proj[0](h_o)
    flat = lambda t: t.reshape(len(t), -1).norm(dim=1).numpy()  # noqa: E731
    np.testing.assert_allclose(samples["d"], flat(y_l - y_o), rtol=1e-10)
    np.testing.assert_allclose(samples["G"], flat(y_l - cross), rtol=1e-10)
    np.testing.assert_allclose(samples["e"], flat(cross - y_o), rtol=1e-10)
    # μ: a 1 × 1 conv (any stride) acts on each kept position by its 16 × 8 channel matrix, so its exact operator
    # norm is that matrix's largest singular value (dense SVD, by hand); the FFT bound used must equal it
    dW = (lk.proj[0].weight - m.proj[0].weight).detach()[:, :, 0, 0].numpy()
    exact = float(np.linalg.svd(dW, compute_uv=False)[0])
    assert exact <= row["mu"] + 1e-9 and row["mu"] <= exact * (1 + 1e-9) + 1e-12


def test_bad_models_are_one_line():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.head = nn.Linear(12, 12), nn.Linear(12, 10)

        def forward(self, x):
            return self.head(torch.relu(self.a(torch.relu(self.a(x.flatten(1)[:, :12])))))

    shared = Shared()
    with pytest.raises(UserError, match="module 'a' is called 2 times in one forward"):
        measure_module(shared, shared, X, Y)
    with pytest.raises(UserError, match=r"forward fails on inputs of shape \[10, 3, 32, 32\]"):
        measure_module(nn.Linear(5, 10), nn.Linear(5, 10), X[:10], Y[:10])

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(3 * 32 * 32, 10), nn.Linear(4, 4)

        def forward(self, x):
            return self.used(x.flatten(1))

    u = Unused()
    res = measure_module(u, u, X[:4], Y[:4])
    assert res["summary"]["not_measured"] == ["spare: never called in the forward (an unused branch?)"]


def test_torchvision_resnet18_when_torchvision_imports():
    """torchvision's own ResNet-18, built without weights (a GPU user's machine); skipped where it cannot load."""
    try:
        import torchvision
    except Exception as exc:  # noqa: BLE001  (its compiled ops fail to load beside the CPU torch here)
        pytest.skip(f"torchvision does not import here ({type(exc).__name__}: {str(exc)[:80]})")
    model, locked = _locked(torchvision.models.resnet18(num_classes=10))
    res = measure_module(model, locked, X[:4], Y[:4])
    assert res["summary"]["sandwich_all_hold"] and len(res["layers"]) == 62


def test_check_bounds_cli_on_a_custom_forward_resnet_with_own_data(tmp_path, one_error):
    """The newcomer's path: a BN ResNet with projection shortcuts and a functional forward, on float32 own data,
    through import and check-bounds (once refused: "expected the toolkit's FCN or an nn.Sequential")."""
    from empirical.cli import main

    model = settle(ProjectionResNet(), X)
    torch.save(model.state_dict(), tmp_path / "net.pt")
    xs = np.random.default_rng(0).normal(size=(60, 3, 32, 32)).astype(np.float32)
    ys = np.arange(60) % 5
    np.savez(tmp_path / "data.npz", x_train=xs, y_train=ys, x_test=xs, y_test=ys)
    src = "\n".join(["import sys", f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})",
                     "from published_nets import build_projection_resnet as build"])  # fmt: skip
    (tmp_path / "mynet.py").write_text(src + "\n")
    builder, data = f"{tmp_path / 'mynet.py'}:build", str(tmp_path / "data.npz")
    assert main(["import", "--torch", str(tmp_path / "net.pt"), "--model", builder, "--normalization", "none",
                 "--data", data, "--out", str(tmp_path / "net.safetensors")]) == 0  # fmt: skip
    assert main(["check-bounds", str(tmp_path / "net.safetensors"), "--model", builder, "--data", data, "--ratio",
                 "0.05", "--n-samples", "20", "--out", str(tmp_path / "cb")]) == 0  # fmt: skip
    table = pd.read_csv(tmp_path / "cb" / "bounds_checks.csv")
    assert set(table["layer"]) == {n for n, _ in parametrised_layers(model)[0]}
    assert (table["sandwich_holds_frac"] == 1.0).all()
    assert table.set_index("layer").loc["c1", "chain_bound"].startswith("not applicable")
