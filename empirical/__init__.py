"""Data, FCN and conv models, training, extraction with access keys, and measurement against the bounds.

Sub-packages by concern (dependencies point one way, enforced by ``tests/test_layers.py``):
``nets`` (data, models, training, checkpoints) ← ``lock`` (ranking, extraction, keys, sweeps, utility,
the lock/unlock workflow) and ``measure`` (disparities against the bounds) ← ``experiments`` (grid,
Table 1, paper widths, reports) ← ``cli``. The names below are the public API; they are imported on
first use, so ``import empirical`` (and ``corelocker-bounds --help``) does not load torch.
``empirical.measure`` is the measurement sub-package: ``from empirical.measure import measure``.
"""

import importlib

_API = {
    "UserError": "empirical.errors",
    "audit": "empirical.experiments.audit",
    "AccessKey": "empirical.lock.keys",
    "extract": "empirical.lock.extraction",
    "n_extracted": "empirical.lock.ratio",
    "ratio_for_utility": "empirical.lock.utility",
    "accuracy_curve": "empirical.lock.sweep",
    "top_accuracy": "empirical.lock.sweep",
    "lock_file": "empirical.lock.workflow",
    "unlock_file": "empirical.lock.workflow",
    "measure_net": "empirical.measure.core",
    "Measurement": "empirical.measure.core",
    "load_checkpoint": "empirical.nets.checkpoint",
    "save_checkpoint": "empirical.nets.checkpoint",
    "make_conv": "empirical.nets.convnets",
    "load_dataset": "empirical.nets.data",
    "load_fashion_mnist": "empirical.nets.data",
    "load_mnist": "empirical.nets.data",
    "normalize": "empirical.nets.data",
    "test_set_for": "empirical.nets.data",
    "FCN": "empirical.nets.models",
    "make_fcn": "empirical.nets.models",
    "make_model": "empirical.nets.models",
    "load_builder": "empirical.nets.modules",
    "RunOptions": "empirical.nets.train",
    "TrainSpec": "empirical.nets.train",
    "accuracy": "empirical.nets.train",
    "train": "empirical.nets.train",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)  # lazy: the public API, imported on first use
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'empirical' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
