"""The access key (Section 3): the extracted units' positions and original values, with fingerprints.

``AccessKey.restore(locked)`` gives back the original bit for bit and refuses — changing nothing —
a model it does not belong to or a key that was tampered with. Keys are safetensors files (no
pickle) written owner-only (0600).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from empirical._io import atomic_path, note_input
from empirical.errors import UserError
from empirical.lock.ranking import make_contiguous
from empirical.nets.checkpoint import model_sha256

KEY_FORMAT = "corelocker-bounds/access-key-v1"


@dataclass
class KeyEntry:
    name: str
    kind: str
    unit_size: int
    positions: torch.Tensor  # (k,) int64, sorted
    values: torch.Tensor  # (k, unit_size), the original dtype


@dataclass
class AccessKey:
    """The extracted units: positions and original values only, plus metadata and fingerprints."""

    entries: list[KeyEntry]
    meta: dict = field(default_factory=dict)

    # -- integrity ------------------------------------------------------------------------------
    def digest(self) -> str:
        h = hashlib.sha256()
        fixed = {k: v for k, v in self.meta.items() if k not in ("key_sha256", "signature")}
        h.update(json.dumps(fixed, sort_keys=True).encode())
        for e in self.entries:
            h.update(f"{e.name}|{e.kind}|{e.unit_size}|{e.values.dtype}|".encode())
            h.update(e.positions.contiguous().numpy())
            h.update(e.values.contiguous().reshape(-1).view(torch.uint8).numpy())
        return h.hexdigest()

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def n_values(self) -> int:
        return sum(e.values.numel() for e in self.entries)

    def size_report(self) -> dict:
        n_bytes = sum(e.values.numel() * e.values.element_size() + e.positions.numel() * 8 for e in self.entries)
        return {
            "units": self.meta["k_total"],
            "values": self.n_values,
            "payload_bytes": n_bytes,
            "share_of_parameters": self.n_values / self.meta["n_parameters"],
        }

    # -- files ----------------------------------------------------------------------------------
    def write_file(self, path) -> None:
        """Write the key to ``path`` as is (callers handle atomicity; ``save`` does)."""
        tensors, layout = {}, []
        for i, e in enumerate(self.entries):
            tensors[f"{i}.positions"] = e.positions.contiguous()
            tensors[f"{i}.values"] = e.values.contiguous()
            layout.append({"name": e.name, "kind": e.kind, "unit_size": e.unit_size})
        meta = {"format": KEY_FORMAT, "meta": json.dumps(self.meta, sort_keys=True), "layout": json.dumps(layout)}
        save_file(tensors, str(path), metadata=meta)

    def save(self, path) -> Path:
        """Write the key (safetensors, owner-only permissions 0600), atomically."""
        path = Path(path)
        with atomic_path(path, mode=0o600) as tmp:
            self.write_file(tmp)
        os.chmod(path, 0o600)
        return path

    @classmethod
    def load(cls, path) -> AccessKey:
        path = Path(path)
        if path.is_dir():
            raise UserError(f"key file {path} is a directory; give the key's .safetensors file")
        if not path.is_file():
            raise UserError(f"key file {path} does not exist")
        note_input(path, "the key")
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), framework="pt") as fh:
                raw = fh.metadata() or {}
            if raw.get("format") != KEY_FORMAT:
                raise UserError(f"{path} is not a corelocker-bounds access key")
            meta, layout = json.loads(raw["meta"]), json.loads(raw["layout"])
            entries = [
                KeyEntry(d["name"], d["kind"], d["unit_size"], tensors[f"{i}.positions"], tensors[f"{i}.values"])
                for i, d in enumerate(layout)
            ]
        except UserError:
            raise
        except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise UserError(f"{path} is not a readable access key ({str(exc).splitlines()[0]})") from None
        if not isinstance(meta, dict) or not isinstance(layout, list):
            raise UserError(f"{path} is not a readable access key (metadata fields are not JSON objects/lists)")
        key = cls(entries, meta)
        for k in ("key_sha256", "locked_sha256", "original_sha256"):
            if not isinstance(meta.get(k), str):
                raise UserError(f"{path} is not a readable access key (no {k})")
        if key.digest() != meta.get("key_sha256"):
            raise UserError(f"{path}: access key is corrupt or was tampered with (checksum mismatch)")
        return key

    def check_against(self, model: nn.Module) -> None:
        """Refuse entries that cannot apply to ``model``: unknown names, bad unit sizes, positions, shapes."""
        params = dict(model.named_parameters())
        for e in self.entries:
            if not isinstance(e.name, str) or e.name not in params:
                raise UserError(f"access key names a parameter the model does not have ({e.name!r})")
            p = params[e.name]
            if not isinstance(e.unit_size, int) or e.unit_size < 1 or p.numel() % e.unit_size:
                raise UserError(f"access key: unit size {e.unit_size!r} does not divide {e.name} ({p.numel()} values)")
            if e.positions.dtype != torch.int64 or e.positions.ndim != 1:
                raise UserError(f"access key: positions of {e.name} are not a 1-D int64 array")
            n_units = p.numel() // e.unit_size
            if e.positions.numel() and (int(e.positions.min()) < 0 or int(e.positions.max()) >= n_units):
                raise UserError(f"access key: positions of {e.name} fall outside its {n_units} units")
            if tuple(e.values.shape) != (e.positions.numel(), e.unit_size) or not e.values.is_floating_point():
                raise UserError(f"access key: values of {e.name} do not match its positions and unit size")

    # -- unlocking ------------------------------------------------------------------------------
    def restore(self, locked: nn.Module, inplace: bool = False) -> nn.Module:
        """The original model, bit for bit. Refuses a model or key that does not match and then leaves
        ``locked`` exactly as it was (with ``inplace=True`` the values it held at the key positions are
        put back, not zeros)."""
        if self.digest() != self.meta.get("key_sha256"):
            raise UserError("access key is corrupt or was tampered with (checksum mismatch)")
        if model_sha256(locked) != self.meta["locked_sha256"]:
            raise UserError("this key does not belong to this model (the locked model's fingerprint differs)")
        self.check_against(locked)
        target = make_contiguous(locked if inplace else copy.deepcopy(locked))
        params = dict(target.named_parameters())
        saved = []
        with torch.no_grad():
            for e in self.entries:
                view = params[e.name].view(-1, e.unit_size)
                pos = e.positions.to(view.device)
                saved.append((view, pos, view[pos].clone()))  # read before any write (positions may repeat)
            for e, (view, pos, _) in zip(self.entries, saved):
                view[pos] = e.values.to(view.device, view.dtype)
        if model_sha256(target) != self.meta["original_sha256"]:
            if inplace:  # put the model back exactly as it was
                with torch.no_grad():
                    for view, pos, old in reversed(saved):
                        view[pos] = old
            raise UserError("restoring with this key does not give the original model back (fingerprint differs)")
        return target
