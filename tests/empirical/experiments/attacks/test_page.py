"""The attacks' docs page (``empirical.experiments.attacks.page``) on copies of the committed run with edited tables."""

import json
import shutil
from pathlib import Path

import pandas as pd

from empirical.experiments.attacks import page

ROOT = Path(__file__).resolve().parents[4]


def _attacks_page(tmp_path, detectors, prune_test=True, fill_version=2):
    """The attacks page rendered from a copy of the committed run with a detector table and a pruning test."""
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
    return page.page(run)


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
    assert "No detector built here beats the null on the noise-filled key" in text
    old = _attacks_page(tmp_path / "v1", [_det("noise", "exact zeros", 0.0)], prune_test=False, fill_version=1)
    assert "copied |w|" in old and "not a test of the paired difference" in old
