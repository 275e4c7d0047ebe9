"""Table 1's configuration (``empirical.experiments.table1.run``): the paper's numbers, the config dataclass and the
run directory (a run may add architectures)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from empirical._io import write_csv
from empirical.errors import UserError
from empirical.experiments.common.rundir import RunDir, read_config
from empirical.lock.ratio import check_ratio
from empirical.nets.convnets import CONV_ARCHS, DEFAULTS

PAPER_FASHION = {  # Table 1, Fashion-MNIST column (%, ratio 0.05): DenseNet-40, ResNet-164, VGG-19
    "densenet": {"model": "DenseNet-40", "original": 94.62, "random": 91.17, "l1": 10.01, "bn-scale": 10.00},
    "resnet": {"model": "ResNet-164", "original": 94.88, "random": 88.24, "l1": 10.00, "bn-scale": 10.01},
    "vgg": {"model": "VGG-19", "original": 93.50, "random": 82.30, "l1": 9.72, "bn-scale": 10.00},
}
TABLES = ("models", "table1", "curves", "bounds_checks")
CELL_TABLES = ("models", "curves", "bounds_checks")


@dataclass(frozen=True)
class Table1Config:
    """Everything that changes the results (written to ``config.json``; a different one is refused)."""

    archs: tuple[str, ...] = CONV_ARCHS
    sizes: dict = field(default_factory=lambda: {a: list(DEFAULTS[a]) for a in CONV_ARCHS})
    dataset: str = "fashion-mnist"
    epochs: int = 4
    train_subset: int | None = None
    ratio: float = 0.05
    ratios: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.02, 0.05)
    random_seeds: int = 5  # at the Table 1 ratio
    curve_random_seeds: int = 2  # of those, the ones swept over the whole curve (each sweep is len(ratios) evaluations)
    check_samples: int = 500
    seed: int = 0
    channels_last: bool = True
    precision: str = "fp32"

    def __post_init__(self):
        bad = [a for a in self.archs if a not in CONV_ARCHS]
        if bad or not self.archs:
            raise UserError(f"unknown architecture(s) {bad}; choose from {', '.join(CONV_ARCHS)}")
        check_ratio(self.ratio)
        for r in self.ratios:
            check_ratio(r)
        if self.ratio not in self.ratios:
            object.__setattr__(self, "ratios", tuple(sorted({*self.ratios, self.ratio})))
        if self.epochs < 1 or self.random_seeds < 1 or not 1 <= self.check_samples <= 10_000:
            raise UserError("epochs and random_seeds must be >= 1, check_samples in 1..10000 (the test set)")
        if self.train_subset is not None and not 1 <= self.train_subset <= 60_000:
            raise UserError(f"train_subset must be in 1..60000, got {self.train_subset}")
        for arch in self.archs:
            size = self.sizes.get(arch)
            if not (isinstance(size, (list, tuple)) and len(size) == 2):
                raise UserError(f"size of {arch}: expected (hidden_layers, width), got {size!r}")
            h, w = size
            if not (1 <= int(h) <= 64 and 1 <= int(w) <= 1024):
                raise UserError(f"size of {arch}: hidden_layers must be in 1..64 and width in 1..1024, got {h}, {w}")
        if not 1 <= self.curve_random_seeds <= self.random_seeds:
            raise UserError("curve_random_seeds must be in 1..random_seeds")

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def _merge(old: dict, new: dict) -> dict:
    """A Table 1 run may add architectures; every other field must match."""
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "archs")
    if diff:
        raise UserError(
            f"this directory holds a Table 1 run with another configuration (differs in: {', '.join(diff)})"
        )
    old_archs = old.get("archs", [])
    if not isinstance(old_archs, list):
        raise UserError("config.json: archs is not a list")
    return {**new, "archs": sorted(set(old_archs) | set(new["archs"]), key=CONV_ARCHS.index)}


def rundir(run_dir, config: dict) -> RunDir:
    return RunDir(run_dir, "table1", config, CELL_TABLES, merge=_merge)


def summarize(curves: pd.DataFrame, models: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """Table 1: one row per architecture at ``ratio`` (accuracies in %), with the paper's numbers beside."""
    rows = []
    for arch in models["arch"]:
        at = curves[(curves.arch == arch) & np.isclose(curves.ratio, ratio)]
        rnd = at[at.indicator == "random"]["top1"] * 100
        m = models[models.arch == arch].iloc[0]
        first = at[at.indicator == "l1"].iloc[0]
        orig = float(m.acc_original) * 100
        paper = PAPER_FASHION[arch]
        rows.append(
            dict(
                arch=arch,
                model=m["name"],
                n_parameters=int(m.n_parameters),
                original=orig,
                random_mean=float(rnd.mean()),
                random_sd=float(rnd.std(ddof=1)) if len(rnd) > 1 else float("nan"),
                random_drop=orig - float(rnd.mean()),
                random_seeds=len(rnd),
                l1=float(at[at.indicator == "l1"]["top1"].iloc[0]) * 100,
                bn_scale=float(at[at.indicator == "bn-scale"]["top1"].iloc[0]) * 100,
                l1_share_of_parameters=float(first.share_of_parameters),
                bn_share_of_parameters=float(at[at.indicator == "bn-scale"]["share_of_parameters"].iloc[0]),
                paper_model=paper["model"],
                paper_original=paper["original"],
                paper_random=paper["random"],
                paper_random_drop=round(paper["original"] - paper["random"], 2),
                paper_l1=paper["l1"],
                paper_bn_scale=paper["bn-scale"],
            )
        )
    return pd.DataFrame(rows)


def collect(run_dir) -> dict[str, pd.DataFrame]:
    """The finished cells' tables, concatenated, and Table 1 from them; writes the top-level tables atomically."""
    run_dir = Path(run_dir)
    rd = RunDir(run_dir, "table1", {}, CELL_TABLES)
    out = rd.collect(CONV_ARCHS)
    if len(out["models"]):
        cfg = read_config(run_dir / "config.json")
        out["table1"] = summarize(out["curves"], out["models"], cfg["ratio"])
        write_csv(run_dir / "table1.csv", out["table1"])
    else:
        out["table1"] = pd.DataFrame()
    return out


PRESETS = {"default": Table1Config()}
