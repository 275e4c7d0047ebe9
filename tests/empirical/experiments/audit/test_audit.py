"""``audit`` (issue 40): a user's own BatchNorm CNN on float32 ``.npz`` data goes through ``audit --budget quick``
with no glue; its recommendation, passed to ``lock``, gives a model within the target's tolerance on the held-out
half; the API returns the same tables as the CLI; an interrupted audit resumes; bad targets are one line."""

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import empirical
from empirical.cli import main
from empirical.lock.utility import split_halves
from empirical.nets import data as data_mod
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.modules import load_builder

BUILDER = textwrap.dedent(
    """
    import torch.nn as nn

    def build():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(12 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 4),
        )
    """
)


@pytest.fixture(scope="module")
def own_cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit_own")
    rng = np.random.default_rng(0)
    templates = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)

    def split(n):
        y = rng.integers(0, 4, n)
        return (templates[y] + 1.5 * rng.standard_normal((n, 3, 32, 32))).astype(np.float32), y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(1200), split(400)
    np.savez(d / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    (d / "cnn.py").write_text(BUILDER)
    ns = {}
    exec(BUILDER, ns)
    torch.manual_seed(0)
    model = ns["build"]()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for _ in range(3):
        for i in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
            opt.zero_grad(), loss.backward(), opt.step()
    torch.save(model.eval().state_dict(), d / "cnn.pt")
    common = ["--model", f"{d / 'cnn.py'}:build", "--data", str(d / "data.npz")]
    assert main(["import", "--torch", str(d / "cnn.pt"), "--normalization", "none", *common,
                 "--out", str(d / "cnn.safetensors")]) == 0  # fmt: skip
    return d, common


@pytest.mark.slow
def test_audit_quick_on_an_own_bn_cnn_and_its_recommendation_locks(own_cnn):
    d, common = own_cnn
    out = d / "audit"
    assert main(["audit", "--checkpoint", str(d / "cnn.safetensors"), *common, "--target-accuracy", "0.35",
                 "--budget", "quick", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    for name in ("audit.md", "summary.json", "keys.csv", "finetune.csv", "exposure.csv", "pruning.csv", "bounds.csv",
                 "figures/utility_curves.png"):  # fmt: skip
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    rec = summary["recommendation"]
    keys = pd.read_csv(out / "keys.csv")
    assert set(keys.unit_kind) == {"l1", "bn-scale"}  # quick: two unit kinds, bn-scale where BN exists
    text = (out / "audit.md").read_text()
    for part in ("## 1. The model", "## 2. The key", "## 3. The bounds", "## 4. Resistance", "## 5. Key-position",
                 "## 6. Pruning", "## 7. The recommendation", "Threat model", "corelocker-bounds lock"):  # fmt: skip
        assert part in text, part
    # the recommendation, passed to lock, gives a model within the target's tolerance on the held-out half
    assert main(["lock", "--checkpoint", str(d / "cnn.safetensors"), *common, "--indicator", rec["unit_kind"],
                 "--k", str(rec["k"]), "--fill", rec["fill"], "--out-model", str(d / "locked.safetensors"),
                 "--key", str(d / "key.safetensors")]) == 0  # fmt: skip
    builder = load_builder(f"{d / 'cnn.py'}:build")
    locked, meta = load_checkpoint(d / "locked.safetensors", builder=builder)
    x, y = data_mod.test_set_for(meta["spec"], str(d / "data.npz"))
    (_, _), (xh, yh) = split_halves(x, y)
    acc = float((locked(xh).argmax(1) == yh).float().mean())
    row = keys.set_index("unit_kind").loc[rec["unit_kind"]]
    # the audit measured exactly this model: the key with the recommended fill (the search sees only the zero fill)
    recorded = row.accuracy_heldout if rec["fill"] == "zero" else row.accuracy_heldout_noise
    assert acc == pytest.approx(recorded, abs=1e-6)  # float32 mean against an exact count
    assert acc <= 0.35 + 0.01 or any("held-out accuracy" in f for f in rec["fails"])
    # the API returns the same tables (another directory, the same model and data, the same seeds)
    model, _ = load_checkpoint(d / "cnn.safetensors", builder=builder)
    data = np.load(d / "data.npz")
    t = [torch.from_numpy(data[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
    result = empirical.audit(model, t, target=0.35, budget="quick", out=d / "api")
    pd.testing.assert_frame_equal(result.tables["keys"], pd.read_csv(out / "keys.csv"), check_dtype=False)
    assert result.recommendation["k"] == rec["k"] and "## 7. The recommendation" in result.to_markdown()
    # a second run on the same directory resumes: every unit kind is read back, nothing is redone
    stamp = (out / "cells" / "l1" / "done.json").stat().st_mtime_ns
    assert main(["audit", "--checkpoint", str(d / "cnn.safetensors"), *common, "--target-accuracy", "0.35",
                 "--budget", "quick", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    assert (out / "cells" / "l1" / "done.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "target, fragment",
    [("0.1", "outside (chance 0.25"), ("1.01", "outside (chance 0.25")],
)
def test_an_unreachable_target_is_one_line(own_cnn, target, fragment, one_error, tmp_path):
    d, common = own_cnn
    one_error(main(["audit", "--checkpoint", str(d / "cnn.safetensors"), *common, "--target-accuracy", target,
                    "--out", str(tmp_path / "a"), "--no-progress"]), fragment)  # fmt: skip


def test_bad_budget_and_share_are_one_line(own_cnn, one_error, tmp_path):
    d, common = own_cnn
    base = ["audit", "--checkpoint", str(d / "cnn.safetensors"), *common, "--target-accuracy", "0.35", "--out",
            str(tmp_path / "a")]  # fmt: skip
    one_error(main([*base, "--budget", "huge"]), "unknown audit budget 'huge'")
    one_error(main([*base, "--attacker-share", "0,0.5"]), "--attacker-share: 0.0 is not a share")
    one_error(main([*base, "--owner-share", "0.3"]), "the owner's share 0.3 is not one of --attacker-share")


def test_the_from_scratch_model_keeps_no_trained_weight(caplog):
    """A parameter held directly by a custom module (no reset_parameters) is drawn again, not kept."""
    from empirical.experiments.audit.run import fresh_copy

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
            self.scale = nn.Parameter(torch.linspace(0.5, 2.0, 3))

        def forward(self, x):
            return self.body(x) * self.scale

    model = Scaled()
    with torch.no_grad():  # "trained": every value moved off its initialisation
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    with caplog.at_level("WARNING"):
        fresh = fresh_copy(model, seed=0)
    for (name, p), q in zip(model.named_parameters(), fresh.parameters()):
        assert not torch.equal(p, q), name  # every parameter newly drawn
    assert "scale has no reset_parameters" in caplog.text
    assert abs(float(fresh.scale.detach().mean()) - 1.25) < 1.0  # from the parameter's own scale, not a default


def test_the_trade_off_prefers_the_fill_whose_key_is_found_least():
    """Where no candidate meets all three conditions and two fail as many, the one whose positions a detector finds
    the least of wins (hand-made tables: the zero fill's exact zeros find the whole key, the noise fill's best
    detector a fifth of it); the key's size decides only after that."""
    from empirical.experiments.audit.report import candidates, recommend

    keys = pd.DataFrame(
        [dict(unit_kind="l1", k=100, key_values=100, accuracy_heldout=0.15, accuracy_heldout_noise=0.155)]
    )
    ft = pd.DataFrame(
        [dict(unit_kind="l1", share=0.1, seed=s, attack=a, accuracy=acc)
         for s in range(3) for a, acc in (("FTAL", 0.95 + 0.001 * s), ("from scratch", 0.90 - 0.002 * s))]
    )  # fmt: skip
    exposure = pd.DataFrame(
        [
            dict(unit_kind="l1", fill="zero", detector="exact zeros", recall=1.0, beats_null=True),
            dict(unit_kind="l1", fill="zero", detector="largest gradient (top k)", recall=0.2, beats_null=True),
            dict(unit_kind="l1", fill="noise", detector="exact zeros", recall=0.0, beats_null=False),
            dict(unit_kind="l1", fill="noise", detector="largest gradient (top k)", recall=0.2, beats_null=True),
        ]
    )
    rec = recommend(keys, ft, exposure, dict(owner_share=None, target=0.15))
    assert rec["status"] == "none meets all three" and rec["fill"] == "noise" and len(rec["fails"]) == 2
    # with no detector beating its null under either fill, the fills tie and the key passes that condition
    hidden = exposure.assign(beats_null=False)
    rec = recommend(keys, ft, hidden, dict(owner_share=None, target=0.15))
    assert len(rec["fails"]) == 1 and "FTAL" in rec["fails"][0]
    # the noise fill leaves the same key above the target's tolerance: it fails the target, and the zero fill wins
    rec = recommend(keys.assign(accuracy_heldout_noise=0.17), ft, exposure, dict(owner_share=None, target=0.15))
    assert rec["fill"] == "zero" and len(rec["fails"]) == 2
    noisy = recommend(keys.assign(accuracy_heldout_noise=0.17), ft, hidden, dict(owner_share=None, target=0.15))
    assert noisy["fill"] == "zero"
    noise = [c for c in candidates(keys.assign(accuracy_heldout_noise=0.17), ft, hidden, {"target": 0.15})
             if c["fill"] == "noise"]  # fmt: skip
    assert noise[0]["fails"][0] == "held-out accuracy 17.0 % with the noise fill against target 15.0 % + 1 pp"
    # the target comes first: a fill that misses it loses even to one that fails more of the other conditions
    noisy_target = keys.assign(accuracy_heldout_noise=0.25)
    leaky = exposure.assign(beats_null=[True, True, False, False])  # the noise fill hides its key
    rec = recommend(noisy_target, ft, leaky, dict(owner_share=None, target=0.15))
    assert rec["fill"] == "zero" and len(rec["fails"]) == 2  # fine-tuning and detectors, not the target
    # an audit from before the noise fill's accuracy was measured: its noise candidates fail the target, said so
    old = candidates(keys.drop(columns="accuracy_heldout_noise"), ft, hidden, {"target": 0.15})
    assert ["not measured" in c["fails"][0] for c in old] == [False, True]


def test_the_time_estimate_counts_the_budget_and_bounds_it(monkeypatch):
    """``expected_minutes`` times one real step (so a conv net, with many FLOPs per parameter, is not estimated from
    its parameter count) and multiplies it by the image passes the budget makes; "about" (training from scratch at
    a quarter of its step cap) stays below "at most" (at the cap), and a larger budget costs more. The counts are
    checked with a fixed step time (a timing on a busy machine varies); the real timing only has to be positive."""
    from empirical.experiments.audit import face
    from empirical.experiments.audit.config import AuditConfig
    from empirical.experiments.audit.run import AuditData

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    data = AuditData(torch.randn(2000, 1, 8, 8), torch.arange(2000) % 10, torch.randn(500, 1, 8, 8),
                     torch.arange(500) % 10)  # fmt: skip
    train_s, eval_s = face.seconds_per_image(model, data)
    assert train_s > 0 and eval_s > 0
    monkeypatch.setattr(face, "seconds_per_image", lambda m, d: (1e-3, 1e-4))
    quick = face.expected_minutes(model, data, AuditConfig(target=0.15, budget="quick"), 2)
    standard = face.expected_minutes(model, data, AuditConfig(target=0.15, budget="standard"), 2)
    assert quick[0] < quick[1] < standard[1] and standard[0] < standard[1]
    # by hand, standard at the cap: 3 seeds x 3 shares x 600 steps (the floor) of 100 images from scratch, fine-tuning
    # 0.16 x 2000 x 3 x 8 x 2, pruning/restoration/detectors 20 x (2 x 2 x 4 + 8), 500 x (40 + 27 + 8 + 2) tests
    images = 3 * 1800 * 100 + 0.16 * 2000 * 3 * 8 * 2 + 20 * (2 * 2 * 4 + 8)
    assert standard[1] == pytest.approx(2 * (images * 1e-3 + 500 * 77 * 1e-4) / 60)
