"""A training run's specification (``TrainSpec``): architecture and size, data and normalisation, the recipe
(optimizer, schedule, BN init and sparsity), precision and seed. Its hash keys every run's files; fields left at
their defaults are left out of it, so specs written before a field existed keep their keys."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, fields

from bounds.fcn_grid import n_parameters
from empirical.errors import UserError
from empirical.nets import data as data_mod
from empirical.nets.models import ARCHS


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines the trained weights; its hash names the cell."""

    hidden_layers: int
    width: int
    epochs: int
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    dataset: str = "mnist"
    normalization: str = "standardize"
    train_subset: int | None = None  # first n training images; None: all
    precision: str = "fp32"  # "bf16": bf16 autocast (AMX on Sapphire Rapids); changes the weights
    arch: str = "fcn"  # fcn | vgg | resnet | preresnet | densenet (conv nets: empirical.nets.convnets)
    channels_last: bool = False  # conv nets: channels-last memory format (a speed choice; same maths)
    # training recipe (Table 1 as the authors ran it; defaults = the paper's Section 5.1.1 protocol)
    optimizer: str = "adam"  # adam | sgd
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    schedule: str = "none"  # none | step (lr ÷ 10 at 50 % and 75 % of the epochs) | cosine (per epoch)
    bn_init: float | None = None  # every BN γ initialised to this value (Network Slimming: 0.5); None: PyTorch's 1
    bn_sparsity: float = 0.0  # Network Slimming's sparsity penalty s·Σ|γ| (subgradient s·sign(γ) added to γ's grad)

    def __post_init__(self):
        for name in ("hidden_layers", "width", "epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise UserError(f"{name} must be a whole number >= 1, got {v!r}")
        if self.epochs > 100_000 or self.batch_size > 1_000_000:
            raise UserError(f"epochs {self.epochs} / batch_size {self.batch_size} out of range")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or not 0 <= self.seed < 2**63:
            raise UserError(f"seed must be a whole number in 0 .. 2^63 - 1, got {self.seed!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"lr must be a finite number > 0, got {self.lr}")
        if self.train_subset is not None and not 1 <= int(self.train_subset) <= 10**9:
            raise UserError(f"train_subset must be >= 1 (or absent), got {self.train_subset}")

        if self.arch not in ARCHS:
            raise UserError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.arch != "fcn" and (int(self.hidden_layers) > 64 or int(self.width) > 1024):
            raise UserError(
                f"a {self.arch} with hidden_layers {self.hidden_layers} and width {self.width} is too large"
            )
        if self.arch in ("fcn", "vit", "lstm") and self.channels_last:
            raise UserError("channels_last applies to conv nets only")
        if int(self.hidden_layers) > 10_000 or int(self.width) > 1_000_000:
            raise UserError(f"a {self.hidden_layers} × {self.width} FCN is beyond any machine (refusing to allocate)")
        if self.arch == "fcn":
            need = 16 * n_parameters(int(self.hidden_layers), int(self.width))  # weights, grads, 2 Adam moments
            if need > _total_memory():
                raise UserError(
                    f"a {self.hidden_layers} × {self.width} FCN needs about {need / 2**30:.1f} GiB to train; "
                    f"this machine has {_total_memory() / 2**30:.1f} GiB"
                )
        if self.normalization not in data_mod.NORMALIZATIONS:
            raise UserError(f"unknown normalization {self.normalization!r}")
        if self.precision not in ("fp32", "bf16"):
            raise UserError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        for name in ("momentum", "weight_decay", "bn_sparsity"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v < (1 if name == "momentum" else 10)):
                raise UserError(f"{name} must be in [0, {1 if name == 'momentum' else 10}), got {v}")
        if self.bn_init is not None and not (math.isfinite(self.bn_init) and 0 < abs(self.bn_init) <= 100):
            raise UserError(f"bn_init must be a finite non-zero number, got {self.bn_init}")
        if self.arch == "fcn" and (self.bn_init is not None or self.bn_sparsity):
            raise UserError("bn_init and bn_sparsity apply to networks with batch norm, not to the FCN")

    def as_dict(self) -> dict:
        """The spec as stored; the conv-only fields are left out for an FCN, and the recipe fields when they
        hold their defaults, so keys and spec files written before those fields existed stay valid."""
        d = asdict(self)
        if self.arch == "fcn":
            d.pop("arch"), d.pop("channels_last")
        for f in fields(self):
            if f.name in RECIPE_FIELDS and d.get(f.name) == f.default:
                d.pop(f.name)
        return d

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_spec(cls, spec: dict) -> TrainSpec:
        """The TrainSpec of a checkpoint's spec (``load_checkpoint(...)[1]["spec"]``), ignoring its extra keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in spec.items() if k in names})


OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("none", "step", "cosine")
RECIPE_FIELDS = ("optimizer", "momentum", "weight_decay", "schedule", "bn_init", "bn_sparsity")


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not available: do not refuse on this ground
        return 1 << 62
