"""The second review of the attacks (issue 39): a second owner model that shares its architecture's baselines, the
restoration control over seeds (what knowing the key adds), and the stronger baselines (refit on the whole share,
SGD-cosine) of which the verdicts take the strongest."""

import importlib
import json

import pandas as pd
import pytest
import torch

from empirical.errors import UserError
from empirical.experiments.attacks import evidence, report
from empirical.experiments.attacks.cells import KEY_POSITIONS, RANDOM_CANDIDATES, random_candidate_positions
from empirical.experiments.attacks.config import MODELS, AttackConfig, _merge
from empirical.experiments.common.rundir import RunDir
from empirical.lock.ranking import candidates
from empirical.nets.models import make_fcn, make_model

run_module = importlib.import_module("empirical.experiments.attacks.run")


def quick_model() -> dict:
    return dict(run_module.PRESETS["quick"].models[0])


def test_a_run_grows_by_a_second_owner_model_and_nothing_else():
    old = AttackConfig(models=MODELS[:3]).to_json()
    new = AttackConfig().to_json()
    assert [m["name"] for m in new["models"]] == ["fcn-7x400", "fcn-13x400", "vgg", "fcn-7x400-s1", "fcn-13x400-s1"]
    assert _merge(old, new) == new
    changed = {**new, "models": [dict(new["models"][0], width=500), *new["models"][1:]]}
    with pytest.raises(UserError, match="differs in: models"):
        _merge(old, changed)
    assert run_module._spec(new["models"][3]).seed == 1 and run_module._spec(new["models"][0]).seed == 0
    with pytest.raises(UserError, match="differs in: models"):  # fewer models is another run, not an extension
        _merge(new, old)


def test_random_candidate_units_lie_where_keys_can_lie():
    """Drawn whole among the hidden layers' units (3 × 16 FCN: W⁽²⁾ and W⁽³⁾, 512 weights), distinct, as many as
    asked, seeded."""
    model = make_fcn(3, 16, seed=0)
    names = {c.name for c in candidates(model, "l1", "hidden")}
    pos = random_candidate_positions(model, "l1", 100, seed=3)
    assert set(pos) <= names and sum(len(v) for v in pos.values()) == 100
    assert all(len(set(v.tolist())) == len(v) for v in pos.values())
    again = random_candidate_positions(model, "l1", 100, seed=3)
    assert all(torch.equal(pos[n], again[n]) for n in pos)
    conv = make_model("vgg", 1, 4)
    units = random_candidate_positions(conv, "l1", 5, seed=0)  # 3 × 3 kernels: 9 values per unit
    assert sum(len(v) for v in units.values()) == 45


def test_the_strongest_baseline_variant_is_kept_and_shared_with_a_second_owner(tmp_path):
    """Per architecture and share the variant with the highest mean over every seed (a variant short of a seed
    is not eligible); the second owner model gets its architecture's rows under its own name."""
    run = tmp_path / "attacks"
    run.mkdir()
    models = [quick_model(), dict(quick_model(), name="q-s1", baselines_of=quick_model()["name"])]
    (run / "config.json").write_text(json.dumps({"models": models}))
    m = models[0]["name"]
    conv = pd.DataFrame(dict(model=m, baseline="own architecture", fraction=0.01, seed=[0, 1], n_images=600,
                             steps=100, step_cap=1000, best_epoch=[4, 6], stop_epoch=10, heldout_accuracy=0.8,
                             accuracy=[0.80, 0.82]))  # fmt: skip
    conv.to_csv(run / "scratch_converged.csv", index=False)
    refit = pd.DataFrame(dict(model=m, baseline="own architecture", recipe=["adam", "adam", "sgd-cosine"],
                              fraction=0.01, seed=[0, 1, 0], n_images=600, steps=100, step_cap=1000, best_epoch=5,
                              accuracy_stopped=[0.80, 0.82, 0.99], accuracy_refit=[0.85, 0.86, 0.99]))  # fmt: skip
    refit.to_csv(run / "scratch_refit.csv", index=False)
    base = evidence.load_converged(run)
    mine = base[base.model == m]
    assert set(mine.variant) == {"adam, refit"} and sorted(mine.accuracy) == [0.85, 0.86]  # sgd has one seed only
    assert (mine.steps == 5 * 6).all()  # 5 epochs × 6 steps on 600 images
    shared = base[base.model == "q-s1"].drop(columns="model").reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, mine.drop(columns="model").reset_index(drop=True))
    text = "\n".join(report.variants_section(run))
    assert "| adam, refit |" in text and "tested against" in text  # the report names the variant tested


def test_restoration_effects_are_paired_by_seed(tmp_path):
    rows = []
    for seed, (key, det, rnd) in enumerate([(0.90, 0.50, 0.40), (0.92, 0.55, 0.42), (0.91, 0.52, 0.45)]):
        for positions, acc in ((KEY_POSITIONS, key), ("best detector", det), (RANDOM_CANDIDATES, rnd)):
            rows.append(dict(model="m", fill="zero", seed=seed, positions=positions, restored_accuracy=acc))
    pd.DataFrame(rows).to_csv(tmp_path / "restoration.csv", index=False)
    eff = evidence.restoration_effects(tmp_path).set_index("trained")
    key = eff.loc["the key's own positions"]
    assert key.seeds == 3 and key["diff"] == pytest.approx((0.50 + 0.50 + 0.46) / 3)
    assert key.low < key["diff"] < key.high and eff.loc["the best detector's"]["diff"] == pytest.approx(0.1)


def test_a_second_owner_model_runs_its_cells_with_the_restoration_control(tmp_path, mnist):
    """The quick model and its second owner (seed 1, restoration over 2 seeds): the second trains to other weights,
    its cells write the restoration rows (three position sets per seed, the key's own restoring the most), the run
    collects them, and the stronger baselines extend the run (one seed here) without touching a cell."""
    q = {**quick_model(), "fractions": (0.02,), "seeds": 1}
    second = dict(q, name="q-s1", owner_seed=1, restore_seeds=2, baselines_of=q["name"])
    config = AttackConfig(models=(q, second), fills=("zero",), prune_fractions=(0.2,), targeted_epochs=(1,))
    out = tmp_path / "atk"
    run_module.run(config, out, run_module.AttackOptions(progress=False))
    summ = pd.read_csv(out / "summary.csv").set_index("model")
    assert summ.loc["q-s1", "acc_original"] != summ.loc[q["name"], "acc_original"]  # another owner model
    rest = pd.read_csv(out / "restoration.csv")
    assert set(rest.model) == {"q-s1"} and sorted(rest.seed.unique()) == [0, 1]
    assert set(rest.positions) == {KEY_POSITIONS, "best detector", RANDOM_CANDIDATES}
    per = rest.pivot_table(index="seed", columns="positions", values="n_positions")
    assert (per[KEY_POSITIONS] == per[RANDOM_CANDIDATES]).all()  # the control retrains as many weights
    done = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/done.json")}
    rd = RunDir(out, "attacks", config.to_json(), run_module.TABLES, merge=_merge)
    with rd.open():
        conv = run_module.run_scratch_converged(config, rd, seeds=1)
        refit = run_module.run_scratch_refit(config, rd, seeds=1)
    assert set(conv.model) == {q["name"]}  # the second owner shares them
    assert set(refit.recipe) == {"adam", "sgd-cosine"} and len(refit) == 2 * 3
    assert (refit.best_epoch >= 1).all() and refit.accuracy_refit.between(0, 1).all()
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/done.json")} == done
    assert set(evidence.load_converged(out).model) == {q["name"], "q-s1"}
    assert "## What knowing the key adds" in report.write_report(out).read_text()
