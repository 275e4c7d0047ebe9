"""The ablation's docs page (``empirical.experiments.ablation.page``) on a copy of the committed run."""

import shutil
from pathlib import Path

import pandas as pd

from empirical.experiments.ablation import page

ROOT = Path(__file__).resolve().parents[4]


def test_ablation_page_separates_recipe_from_length_once_adam_long_is_measured(tmp_path):
    """Adam trained as long as SGD: the page compares it with Adam and SGD and says which moved bn-scale."""
    run = tmp_path / "ablation"
    shutil.copytree(ROOT / "results" / "fashion-mnist-ablation", run)
    for table in ("locked", "models", "gammas"):  # the run as it was before the adam-long cells
        df = pd.read_csv(run / f"{table}.csv")
        df[df.recipe != "adam-long"].to_csv(run / f"{table}.csv", index=False)
    assert "`adam-long`) is still to run" in page.page(run)
    locked, models = pd.read_csv(run / "locked.csv"), pd.read_csv(run / "models.csv")
    pick = lambda df: df[(df.arch == "vgg") & (df.recipe == "adam") & (df.seed.fillna(0) == 0)].copy()  # noqa: E731
    long = pick(locked).assign(recipe="adam-long")
    bn = long.variant == "bn-scale (global |γ|)"
    long.loc[bn, "accuracy"] = 0.80  # adam 84.4 %, sgd 74.1 %: length moves it 4.4 pp, the recipe 5.9 pp
    pd.concat([locked, long]).to_csv(run / "locked.csv", index=False)
    pd.concat([models, pick(models).assign(recipe="adam-long", epochs=6)]).to_csv(run / "models.csv", index=False)
    text = page.page(run)
    assert "vgg: adam 84.4 % (3 ep), adam-long 80.0 % (6 ep), sgd 74.1 % (6 ep)" in text
    assert (
        "at seed 0 the SGD recipe (optimizer, lr 0.1, momentum, weight decay and schedule together) moves it more"
        in text
    )
    assert "adam-long locks in 0 of its 1 seed runs (vgg 80.0 %)" in text
