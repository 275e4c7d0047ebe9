"""Table 1's configuration (``empirical.experiments.table1.run``): the paper's numbers, the config dataclass and the
run directory (a run may add architectures)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from empirical._io import write_csv
from empirical.errors import UserError
from empirical.experiments.common.configure import option
from empirical.experiments.common.presets import check_sizes_given, sizes_field, sizes_for
from empirical.experiments.common.rundir import RunDir, read_config
from empirical.lock.ratio import check_ratio
from empirical.nets.convnets import CONV_ARCHS

PAPER_FASHION = {  # Table 1, Fashion-MNIST column (%, ratio 0.05): DenseNet-40, ResNet-164, VGG-19
    "densenet": {"model": "DenseNet-40", "original": 94.62, "random": 91.17, "l1": 10.01, "bn-scale": 10.00},
    "resnet": {"model": "ResNet-164", "original": 94.88, "random": 88.24, "l1": 10.00, "bn-scale": 10.01},
    "vgg": {"model": "VGG-19", "original": 93.50, "random": 82.30, "l1": 9.72, "bn-scale": 10.00},
}
TABLE1_ARCHS = ("vgg", "resnet", "densenet")  # the paper's Table 1 (as VGG-19, ResNet-164, DenseNet-40)
TABLES = ("models", "table1", "curves", "bounds_checks")
CELL_TABLES = ("models", "curves", "bounds_checks")


@dataclass(frozen=True)
class Table1Config:
    """Everything that changes the results (written to ``config.json``; a different one is refused)."""

    archs: tuple[str, ...] = field(
        default=TABLE1_ARCHS, metadata=option(f"architectures, a subset of {','.join(CONV_ARCHS)}")
    )
    sizes: dict = sizes_field("resnet=1,8")  # (hidden_layers, width) of each architecture run
    dataset: str = "fashion-mnist"
    epochs: int = field(default=4, metadata=option("training epochs"))
    train_subset: int | None = field(
        default=None, metadata=option("train on the first N training images only", show=lambda v: v or "all 60000")
    )
    ratio: float = field(default=0.05, metadata=option("Table 1's extraction ratio"))
    ratios: tuple[float, ...] = field(
        default=(0.0001, 0.0003, 0.001, 0.003, 0.01, 0.02, 0.05), metadata=option("the curve's ratios")
    )
    random_seeds: int = field(default=5, metadata=option("random-filter seeds at --ratio"))
    # of those, the ones swept over the whole curve (each sweep is len(ratios) evaluations); at most random_seeds
    curve_random_seeds: int = field(default=2, metadata=option("of the random seeds, those swept over all --ratios"))
    check_samples: int = field(default=500, metadata=option("test images for the bound checks"))
    seed: int = 0
    channels_last: bool = True
    precision: str = "fp32"

    def __post_init__(self):
        object.__setattr__(self, "archs", tuple(self.archs))
        bad = [a for a in self.archs if a not in CONV_ARCHS]
        if bad or not self.archs:
            raise UserError(f"unknown architecture(s) {bad}; choose from {', '.join(CONV_ARCHS)}")
        object.__setattr__(self, "sizes", sizes_for(self.archs, self.sizes))
        object.__setattr__(self, "ratios", tuple(self.ratios))
        object.__setattr__(self, "curve_random_seeds", min(self.curve_random_seeds, self.random_seeds))
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

    def overridden(self, **given) -> Table1Config:
        """This preset with the options given (``empirical.experiments.common.configure``)."""
        config = replace(self, **given)
        check_sizes_given(self.sizes, given.get("sizes", {}), config.archs)
        return config

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def _merge(old: dict, new: dict) -> dict:
    """A Table 1 run may add architectures (with their sizes); every other field, and the sizes of the
    architectures both hold, must match."""
    old_sizes, new_sizes = old.get("sizes") or {}, new.get("sizes") or {}
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in ("archs", "sizes"))
    diff += ["sizes"] * any(old_sizes[a] != new_sizes[a] for a in set(old_sizes) & set(new_sizes))
    if diff:
        raise UserError(
            f"this directory holds a Table 1 run with another configuration (differs in: {', '.join(diff)})"
        )
    old_archs = old.get("archs", [])
    if not isinstance(old_archs, list) or not isinstance(old_sizes, dict):
        raise UserError("config.json: archs is not a list or sizes not a mapping")
    archs = sorted(set(old_archs) | set(new["archs"]), key=CONV_ARCHS.index)
    return {**new, "archs": archs, "sizes": {a: {**old_sizes, **new_sizes}[a] for a in archs}}


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
