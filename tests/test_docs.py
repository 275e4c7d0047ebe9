"""The docs site: every results page and the README's at-a-glance block match the committed runs, and the site
builds with ``mkdocs build --strict`` (a broken link or a missing page fails)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_results_pages_are_current():
    out = subprocess.run([sys.executable, "scripts/docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[docs]' (make test does)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for needed in ("make demo", "make test", "## Quick start", "## Results at a glance", "## Citing"):
        assert needed in text


def _attacks_page(tmp_path, detectors, prune_test=True, fill_version=2):
    """The attacks page rendered from a copy of the committed run with a detector table and a pruning test."""
    import json

    import pandas as pd

    sys.path.insert(0, str(ROOT / "scripts"))
    import results_experiments

    run = tmp_path / "attacks"
    shutil.copytree(ROOT / "results" / "attacks", run)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "fill_version": fill_version}))
    pd.DataFrame(detectors).to_csv(run / "detectors.csv", index=False)
    if not prune_test:
        (run / "prune_test.csv").unlink(missing_ok=True)
    else:
        row = dict(model="fcn-7x400", chosen="magnitude", fraction=0.3, fine_tuned=True, configurations=16,
                   acc_even_pruned=0.97, acc_odd_locked=0.153, acc_odd_pruned=0.970, only_pruned_right=4107,
                   only_locked_right=22, p_mcnemar=1e-300)  # fmt: skip
        alone = dict(row, fine_tuned=False, configurations=8, acc_odd_pruned=0.155, diff=0.002, diff_low=-0.001,
                     diff_high=0.005)  # fmt: skip
        pd.DataFrame([dict(row, scope="any configuration", diff=0.817, diff_low=0.81, diff_high=0.824),
                      dict(alone, scope="pruning alone")]).to_csv(run / "prune_test.csv", index=False)  # fmt: skip
    return results_experiments.attacks(run)


def _det(fill, detector, recall):
    return dict(model="fcn-7x400", fill=fill, detector=detector, k=100, detected=100, key_values=100, f1=recall,
                precision=recall, recall=recall, restored_accuracy=float("nan"), restore_epochs=0)  # fmt: skip


def test_attacks_page_names_the_detector_that_finds_a_noise_filled_key(tmp_path):
    text = _attacks_page(tmp_path, [_det("zero", "exact zeros", 1.0), _det("noise", "exact zeros", 0.0),
                                    _det("noise", "largest gradient (top k)", 0.62)])  # fmt: skip
    assert "does not hide the key from every detector: fcn-7x400 largest gradient (top k) recall 0.62" in text
    assert "McNemar" in text and "magnitude at 30% + fine-tune recovers accuracy" in text
    assert "fcn-7x400, pruning alone**: magnitude at 30% on the odd images" in text and "**PASS**" in text
    assert "copied |w|" not in text and "not in this run yet" not in text


def test_attacks_page_says_the_key_is_hidden_only_when_no_detector_beats_chance(tmp_path):
    weak = [_det("zero", "exact zeros", 1.0), _det("noise", "largest gradient (top k)", 0.2)]
    assert "does not hide the key from every detector" in _attacks_page(tmp_path / "weak", weak)  # 0.2 ≫ chance
    text = _attacks_page(tmp_path, [_det("zero", "exact zeros", 1.0), _det("noise", "largest gradient (top k)", 0.0)])
    assert "No detector built here beats chance on the noise-filled key" in text
    old = _attacks_page(tmp_path / "v1", [_det("noise", "exact zeros", 0.0)], prune_test=False, fill_version=1)
    assert "copied |w|" in old and "not a test of the paired difference" in old


def test_ablation_page_separates_recipe_from_length_once_adam_long_is_measured(tmp_path):
    """Adam trained as long as SGD: the page compares it with Adam and SGD and says which moved bn-scale."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "scripts"))
    import results_experiments

    run = tmp_path / "ablation"
    shutil.copytree(ROOT / "results" / "fashion-mnist-ablation", run)
    for table in ("locked", "models", "gammas"):  # the run as it was before the adam-long cells
        df = pd.read_csv(run / f"{table}.csv")
        df[df.recipe != "adam-long"].to_csv(run / f"{table}.csv", index=False)
    assert "`adam-long`) is still to run" in results_experiments.ablation(run)
    locked, models = pd.read_csv(run / "locked.csv"), pd.read_csv(run / "models.csv")
    pick = lambda df: df[(df.arch == "vgg") & (df.recipe == "adam") & (df.seed.fillna(0) == 0)].copy()  # noqa: E731
    long = pick(locked).assign(recipe="adam-long")
    bn = long.variant == "bn-scale (global |γ|)"
    long.loc[bn, "accuracy"] = 0.80  # adam 84.4 %, sgd 74.1 %: length moves it 4.4 pp, the recipe 5.9 pp
    pd.concat([locked, long]).to_csv(run / "locked.csv", index=False)
    pd.concat([models, pick(models).assign(recipe="adam-long", epochs=6)]).to_csv(run / "models.csv", index=False)
    text = results_experiments.ablation(run)
    assert "vgg: adam 84.4 % (3 ep), adam-long 80.0 % (6 ep), sgd 74.1 % (6 ep)" in text
    assert "the recipe, not the length, moves it" in text
