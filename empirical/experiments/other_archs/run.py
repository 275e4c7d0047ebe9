"""Tables 6–7 at CPU scale: CoreLocker on a ViT and an LSTM (the paper's Appendix B.2).

The paper locks BERT (AG News), a CNN-LSTM (CIFAR-10) and a ViT (CIFAR-100) at a global ratio of 0.05
(Table 6) and shows granular utility levels on the ViT (Table 7). Here: a small ViT on Fashion-MNIST
and an LSTM reading MNIST row by row (``empirical.nets.others``); no text data set ships in a package
this machine can install, so there is no BERT row (the README says so). Per model (a resumable cell):

* Table 6: test accuracy of the original, of ℓ1 single weights (CoreLocker), ℓ1 whole neurons (rows of
  every weight matrix), the LayerNorm scale (bn-scale's analogue; ViT only) and random weights
  (``random_seeds`` seeds) at ``ratio`` of the candidate units (first projection and classifier excluded);
* Table 7: the utility curve (ℓ1 weights and neurons) and its 10-point utility bins;
* the stage measurement at ``ratio`` (ℓ1) on ``check_samples`` test images: d, G and each block's own
  change e; attention and recurrence have no stated Lipschitz bound, so those stages get no chain bound
  and the report says which claims do not apply.
"""

from __future__ import annotations

import logging

import pandas as pd

from empirical.errors import UserError
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.rundir import Options, RunDir, check_only
from empirical.experiments.other_archs.config import TABLES, VARIANTS, OtherArchsConfig
from empirical.lock.extraction import extract
from empirical.lock.sweep import accuracy_curve
from empirical.lock.utility import utility_bins
from empirical.measure import measure
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.data import test_set_for
from empirical.nets.others import describe_other
from empirical.nets.train import RunOptions, accuracy, train

log = logging.getLogger(__name__)


def table6_rows(model, x, y, config: OtherArchsConfig, name: str) -> pd.DataFrame:
    rows = [dict(model=name, variant="original", indicator="—", seed=0, k=0, accuracy=accuracy(model, x, y)[0])]
    for variant, indicator in VARIANTS.items():
        try:
            locked, key = extract(model, config.ratio, indicator)
        except UserError as exc:  # no LayerNorm in an LSTM
            log.info("%s: %s: %s", name, variant, exc)
            continue
        rows.append(
            dict(
                model=name,
                variant=variant,
                indicator=indicator,
                seed=0,
                k=key.meta["k_total"],
                accuracy=accuracy(locked, x, y)[0],
            )
        )
    for s in range(config.random_seeds):
        locked, key = extract(model, config.ratio, "random", seed=s)
        rows.append(
            dict(
                model=name,
                variant="random weights",
                indicator="random",
                seed=s,
                k=key.meta["k_total"],
                accuracy=accuracy(locked, x, y)[0],
            )
        )
    return pd.DataFrame(rows)


def run_cell(m: dict, config: OtherArchsConfig, rd: RunDir, device="cpu", progress=True) -> None:
    spec = config.spec(m)
    path = train(spec, rd.cell_dir(m["name"]), RunOptions(device=device, progress=progress))
    model, meta = load_checkpoint(path, device)
    model.eval()
    x, y = test_set_for(meta["spec"], device=device)
    t6 = table6_rows(model, x, y, config, m["name"])
    curves = pd.concat(
        [accuracy_curve(model, x, y, config.curve, ind) for ind in ("l1", "l1-neuron")], ignore_index=True
    )
    bins = utility_bins(curves, width=0.1)
    locked, _ = extract(model, config.ratio, "l1")
    n = config.check_samples
    stages = measure(model, locked, x[:n], y[:n], batch=250).layers
    n_params = sum(p.numel() for p in model.parameters())
    models = pd.DataFrame(
        [
            dict(
                model=m["name"],
                network=describe_other(m["arch"], m["hidden_layers"], m["width"]),
                dataset=m["dataset"],
                epochs=m["epochs"],
                n_parameters=n_params,
                acc_original=meta.get("test_acc"),
            )
        ]
    )
    tables = dict(table6=t6, curves=curves, bins=bins, stages=stages, models=models)
    for df in tables.values():
        if "model" not in df:
            df.insert(0, "model", m["name"])
    rd.finish(m["name"], tables, {"model": m["name"]})


def run(config: OtherArchsConfig, run_dir, options: Options = Options()) -> dict[str, pd.DataFrame]:
    rd = RunDir(run_dir, KIND, config.to_json(), TABLES)
    models = {m["name"]: m for m in config.models}
    check_only(options.only, models)
    with rd.open():
        tables = rd.run_cells(
            list(models),
            lambda name: run_cell(models[name], config, rd, options.device, options.progress),
            options.only,
        )
    return tables


KIND = "other-archs"
DEFAULT_PRESET = "default"
PRESET_ALIASES = {"--quick": "quick"}
DESCRIPTION = (
    "Train each model, lock it at --ratio (l1 weights, l1 neurons, LayerNorm scale, random), sweep the utility curve "
    "(Table 7's bins) and measure every block; write report.md."
)


def add_arguments(p) -> None:
    """How an other-archs run goes: nothing beyond the shared flags (``--quick`` is the quick preset: tiny models,
    one epoch on 2,000 images, a smoke test)."""


def options(args) -> Options:
    return Options(**common_options(args))


def summary(config: OtherArchsConfig, tables: dict[str, pd.DataFrame]) -> str:
    return tables["table6"].groupby(["model", "variant"], sort=False)["accuracy"].mean().round(4).to_string()
