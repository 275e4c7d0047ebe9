"""Grid presets of DESIGN.md: which networks, how long to train, which ratios to evaluate."""

from __future__ import annotations

from dataclasses import dataclass

from empirical.errors import UserError
from empirical.nets.convnets import DEFAULTS

PAPER_RATIO = 0.00002  # 0.002 % (Section 5.1.1, Figure 5)
# the tables a grid run writes (``empirical.experiments.grid.run``; read by its report)
TABLES = ("results", "bounds_checks", "disparities", "critical_ratios", "theorem1_mc", "train_log")
RATIOS = (0.00002, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


@dataclass(frozen=True)
class Preset:
    name: str
    widths: tuple[int, ...]
    hidden_layers: tuple[int, ...]
    epochs: int
    ratios: tuple[float, ...] = RATIOS
    lr: float = 1e-3
    batch_size: int = 128
    indicator: str = "l1"
    train_subset: int | None = None  # None: all 60,000 training images
    precision: str = "fp32"  # "bf16": autocast training (see benchmarks/results/precision.md)
    random_seeds: int = 3  # seeds of the random-extraction baseline per network
    n_check: int = 1000  # test images for the per-layer bound checks
    mc_networks: int = 32  # re-initialised networks for Theorem 1's Monte Carlo
    where: str = ""


PRESETS = {
    "paper": Preset(
        "paper",
        tuple(range(1000, 8001, 1000)),
        tuple(range(4, 14)),
        50,
        where="a GPU (≈2.8e17 training FLOP for the grid)",
    ),
    "cpu": Preset("cpu", tuple(range(100, 801, 100)), tuple(range(4, 14)), 15, where="hours on 2 CPU cores"),
    "quick": Preset("quick", (64, 128, 256), tuple(range(4, 14)), 2, where="the README demo: minutes on 2 cores"),
    "tiny": Preset(
        "tiny",
        (16, 32),
        (2, 3),
        1,
        ratios=(0.00002, 0.01, 0.1),
        train_subset=2000,
        random_seeds=2,
        n_check=200,
        mc_networks=8,
        where="tests",
    ),
}


def pick(presets: dict, name: str, what: str = "preset"):
    """``presets[name]``, or one error line naming the choices (every experiment's presets)."""
    try:
        return presets[name]
    except KeyError:
        raise UserError(f"unknown {what} {name!r}; choose one of {', '.join(presets)}") from None


def get_preset(name: str) -> Preset:
    return pick(PRESETS, name)


def parse_sizes(items, archs) -> dict:
    """``--size ARCH=H,W`` overrides of the architectures' default (hidden_layers, width)."""
    sizes = {a: list(DEFAULTS[a]) for a in archs if a in DEFAULTS}
    for item in items:
        try:
            arch, hw = item.split("=")
            h, w = (int(v) for v in hw.split(","))
        except ValueError:
            raise UserError(f"--size {item!r}: expected ARCH=H,W, e.g. resnet=3,16") from None
        if arch not in sizes:
            raise UserError(
                f"--size {item!r}: unknown architecture {arch!r} (the architectures run: {', '.join(archs)})"
            )
        sizes[arch] = [h, w]
    return sizes
