"""The attacks experiment (``empirical.experiments.attacks``): a quick run and its resume, the verdicts and their
statistics, a run that grows; the attack functions themselves are tested in ``tests/empirical/lock``."""

import importlib

import numpy as np
import pandas as pd
import pytest
import torch

from empirical.cli import main
from empirical.errors import UserError
from empirical.lock import attacks as atk
from empirical.lock.extraction import extract
from empirical.nets.models import make_fcn


def test_attacks_quick_run_and_resume(tmp_path, mnist, one_error):
    assert main(["attacks", "--out", str(tmp_path), "--quick"]) == 0
    assert (tmp_path / "report.md").exists() and (tmp_path / "figures" / "recovered_vs_data.png").exists()
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/summary.csv")}
    assert main(["attacks", "--out", str(tmp_path), "--quick"]) == 0
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/summary.csv")} == stamps
    one_error(main(["attacks", "--out", str(tmp_path), "--only", "nope_zero"]), "not in this configuration")
    one_error(main(["attacks", "--out", str(tmp_path)]), "another configuration")


def test_attack_verdicts_state_their_tolerance_and_flag_a_baseline_that_did_not_train():
    from empirical.experiments.attacks.report import verdict_finetune, verdict_prune

    summ = pd.DataFrame({"model": ["m"], "fill": ["zero"], "acc_locked": [0.28]})
    # two binomial SE of 0.2911 on 10000 images = 0.909 pp: a gain of 1.11 pp cannot be told from 1 pp
    pr = pd.DataFrame({"model": "m", "fill": "zero", "attack": "magnitude", "fraction": [0.1, 0.2],
                       "fine_tuned": [False, False], "accuracy": [0.2911, 0.25]})  # fmt: skip
    assert "**INCONCLUSIVE**" in "\n".join(verdict_prune(pr, summ))
    assert "**PASS**" in "\n".join(verdict_prune(pr.assign(accuracy=[0.2802, 0.25]), summ))
    assert "**FAIL**" in "\n".join(verdict_prune(pr.assign(accuracy=[0.40, 0.25]), summ))
    ft = pd.DataFrame({"model": "m", "fill": "zero", "fraction": 0.01, "seed": 0,
                       "attack": ["FTAL", "from scratch"], "accuracy": [0.9, 0.1135]})  # fmt: skip
    text = "\n".join(verdict_finetune(ft, summ))
    assert "**FAIL**" in text and "did not train" in text
    text = "\n".join(verdict_finetune(ft.assign(accuracy=[0.5, 0.9]), summ))
    assert "**PASS**" in text and "did not train" not in text


def test_the_finetune_verdict_uses_the_better_from_scratch_baseline():
    from empirical.experiments.attacks.config import SCRATCH_ADAM
    from empirical.experiments.attacks.report import verdict_finetune

    summ = pd.DataFrame({"model": ["m"], "fill": ["zero"], "acc_locked": [0.15]})
    ft = pd.DataFrame({"model": "m", "fill": "zero", "fraction": 0.05, "seed": 0,
                       "attack": ["FTAL", "from scratch", SCRATCH_ADAM], "accuracy": [0.9, 0.1135, 0.95]})  # fmt: skip
    text = "\n".join(verdict_finetune(ft, summ))
    assert "vs from scratch (Adam) 95.00 %" in text and "**PASS**" in text
    assert "did not train" not in text


def test_converged_baselines_extend_a_run_and_resume(tmp_path, mnist, capsys):
    """`attacks --converged-baselines` (here through its function, 2 seeds, one data share): every architecture
    × seed, steps within the cap (10× fine-tuning's), and a second call adds nothing (resumable row by row, the
    run's cells untouched)."""
    experiment = importlib.import_module("empirical.experiments.attacks.run")
    from empirical.experiments.common.rundir import RunDir

    quick = {**experiment_quick_model(), "fractions": (0.01,)}
    config = experiment.AttackConfig(models=(quick,), prune_fractions=(0.2,), targeted_epochs=(1,))
    rd = RunDir(tmp_path / "atk", "attacks", config.to_json(), experiment.TABLES)
    with rd.open():
        t = experiment.run_scratch_converged(config, rd, seeds=2)
    assert set(t.baseline) == {"own architecture", "MLP 2 × 400", "small CNN"}
    assert t.groupby("baseline").seed.nunique().eq(2).all()
    assert (t.steps <= t.step_cap).all() and (t.best_epoch <= t.stop_epoch).all()
    assert not list((tmp_path / "atk").glob("cells/*/done.json"))
    before = (tmp_path / "atk" / "scratch_converged.csv").read_bytes()
    with rd.open():
        experiment.run_scratch_converged(config, rd, seeds=2)
    assert (tmp_path / "atk" / "scratch_converged.csv").read_bytes() == before


@pytest.mark.parametrize(
    "baseline_means, verdict",
    [((0.80, 0.82, 0.78), "FTAL beats every baseline"), ((0.80, 0.95, 0.78), "not established"),
     ((0.80, 0.99, 0.78), "a baseline beats the attack")],
)  # fmt: skip
def test_converged_verdicts_need_the_attack_to_beat_every_architecture(baseline_means, verdict):
    """FTAL at 0.95 ± 0.005 (3 seeds) against three architectures (5 seeds each, sd 0.005): an intersection-union
    test of one-sided Welch tests at 5 %."""
    from empirical.experiments.attacks.inference import converged_verdicts

    noise = np.array([-0.005, 0.0, 0.005, -0.0025, 0.0025])
    ft = pd.DataFrame(dict(model="m", fill="zero", attack="FTAL", fraction=0.01, seed=[0, 1, 2],
                           accuracy=0.95 + noise[:3]))  # fmt: skip
    frames = [pd.DataFrame(dict(model="m", baseline=name, fraction=0.01, seed=range(5), steps=100,
                                accuracy=mean + noise)) for name, mean in zip("abc", baseline_means)]  # fmt: skip
    sc = pd.concat(frames)
    row = converged_verdicts(ft, sc).iloc[0]
    assert row.verdict == verdict and row.baselines == 3
    assert row.best_baseline == "abc"[int(np.argmax(baseline_means))]


def test_secondary_attacks_are_holm_corrected():
    """Three secondaries against one baseline: each IUT p is the paired one-sided t-test's on the shared seeds
    (checked against scipy's ttest_rel); p_holm is Holm's step-down over the three (hand-computed from the IUT
    p-values); a secondary that passes at 5 % alone but not after Holm says so."""
    from scipy import stats

    from empirical.experiments.attacks.inference import secondary_verdicts
    from empirical.experiments.common.statistics import holm

    noise, bnoise = np.array([-0.01, 0.0, 0.01]), np.array([0.006, -0.004, 0.002])
    ft = pd.concat([pd.DataFrame(dict(model="m", fill="zero", attack=a, fraction=0.05, seed=[0, 1, 2],
                                      accuracy=mean + noise))
                    for a, mean in (("FTLL", 0.90), ("RTLL", 0.93), ("RTAL", 0.97))])  # fmt: skip
    sc = pd.DataFrame(dict(model="m", baseline="own", fraction=0.05, seed=range(3), steps=100, accuracy=0.90 + bnoise))
    rows = secondary_verdicts(ft, sc).set_index("attack")
    ref = stats.ttest_rel(0.93 + noise, 0.90 + bnoise, alternative="greater").pvalue
    assert rows.loc["RTLL", "p_iut"] == pytest.approx(ref, rel=1e-9)
    assert np.allclose(rows["p_holm"], holm(rows["p_iut"].to_numpy()))
    assert rows.loc["RTAL", "verdict"] == "RTAL beats every baseline"
    assert rows.loc["FTLL", "verdict"] == "not established"
    assert rows.loc["RTLL", "p_iut"] < 0.05 < rows.loc["RTLL", "p_holm"]
    assert rows.loc["RTLL", "verdict"] == "not established after Holm"


def test_a_finished_attacks_run_grows_by_seeds_tests_and_a_new_fill(tmp_path, mnist, one_error):
    """Issue 28: a run finished before the review (one seed, no pruning test, no detector table, the old noise
    fill) is extended, not redone: the zero cell gains seed 1 and keeps its seed-0 rows and lock byte for byte,
    gains McNemar's pruning test and the detector table; the noise cell, locked with the old fill, runs again.
    Fewer seeds than the run holds is refused."""
    import json

    experiment = importlib.import_module("empirical.experiments.attacks.run")

    quick = {**experiment_quick_model(), "fractions": (0.01,), "seeds": 1}
    config = experiment.AttackConfig(models=(quick,), prune_fractions=(0.2,), targeted_epochs=(1,))
    out = tmp_path / "atk"
    experiment.run(config, out, experiment.AttackOptions())
    zero, noise = out / "cells" / "fcn-3x32_zero", out / "cells" / "fcn-3x32_noise"
    for cell in (zero, noise):  # what a cell finished before the review looks like
        done = json.loads((cell / "done.json").read_text())
        done.pop("fill_version")
        for t in ("prune_test", "detectors"):
            (cell / f"{t}.csv").unlink()
            done["tables_sha256"].pop(t)
        (cell / "done.json").write_text(json.dumps(done))
    before = {t: (zero / f"{t}.csv").read_text() for t in ("summary", "finetune", "prune", "keypos")}
    adam_before = (out / "scratch_adam.csv").read_text()
    assert pd.read_csv(out / "scratch_adam.csv").seed.tolist() == [0]

    grown = experiment.AttackConfig(models=({**quick, "seeds": 2},), prune_fractions=(0.2,), targeted_epochs=(1,))
    experiment.run(grown, out, experiment.AttackOptions())
    ft = pd.read_csv(zero / "finetune.csv")
    assert sorted(ft.seed.unique()) == [0, 1]
    assert (zero / "finetune.csv").read_text().startswith(before["finetune"])  # seed 0's rows kept as they were
    assert all((zero / f"{t}.csv").read_text() == before[t] for t in ("summary", "prune", "keypos"))
    test = pd.read_csv(zero / "prune_test.csv")
    assert test.scope.tolist() == ["any configuration", "pruning alone"] and test.configurations.tolist() == [4, 2]
    assert not test.fine_tuned.iloc[1] and ((0 <= test.p_mcnemar) & (test.p_mcnemar <= 1)).all()
    assert (test.diff_low <= test["diff"]).all() and (test["diff"] <= test.diff_high).all()
    assert test["diff"].to_numpy() == pytest.approx((test.acc_odd_pruned - test.acc_odd_locked).to_numpy())
    det = pd.read_csv(noise / "detectors.csv").set_index("detector")
    assert det.loc["exact zeros", "detected"] == 0  # the new fill leaves no exact zero...
    assert det.loc["repeated magnitudes", "recall"] < 0.1  # ...and no copied magnitude at the key
    assert json.loads((noise / "done.json").read_text())["fill_version"] == 2
    control = det.loc[experiment.RANDOM_CONTROL]  # the control: as many random positions, trained the same way
    best = det.drop(experiment.RANDOM_CONTROL).f1.idxmax()
    assert control.detected == det.loc[best, "detected"] and 0 < control.restored_accuracy <= 1
    assert det.restored_accuracy.notna().sum() == 2 and det.loc[best, "restored_accuracy"] > 0
    assert pd.read_csv(noise / "finetune.csv").seed.nunique() == 2
    assert len(pd.read_csv(out / "detectors.csv")) == 2 * len(det)
    adam = (out / "scratch_adam.csv").read_text()  # the short Adam baseline gains seed 1, keeps seed 0's row
    assert adam.startswith(adam_before) and pd.read_csv(out / "scratch_adam.csv").seed.tolist() == [0, 1]
    # a pruning test from before the pruning-alone row: only it is redone, the detector table stays as it is
    (zero / "prune_test.csv").write_text(test.iloc[:1].drop(columns=["scope", "diff", "diff_low", "diff_high"])
                                         .to_csv(index=False))  # fmt: skip
    det_before = (zero / "detectors.csv").read_text()
    experiment.run(grown, out, experiment.AttackOptions())
    assert pd.read_csv(zero / "prune_test.csv").scope.tolist() == ["any configuration", "pruning alone"]
    assert (zero / "detectors.csv").read_text() == det_before
    old_det = pd.read_csv(zero / "detectors.csv")  # a detector table from before the random control is redone
    old_det[old_det.detector != experiment.RANDOM_CONTROL].to_csv(zero / "detectors.csv", index=False)
    pt_before = (zero / "prune_test.csv").read_text()
    experiment.run(grown, out, experiment.AttackOptions())
    assert experiment.RANDOM_CONTROL in set(pd.read_csv(zero / "detectors.csv").detector)
    assert (zero / "prune_test.csv").read_text() == pt_before
    one_error(main(["attacks", "--out", str(out), "--quick"]), "another configuration")
    with pytest.raises(UserError, match="more seeds"):
        experiment.run(config, out, experiment.AttackOptions())


def test_the_pruning_alone_verdict_is_decided_by_the_paired_interval():
    from empirical.experiments.attacks.report import verdict_prune_test

    row = dict(model="m", chosen="magnitude", fraction=0.2, fine_tuned=False, acc_odd_locked=0.15,
               acc_odd_pruned=0.155, only_pruned_right=60, only_locked_right=10, p_mcnemar=1e-9)  # fmt: skip
    alone = lambda lo, hi: dict(row, scope="pruning alone", diff=(lo + hi) / 2, diff_low=lo, diff_high=hi)  # noqa: E731
    text = lambda *rows: "\n".join(verdict_prune_test(pd.DataFrame(list(rows))))  # noqa: E731
    assert "**PASS**" in text(alone(0.001, 0.009)) and "**FAIL**" in text(alone(0.011, 0.02))
    assert "**INCONCLUSIVE**" in text(alone(0.005, 0.015))
    old = text(row)  # a row from before the scopes: the attack's McNemar verdict
    assert "recovers accuracy" in old and "pruning alone" not in old


def test_detectors_are_judged_against_an_empirical_null_over_candidate_units():
    """``with_chance``: chance = key values / candidate values (a 3 × 32 FCN, hidden scope: W⁽²⁾ and W⁽³⁾, 2 · 32 ·
    32 = 2,048 weights by hand — not the 27,456 of every layer), checked by Monte Carlo: random positions among the
    candidates, 200 draws, average that precision within 4 standard errors. The null's p (+1-corrected, 10,000
    draws) agrees with the exact hypergeometric tail within its Monte Carlo error, and is small only for a detector
    well above chance."""
    from empirical.experiments.attacks.evidence import candidate_units, with_chance
    from empirical.experiments.attacks.report import verdict_detectors
    from empirical.lock.detectors import top_k_positions

    model = make_fcn(3, 32, seed=0)
    spec = dict(name="m", arch="fcn", hidden_layers=3, width=32)
    assert candidate_units(spec) == (2 * 32 * 32, 1)
    locked, key = extract(model, 0.1)
    truth = atk.key_positions(key, locked)
    k = sum(len(v) for n, v in truth.items() if n.endswith("weight"))
    g = torch.Generator().manual_seed(0)
    hidden = {"layers.1.weight": 32 * 32, "layers.2.weight": 32 * 32}
    prec = [atk.detection_scores(top_k_positions({n: torch.rand(s, generator=g) for n, s in hidden.items()}, k),
                                 truth)["precision"] for _ in range(200)]  # fmt: skip
    row = dict(model="m", fill="noise", detector="random", k=k, detected=k, key_values=k)
    det = with_chance(pd.DataFrame([dict(row, precision=float(np.mean(prec)), recall=float(np.mean(prec))),
                                    dict(row, detector="strong", precision=0.3, recall=0.3)]), [spec])  # fmt: skip
    assert det.chance.iloc[0] == pytest.approx(k / 2048)
    assert abs(np.mean(prec) - det.chance.iloc[0]) < 4 * np.std(prec) / np.sqrt(len(prec))
    assert det.p_null.iloc[0] > 0.05 and det.p_null.iloc[1] <= 2e-4
    mc_se = np.sqrt(det.p_exact * (1 - det.p_exact) / 10_000)
    assert (np.abs(det.p_null - det.p_exact) <= 4 * mc_se + 2e-4).all()
    text = "\n".join(verdict_detectors(det))
    assert "strong ×" in text and "so the key is not hidden" in text
    weak = det.iloc[:1].assign(recall=0.05, precision=0.05, p_above_chance=0.9)
    assert "No detector beats the empirical null" in "\n".join(verdict_detectors(weak))


def test_the_one_sided_bound_is_above_zero_exactly_where_the_iut_rejects():
    """``bound_every``: the smallest one-sided 95 % lower bound over the baselines; on 200 random draws (many
    near the decision) it is above 0 exactly when p_iut < 0.05."""
    from empirical.experiments.attacks.inference import converged_verdicts

    rng = np.random.default_rng(1)
    for _ in range(200):
        shift = rng.uniform(-0.01, 0.02)
        ft = pd.DataFrame(dict(model="m", fill="zero", attack="FTAL", fraction=0.01, seed=range(5),
                               accuracy=0.9 + shift + rng.normal(0, 0.01, 5)))  # fmt: skip
        sc = pd.concat([pd.DataFrame(dict(model="m", baseline=b, fraction=0.01, seed=range(5), steps=100,
                                          accuracy=0.9 + rng.normal(0, 0.01, 5))) for b in "ab"])  # fmt: skip
        row = converged_verdicts(ft, sc).iloc[0]
        assert (row.bound_every > 0) == (row.p_iut < 0.05)


def experiment_quick_model() -> dict:
    from empirical.experiments.attacks.run import PRESETS

    return dict(PRESETS["quick"].models[0])
