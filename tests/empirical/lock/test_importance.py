"""Indicators as objects (issue 38): every built-in importance is registered once by name, each gives the units
the ranking always gave (the golden extraction tests pin the keys), and a user's own importance — a class passed to
``extract`` — ranks the units it names by the scores it returns; the key records its name and restores bit for bit."""

import pytest
import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock.extraction import extract
from empirical.lock.importance import IMPORTANCES, Importance, L1Neuron, importance
from empirical.lock.ranking import INDICATORS, candidates


def test_every_built_in_is_registered_once_by_its_name():
    assert tuple(IMPORTANCES) == INDICATORS
    for name, imp in IMPORTANCES.items():
        assert imp.name == name and importance(name) is imp and importance(imp) is imp and imp.unit
    with pytest.raises(UserError, match="unknown indicator 'l2'"):
        importance("l2")


class SmallestMean(Importance):
    """Whole rows of every hidden Linear, the rows with the *smallest* mean |w| first (a deliberately odd ranking)."""

    name, unit = "smallest-mean", "neuron"

    def candidates(self, model, scope):
        return L1Neuron().candidates(model, scope)

    def scores(self, units, c, start, seed):
        return -units.abs().mean(dim=1)


def test_a_users_own_importance_ranks_what_it_says():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 3))  # fmt: skip
    cands = candidates(model, SmallestMean(), "hidden")
    assert [c.name for c in cands] == ["2.weight", "4.weight"] and {c.unit_size for c in cands} == {8}
    locked, key = extract(model, k=3, indicator=SmallestMean())
    rows = torch.cat([model[2].weight, model[4].weight]).detach().abs().mean(dim=1)
    expected = set(torch.argsort(rows)[:3].tolist())  # by hand: the three rows of smallest mean |w|
    taken = {i for e in key.entries for i in (e.positions + (8 if e.name == "4.weight" else 0)).tolist()}
    assert taken == expected
    assert key.meta["indicator"] == "smallest-mean"
    restored = key.restore(locked)
    assert all(torch.equal(a, b) for a, b in zip(restored.parameters(), model.parameters()))


def test_the_api_pages_importance_example_runs():
    """docs/api.md's own-importance block, executed on a small MLP (the page's model comes from its first block)."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "class SmallestMean" in b)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 3))  # fmt: skip
    exec(compile(block, "docs/api.md", "exec"), {"extract": extract, "model": model})
