"""A training run's resume point: the model, the optimizer state, the epoch log and the caller's extras in one
safetensors file, with a digest over all of it (version 2; version-1 files covered the epoch and the log only, so
their spec key must be present and match)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from empirical._io import atomic_path
from empirical.errors import CorruptResumePoint
from empirical.nets.checkpoint import params_sha256
from empirical.nets.spec import (  # noqa: F401  (re-exported: TrainSpec has always been importable from here)
    OPTIMIZERS,
    RECIPE_FIELDS,
    SCHEDULES,
    TrainSpec,
)

EXTRA_PREFIX = "extra."  # resume-point metadata that belongs to the caller (RunOptions.state_extra)


def save_state(path: Path, model, opt, epoch: int, log_rows: list[dict], spec: TrainSpec, extra=None) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for name, t in st.items():
            tensors[f"opt.{i}.{name}"] = t.detach().cpu().reshape(t.shape).contiguous()
    meta = {"epoch": str(epoch), "log": json.dumps(log_rows), "spec_key": spec.key(), "digest_version": "2"}
    meta.update({f"{EXTRA_PREFIX}{k}": str(v) for k, v in (extra or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    meta["state_sha256"] = state_digest(tensors, meta)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def state_digest(tensors, meta) -> str:
    """Version 2 covers every metadata entry (the spec key and the caller's extras included); version 1 (resume
    points written before it, no ``digest_version``) covered the epoch and the log only."""
    if meta.get("digest_version") == "2":
        covered = json.dumps({k: v for k, v in sorted(meta.items()) if k != "state_sha256"})
    else:
        covered = json.dumps([meta["epoch"], meta["log"]])
    return hashlib.sha256((params_sha256(tensors) + covered).encode()).hexdigest()


def load_state(path: Path, model, opt, device, spec: TrainSpec):

    bad = f"resume point {path} is corrupt or was edited; run the same command with --restart to train from scratch"
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
        ok = meta.get("state_sha256") == state_digest(tensors, meta)
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError):
        ok = False
    if not ok:
        raise CorruptResumePoint(bad)
    if meta.get("spec_key") != spec.key():  # a version-1 digest does not cover the key: it must be there and match
        raise CorruptResumePoint(
            f"resume point {path} belongs to another training spec ({meta.get('spec_key', 'none recorded')})"
        )
    expected = {f"model.{k}" for k in model.state_dict()}
    if {k for k in tensors if k.startswith("model.")} != expected:
        raise CorruptResumePoint(f"resume point {path} does not hold this model's tensors")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v.to(device) if name != "step" else v
    sd["state"] = state
    try:
        opt.load_state_dict(sd)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise CorruptResumePoint(f"resume point {path}: the optimizer state does not fit ({exc})") from None
    extra = {k[len(EXTRA_PREFIX) :]: v for k, v in meta.items() if k.startswith(EXTRA_PREFIX)}
    return int(meta["epoch"]), json.loads(meta["log"]), extra
