"""The ablation's configuration (``empirical.experiments.ablation.run``): the training recipes, the review's extra
cells, the extraction variants, the config dataclass and the sparsity dose."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from empirical.errors import UserError
from empirical.experiments.common.configure import option
from empirical.experiments.common.presets import check_sizes_given, sizes_field, sizes_for
from empirical.experiments.common.rundir import differing_fields
from empirical.lock.ratio import check_ratio
from empirical.lock.utility import CHANCE
from empirical.nets.convnets import CONV_ARCHS
from empirical.nets.train import TrainSpec, lr_at

RECIPES = {
    "adam": dict(optimizer="adam", lr=1e-3),
    "sgd": dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="step"),
    "bn-init": dict(optimizer="adam", lr=1e-3, bn_init=0.5),
    "sparsity": dict(optimizer="adam", lr=1e-3, bn_sparsity=1e-4),
    "all": dict(
        optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="step", bn_init=0.5, bn_sparsity=1e-4
    ),
    # review cells (issue 29): Adam as long as the SGD recipes (recipe and length no longer confounded), and
    # "all" with Network Slimming's sparsity *dose*: s·Σlr/(1 − momentum) ≈ 3 over our ~1,400 steps (NS's
    # s = 1e-4 over 160 CIFAR epochs gives ≈ 3.3; our "all" gives ≈ 0.075); see sparsity_dose
    "adam-long": dict(optimizer="adam", lr=1e-3, length="sgd"),
    "all-ns-dose": dict(
        optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="step", bn_init=0.5, bn_sparsity=4e-3
    ),
}
GRID_RECIPES = ("adam", "sgd", "bn-init", "sparsity", "all")  # the archs × recipes grid (the others: review cells)
# the cells the review asked for, beyond the arch × recipe grid at seed 0: (arch, recipe, seed), in run order
REVIEW_CELLS = (
    *((a, "all-ns-dose", 0) for a in ("resnet", "preresnet", "vgg")),
    # within 5 pp of the lock threshold (chance + 5 pp) for bn-scale or l1 filters at seed 0
    *(
        (a, r, s)
        for s in (1, 2)
        for a, r in (
            ("resnet", "sgd"),
            ("resnet", "all"),
            ("preresnet", "all"),
            ("vgg", "all"),
            ("vgg", "adam"),
            ("vgg", "sgd"),
            ("preresnet", "sgd"),
            ("preresnet", "sparsity"),
        )
    ),
    *((a, "adam-long", 0) for a in ("resnet", "preresnet", "vgg")),
    # the second review (issue 39): three seeds behind Network Slimming's dose and behind Adam as long as SGD
    *((a, r, s) for r in ("all-ns-dose", "adam-long") for s in (1, 2) for a in ("resnet", "preresnet", "vgg")),
)
VARIANTS = {  # name: (indicator, mode, random seed)
    "bn-scale (global |γ|)": ("bn-scale", "global", 0),
    "bn-scale (per layer)": ("bn-scale", "per-layer", 0),
    "bn-folded (global |γ|/√(σ²+ε))": ("bn-folded", "global", 0),
    "l1 filters": ("l1", "global", 0),
    "l1 channels + feature maps": ("l1-channel", "global", 0),
    "random filters (seed 0)": ("random", "global", 0),
    "random filters (seed 1)": ("random", "global", 1),
    # §3.2 as written: the filters linked to the largest |γ| (conv output channel and its BN channel together);
    # in the cells trained after it was added
    "bn-filter (global |γ|, filter + BN channel)": ("bn-filter", "global", 0),
}
TABLES = ("locked", "gammas", "models")


@dataclass(frozen=True)
class AblationConfig:
    archs: tuple[str, ...] = field(
        default=("vgg", "resnet", "preresnet"), metadata=option(f"architectures, a subset of {','.join(CONV_ARCHS)}")
    )
    sizes: dict = sizes_field("preresnet=2,16")  # (hidden_layers, width) of each architecture run
    recipes: tuple[str, ...] = field(
        default=GRID_RECIPES, metadata=option(f"training recipes, a subset of {','.join(RECIPES)}")
    )
    epochs_adam: int = field(default=3, metadata=option("epochs of the Adam recipes"))
    epochs_sgd: int = field(default=6, metadata=option("epochs of the SGD recipes (a step schedule needs more)"))
    train_subset: int | None = field(default=30_000, metadata=option("train on the first N training images"))
    ratio: float = field(default=0.05, metadata=option("the extraction ratio"))
    dataset: str = "fashion-mnist"
    seed: int = 0
    channels_last: bool = True
    extra_cells: tuple = ()  # (arch, recipe, seed) beyond archs × recipes at ``seed`` (e.g. REVIEW_CELLS)
    kind: str = "ablation"

    def __post_init__(self):
        object.__setattr__(self, "archs", tuple(self.archs))
        object.__setattr__(self, "recipes", tuple(self.recipes))
        extra = [tuple(c) for c in self.extra_cells]
        object.__setattr__(self, "extra_cells", tuple((str(a), str(r), int(s)) for a, r, s in extra))
        bad = [a for a in self.archs if a not in CONV_ARCHS] + [r for r in self.recipes if r not in RECIPES]
        bad += [f"{a}/{r}" for a, r, _ in self.extra_cells if a not in self.archs or r not in RECIPES]
        if bad or not self.archs or not self.recipes:
            raise UserError(f"unknown architecture(s) or recipe(s) {bad}; archs {CONV_ARCHS}, recipes {tuple(RECIPES)}")
        check_ratio(self.ratio)
        if not (1 <= self.epochs_adam <= 1000 and 1 <= self.epochs_sgd <= 1000):
            raise UserError("epochs must be in 1..1000")
        if self.train_subset is not None and not 1 <= self.train_subset <= 60_000:
            raise UserError(f"train_subset must be in 1..60000, got {self.train_subset}")
        object.__setattr__(self, "sizes", sizes_for(self.archs, self.sizes))
        for a in self.archs:
            h, w = self.sizes[a]
            if not (1 <= int(h) <= 64 and 1 <= int(w) <= 1024):
                raise UserError(f"size of {a}: expected hidden_layers in 1..64 and width in 1..1024, got {h}, {w}")

    def overridden(self, **given) -> AblationConfig:
        """This preset with the options given (``empirical.experiments.common.configure``)."""
        config = replace(self, **given)
        check_sizes_given(self.sizes, given.get("sizes", {}), config.archs)
        return config

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def cells(self) -> list[tuple[str, str, int]]:
        grid = [(a, r, self.seed) for a in self.archs for r in self.recipes]
        return grid + [c for c in self.extra_cells if c not in grid]

    def spec(self, arch: str, recipe: str, seed: int | None = None) -> TrainSpec:
        h, w = self.sizes[arch]
        rec = dict(RECIPES[recipe])
        length = rec.pop("length", rec["optimizer"])  # whose epoch count: the SGD recipes' or Adam's
        epochs = self.epochs_sgd if length == "sgd" else self.epochs_adam
        return TrainSpec(
            hidden_layers=int(h),
            width=int(w),
            epochs=epochs,
            seed=self.seed if seed is None else seed,
            dataset=self.dataset,
            train_subset=self.train_subset,
            arch=arch,
            channels_last=self.channels_last,
            **rec,
        )


def cell_name(arch: str, recipe: str, seed: int = 0) -> str:
    return f"{arch}_{recipe}" + (f"_s{seed}" if seed else "")


def sparsity_dose(spec: TrainSpec) -> float:
    """The total γ shrink the sparsity term can cause: s · Σ_t lr_t / (1 − momentum) over every step of ``spec``
    (the subgradient s·sign(γ) is added to γ's gradient; momentum amplifies a constant push by 1/(1 − m)). Adam
    normalises the push away, so this dose describes SGD recipes only (NaN for Adam)."""
    if spec.optimizer != "sgd":
        return float("nan")
    steps_per_epoch = -(-(spec.train_subset or 60_000) // spec.batch_size)
    total_lr = sum(lr_at(spec, e) for e in range(spec.epochs)) * steps_per_epoch
    return spec.bn_sparsity * total_lr / (1 - (spec.momentum or 0.0))


def _config_of(d: dict) -> AblationConfig:
    return AblationConfig(**{k: v for k, v in d.items() if k in AblationConfig.__dataclass_fields__})


def _merge(old: dict, new: dict) -> dict:
    """An ablation run extends by extra cells (``extra_cells``: the union, earlier ones first); every other
    field must match."""
    diff = differing_fields(old, new, ("extra_cells",), {"extra_cells": []})
    if diff:
        raise UserError(
            f"this run holds an ablation with another configuration (differs in: {', '.join(diff)}); "
            "choose another --out"
        )
    cells = [list(c) for c in old.get("extra_cells", [])]
    cells += [list(c) for c in new.get("extra_cells", []) if list(c) not in cells]
    return {**old, "extra_cells": cells}


LOCK_THRESHOLD = CHANCE + 0.05  # a variant "locks" a network when its accuracy is at or below chance + 5 pp


def with_seed(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of cells written before seeds existed are seed 0."""
    df = df.copy()
    df["seed"] = df["seed"].fillna(0).astype(int) if "seed" in df else 0
    return df
