"""Helpers shared by the command handlers: the device, output directories, a checkpoint and its test set."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from empirical.errors import UserError
from empirical.lock.workflow import checkpoint_path
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.data import test_set_for
from empirical.nets.modules import load_builder

__all__ = ["builder", "checkpoint_and_data", "checkpoint_path", "check_writable_dir", "device", "positive"]


def check_writable_dir(path: Path) -> None:
    """Fail before long work when ``path`` cannot hold our outputs — without creating anything (a refused
    command leaves no empty directory behind): ``path`` is a writable directory, or its nearest existing
    ancestor is one."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"cannot write into {path}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {path}: {probe} is not writable")


def device(name: str) -> str:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} requested but CUDA is not available here (torch {torch.__version__})")
    if not (name == "cpu" or name.startswith("cuda") or name == "mps"):
        raise UserError(f"unknown device {name!r} (cpu, cuda, cuda:N)")
    return name


def positive(args, *names: str, allow_zero: bool = False) -> None:
    """Refuse option values below 1 (or below 0 with ``allow_zero``), naming the option."""
    low = 0 if allow_zero else 1
    for name in names:
        v = getattr(args, name, None)
        if v is not None and v < low:
            raise UserError(f"--{name.replace('_', '-')} must be >= {low}, got {v}")


def builder(args):
    """The user's model builder of ``--model FILE.py:FUNCTION`` (None when not given)."""
    text = getattr(args, "model", None)
    return load_builder(text) if text else None


def checkpoint_and_data(args):
    """(model in eval mode, checkpoint metadata, test inputs, test labels) for ``args.checkpoint``."""
    dev = device(args.device)
    model, meta = load_checkpoint(args.checkpoint, dev, builder=builder(args))
    x, y = test_set_for(meta["spec"], args.data_root, dev)
    return model.eval(), meta, x, y
