"""Table 1 as the authors ran it: which ingredient makes bn-scale lock a conv net (Fashion-MNIST, CPU scale).

Our Table 1 run reproduces the paper's ℓ1 column (chance at ratio 0.05) but bn-scale leaves 59–89 %
where the paper reports 10.00 %. The authors' released demo ranks |γ| globally over every BN layer and
zeroes γ and β; its models follow Network Slimming (Liu et al. 2017): pre-activation ResNets whose final
BN feeds the classifier, γ initialised to 0.5, SGD (momentum 0.9, lr 0.1 ÷ 10 at 50 % and 75 %, weight
decay 1e-4), optionally a sparsity penalty s·Σ|γ|. This experiment changes one ingredient at a time:

* **architecture**: ``vgg`` (BN after every conv), ``resnet`` (post-activation blocks: no BN feeds the
  classifier) and ``preresnet`` (pre-activation blocks and a final BN-ReLU before the classifier);
* **recipe** (training): ``adam`` (our Table 1: Adam 1e-3, γ = 1), ``sgd`` (Network Slimming's
  optimizer and schedule), ``bn-init`` (γ = 0.5), ``sparsity`` (s = 1e-4), ``all`` (all three);
* **extraction** (no retraining): bn-scale by raw |γ| globally (the paper's), per layer, by the folded
  scale |γ|/√(σ² + ε), ℓ1 filters F_(s,t), ℓ1 whole output channels removed with their feature map
  (``l1-channel``), and random filters — all at ratio 0.05 of the candidate units.

Per locked model: test accuracy, the extracted units per layer, the histogram of predicted classes (a
model that outputs one constant class scores exactly chance, the paper's 10.00 %), the key's share of
all parameters; per trained model the |γ| distribution of every BN layer (the figure). Cells are
architecture × recipe, resumable (``empirical.experiments.common.rundir``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from empirical._io import write_csv
from empirical.errors import UserError
from empirical.experiments.ablation.config import (
    RECIPES,
    REVIEW_CELLS,
    TABLES,
    VARIANTS,
    AblationConfig,
    _config_of,
    _merge,
    cell_name,
    sparsity_dose,
    with_seed,
)
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.rundir import Options, RunDir, check_only
from empirical.lock.extraction import extract
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.convnets import describe
from empirical.nets.data import test_set_for
from empirical.nets.train import RunOptions, train

log = logging.getLogger(__name__)

KIND = "ablation"
DESCRIPTION = (
    "Train each architecture × recipe (adam, sgd, bn-init, sparsity, all) on Fashion-MNIST, lock every trained model "
    "with each extraction variant at --ratio, record accuracy, extracted counts per layer, predicted-class histograms "
    "and the |γ| distributions; write report.md. Run the same command to resume."
)
# the run's grid, and the same extended by the review's cells (the run extends; finished cells are kept)
PRESETS = {"default": AblationConfig(), "review": AblationConfig(extra_cells=REVIEW_CELLS)}
DEFAULT_PRESET = "default"
PRESET_ALIASES = {"--review-cells": "review"}
ONLY = "vgg_adam,vgg_sgd,vgg_all_s1"


def gamma_table(model, arch: str, recipe: str, seed: int = 0, epoch: int | None = None) -> pd.DataFrame:
    """Per BN layer the distribution of |γ| and of the folded scale |γ|/√(σ² + ε) (after ``epoch``)."""
    rows = []
    bns = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for i, (name, bn) in enumerate(bns):
        g = bn.weight.detach().abs().double()
        folded = g / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        row = dict(arch=arch, recipe=recipe, seed=seed, epoch=epoch, bn_index=i, bn=name, channels=bn.num_features)
        for label, v in (("gamma", g), ("folded", folded)):
            q = torch.quantile(v, torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)).tolist()
            row.update(
                {f"{label}_q05": q[0], f"{label}_median": q[1], f"{label}_q95": q[2], f"{label}_max": float(v.max())}
            )
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def locked_rows(model, x, y, config: AblationConfig, arch: str, recipe: str, seed: int = 0) -> pd.DataFrame:
    """Every extraction variant at the configured ratio: accuracy, counts per layer, predicted classes."""
    n_params = sum(p.numel() for p in model.parameters())
    preds0 = model(x).argmax(1)
    hist0 = np.bincount(preds0.cpu().numpy(), minlength=10)
    rows = [
        dict(
            arch=arch,
            recipe=recipe,
            seed=seed,
            variant="original",
            indicator="—",
            mode="—",
            accuracy=float((preds0 == y).float().mean()),
            k=0,
            key_share_of_parameters=0.0,
            counts_per_layer="{}",
            class_histogram=json.dumps(hist0.tolist()),
            top_class_share=float(hist0.max() / len(y)),
        )
    ]
    for variant, (indicator, mode, random_seed) in VARIANTS.items():  # (the random ranking's seed, not training's)
        try:
            locked, key = extract(model, config.ratio, indicator, mode=mode, seed=random_seed)
        except UserError as exc:  # e.g. no candidate layer of that kind in this architecture
            log.warning("%s/%s: %s: %s", arch, recipe, variant, exc)
            continue
        preds = locked.eval()(x).argmax(1)
        hist = np.bincount(preds.cpu().numpy(), minlength=10)
        rows.append(
            dict(
                arch=arch,
                recipe=recipe,
                seed=seed,
                variant=variant,
                indicator=indicator,
                mode=mode,
                accuracy=float((preds == y).float().mean()),
                k=key.meta["k_total"],
                key_share_of_parameters=key.n_values / n_params,
                counts_per_layer=json.dumps({k: v for k, v in key.meta["counts"].items() if v}),
                class_histogram=json.dumps(hist.tolist()),
                top_class_share=float(hist.max() / len(y)),
            )
        )
    return pd.DataFrame(rows)


def run_cell(
    arch: str, recipe: str, config: AblationConfig, rd: RunDir, device="cpu", progress=True, seed: int | None = None
) -> None:
    seed = config.seed if seed is None else seed
    spec = config.spec(arch, recipe, seed)
    cdir = rd.cell_dir(cell_name(arch, recipe, seed))
    t0 = time.perf_counter()
    per_epoch = []  # the γ spread after every epoch (how far the recipe moved γ from its init)

    def on_epoch(epoch, model, row):
        per_epoch.append(gamma_table(model, arch, recipe, seed, epoch))

    path = train(spec, cdir, RunOptions(device=device, progress=progress, on_epoch=on_epoch))
    model, meta = load_checkpoint(path, device)
    model.eval()
    x, y = test_set_for(meta["spec"], device=device)
    h, w = config.sizes[arch]
    models = pd.DataFrame(
        [
            dict(
                arch=arch,
                recipe=recipe,
                seed=seed,
                network=describe(arch, int(h), int(w)),
                epochs=spec.epochs,
                n_parameters=sum(p.numel() for p in model.parameters()),
                acc_original=meta.get("test_acc"),
                seconds=round(time.perf_counter() - t0, 1),
                sparsity_dose=sparsity_dose(spec),
                **{k: v for k, v in RECIPES[recipe].items() if k != "length"},
            )
        ]
    )
    final = gamma_table(model, arch, recipe, seed, spec.epochs)
    if per_epoch and int(per_epoch[-1]["epoch"].iloc[0]) == spec.epochs:  # a resumed run logs its later epochs only
        per_epoch = per_epoch[:-1]
    tables = dict(
        locked=locked_rows(model, x, y, config, arch, recipe, seed),
        gammas=pd.concat([*per_epoch, final], ignore_index=True),
        models=models,
    )
    rd.finish(cell_name(arch, recipe, seed), tables, {"arch": arch, "recipe": recipe, "seed": seed})


def run(config: AblationConfig, run_dir, options: Options = Options()) -> dict[str, pd.DataFrame]:
    """Every cell not finished yet (``options.only``: a subset of the cell names), then the report. A run
    extends: the cells of an earlier configuration's ``extra_cells`` are kept."""
    check_only(options.only, [cell_name(*c) for c in config.cells()])
    rd = RunDir(run_dir, KIND, config.to_json(), TABLES, merge=_merge, defaults={"extra_cells": []})
    with rd.open():
        merged = _config_of(rd.config)
        cells = {cell_name(*c): c for c in merged.cells()}

        def run_one(name):
            arch, recipe, seed = cells[name]
            log.info("ablation cell %s: training %s", name, merged.spec(arch, recipe, seed).key())
            run_cell(arch, recipe, merged, rd, options.device, options.progress, seed)

        tables = rd.run_cells(list(cells), run_one, options.only)
        for name, df in tables.items():  # cells written before seeds existed are seed 0: every row says so
            if len(df) and "seed" in df and df["seed"].isna().any():
                tables[name] = with_seed(df)
                write_csv(Path(run_dir) / f"{name}.csv", tables[name])
    return tables


def add_arguments(p) -> None:
    """How the ablation runs: nothing beyond the shared flags (its configuration's options come from
    ``AblationConfig``; ``--review-cells`` is the review preset)."""


def options(args) -> Options:
    return Options(**common_options(args))


def summary(config: AblationConfig, tables: dict[str, pd.DataFrame]) -> str:
    locked = with_seed(tables["locked"])
    table = locked.pivot_table(index=["arch", "recipe", "seed"], columns="variant", values="accuracy").round(3)
    return f"{table}"
