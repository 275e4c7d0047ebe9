"""The grid's configuration: the widths, depths, seeds, ratios and training of every cell (config.json), the cells, and
the presets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bounds.fcn_grid import n_parameters
from empirical.errors import UserError
from empirical.experiments.common.presets import Preset
from empirical.lock.ratio import check_ratio
from empirical.lock.utility import CHANCE


@dataclass(frozen=True)
class GridConfig:
    """Everything that determines a grid's results (its ``config.json``)."""

    widths: tuple[int, ...]
    hidden_layers: tuple[int, ...]
    epochs: int
    ratios: tuple[float, ...]
    seeds: tuple[int, ...] = (0,)
    random_seeds: int = 3
    precision: str = "fp32"
    lr: float = 1e-3
    batch_size: int = 128
    train_subset: int | None = None
    dataset: str = "mnist"
    normalization: str = "standardize"
    indicator: str = "l1"
    n_check: int = 1000  # test images for the per-layer bound checks
    targets: tuple[float, ...] = (0.5, 0.15)  # critical-ratio accuracies: 50 % and chance + 5 pp
    mc_networks: int = 32  # re-initialised networks for Theorem 1's Monte Carlo
    preset: str = "custom"

    def __post_init__(self):
        for name in ("widths", "hidden_layers", "seeds"):
            vals = getattr(self, name)
            if not vals:
                raise UserError(f"--{name.replace('_', '-')} is empty")
        if min(self.widths) < 1 or max(self.widths) > 100_000:
            raise UserError(f"widths must be in 1..100000, got {list(self.widths)}")
        if min(self.hidden_layers) < 2 or max(self.hidden_layers) > 1000:
            raise UserError(f"hidden layers must be in 2..1000 (the hidden scope needs W⁽²⁾), got {self.hidden_layers}")
        if self.epochs < 1:
            raise UserError(f"epochs must be >= 1, got {self.epochs}")
        if not self.ratios:
            raise UserError("no ratios given")
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
        if self.precision not in ("fp32", "bf16"):
            raise UserError(f"precision must be fp32 or bf16, got {self.precision!r}")

    @classmethod
    def from_preset(cls, preset: Preset, **overrides) -> GridConfig:
        base = dict(
            widths=preset.widths,
            hidden_layers=preset.hidden_layers,
            epochs=preset.epochs,
            ratios=preset.ratios,
            random_seeds=preset.random_seeds,
            precision=preset.precision,
            lr=preset.lr,
            batch_size=preset.batch_size,
            train_subset=preset.train_subset,
            indicator=preset.indicator,
            n_check=preset.n_check,
            mc_networks=preset.mc_networks,
            preset=preset.name,
        )
        base.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None})
        if any(k in overrides and overrides[k] is not None for k in ("widths", "hidden_layers", "epochs", "ratios")):
            base["preset"] = f"{preset.name}+custom"
        for k in ("widths", "hidden_layers", "ratios", "seeds", "targets"):
            if k in base:
                base[k] = tuple(sorted(set(base[k]))) if k != "targets" else tuple(base[k])
        return cls(**base)

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
