"""The grid's configuration: the widths, depths, seeds, ratios and training of every cell (config.json), the cells, and
the presets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from bounds.fcn_grid import n_parameters
from empirical.errors import UserError
from empirical.experiments.common.configure import option
from empirical.experiments.common.presets import RATIOS
from empirical.lock.ratio import check_ratio
from empirical.lock.utility import CHANCE

PRECISIONS = ("fp32", "bf16")  # bf16: autocast training (see benchmarks/results/precision.md)


@dataclass(frozen=True)
class GridConfig:
    """Everything that determines a grid's results (its ``config.json``)."""

    widths: tuple[int, ...] = field(metadata=option("widths, e.g. 100,200"))
    hidden_layers: tuple[int, ...] = field(metadata=option("hidden layers (depths), e.g. 4,8,13"))
    epochs: int = field(metadata=option("training epochs"))
    ratios: tuple[float, ...] = field(metadata=option("extraction ratios, e.g. 0.00002,0.001"))
    seeds: tuple[int, ...] = field(default=(0,), metadata=option("training seeds, e.g. 0,1"))
    random_seeds: int = field(default=3, metadata=option("seeds of the random-extraction baseline per network"))
    precision: str = field(
        default="fp32",
        metadata=option("training precision (bf16: autocast; part of the configuration)", choices=PRECISIONS),
    )
    lr: float = 1e-3
    batch_size: int = 128
    train_subset: int | None = field(
        default=None, metadata=option("train on the first N training images", show=lambda v: v or "all 60000")
    )
    dataset: str = "mnist"
    normalization: str = "standardize"
    indicator: str = "l1"
    n_check: int = 1000  # test images for the per-layer bound checks
    targets: tuple[float, ...] = (0.5, 0.15)  # critical-ratio accuracies: 50 % and chance + 5 pp
    mc_networks: int = 32  # re-initialised networks for Theorem 1's Monte Carlo
    preset: str = "custom"  # the preset's name, "+custom" when the networks or ratios were changed

    def __post_init__(self):
        for name in ("widths", "hidden_layers", "ratios", "seeds"):  # sets, in order (as read back from disk)
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))
        object.__setattr__(self, "targets", tuple(self.targets))
        for name in ("widths", "hidden_layers", "ratios", "seeds"):
            vals = getattr(self, name)
            if not vals:
                raise UserError(f"--{name.replace('_', '-')} is empty")
        if min(self.widths) < 1 or max(self.widths) > 100_000:
            raise UserError(f"widths must be in 1..100000, got {list(self.widths)}")
        if min(self.hidden_layers) < 2 or max(self.hidden_layers) > 1000:
            raise UserError(f"hidden layers must be in 2..1000 (the hidden scope needs W⁽²⁾), got {self.hidden_layers}")
        if self.epochs < 1:
            raise UserError(f"epochs must be >= 1, got {self.epochs}")
        for r in self.ratios:
            check_ratio(r)
        if self.random_seeds < 1:
            raise UserError(f"random seeds must be >= 1, got {self.random_seeds}")
        if not 1 <= self.n_check <= 10_000 or self.mc_networks < 2:
            raise UserError("n_check must be in 1..10000 (the test set) and mc_networks >= 2")
        if self.train_subset is not None and not 1 <= self.train_subset <= 60_000:
            raise UserError(f"train_subset must be in 1..60000, got {self.train_subset}")
        if any(not 0 <= s < 2**63 for s in self.seeds) or not 1 <= self.random_seeds <= 1000:
            raise UserError("training seeds must be in 0 .. 2^63 - 1 and random seeds in 1..1000")
        if not 0 < self.lr < 10 or not 1 <= self.batch_size <= 60_000 or self.epochs > 100_000:
            raise UserError("lr must be in (0, 10), batch_size in 1..60000 and epochs <= 100000")
        for t in self.targets:
            if not CHANCE < t < 1:
                raise UserError(f"critical-ratio targets must lie in (chance {CHANCE}, 1), got {t}")
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be fp32 or bf16, got {self.precision!r}")

    def overridden(self, **given) -> GridConfig:
        """This preset with the options given (``empirical.experiments.common.configure``); changing its networks,
        epochs or ratios makes its name ``<preset>+custom``."""
        custom = given.keys() & {"widths", "hidden_layers", "epochs", "ratios"}
        return replace(self, **given, preset=f"{self.preset}+custom" if custom else self.preset)

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # tuples → lists, as read back from disk

    def cells(self) -> list[Cell]:
        return [Cell(h, w, s) for h in self.hidden_layers for w in self.widths for s in self.seeds]


@dataclass(frozen=True)
class Cell:
    hidden_layers: int
    width: int
    seed: int

    @property
    def name(self) -> str:
        return f"h{self.hidden_layers:02d}_w{self.width:05d}_s{self.seed}"

    @property
    def n_parameters(self) -> int:

        return n_parameters(self.hidden_layers, self.width)


PRESETS = {  # DESIGN.md's presets
    # the paper's grid: a GPU (≈2.8e17 training FLOP)
    "paper": GridConfig(tuple(range(1000, 8001, 1000)), tuple(range(4, 14)), 50, RATIOS, preset="paper"),
    # hours on 2 CPU cores
    "cpu": GridConfig(tuple(range(100, 801, 100)), tuple(range(4, 14)), 15, RATIOS, preset="cpu"),
    # the README demo: minutes on 2 cores
    "quick": GridConfig((64, 128, 256), tuple(range(4, 14)), 2, RATIOS, preset="quick"),
    # tests
    "tiny": GridConfig(
        (16, 32),
        (2, 3),
        1,
        (0.00002, 0.01, 0.1),
        train_subset=2000,
        random_seeds=2,
        n_check=200,
        mc_networks=8,
        preset="tiny",
    ),
}
