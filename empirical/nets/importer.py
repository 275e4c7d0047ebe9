"""Networks trained outside the toolkit, in and out: ``import --torch`` and ``export --torch``.

Files are read with ``torch.load(..., weights_only=True)``: no pickle code runs, and a file that holds
a pickled model (``torch.save(model)``) rather than a state dict is refused with a pointer to
``model.state_dict()``.

* **MLP** (no ``--model``): an ``nn.Sequential`` state dict whose ``*.weight`` / ``*.bias`` tensors,
  in module order, chain 784 → w → … → w → 10 with one hidden width. It becomes our FCN checkpoint
  (``hidden_layers``, ``width``) and the original names are recorded (``source_names``) so that
  ``export`` gives them back.
* **Any module** (``--model FILE.py:builder``, ``empirical.nets.modules``): the builder's model with the
  state dict loaded strictly (every name and shape must match); the checkpoint keeps the user's own
  names. The input shape is probed: flat (784) or image (1, 28, 28).

Every import checks that weights and biases have exactly the shapes they need (no broadcasting of a
0-d or 1-element bias), that every value is finite, that the dataset is one the toolkit can serve,
and reports the test accuracy the recorded normalisation gives — with a warning when another
normalisation does much better (a wrong ``--normalization`` is otherwise silent).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from empirical._io import atomic_path
from empirical.errors import UserError
from empirical.nets import data as data_mod
from empirical.nets.checkpoint import check_float32, load_checkpoint, save_checkpoint
from empirical.nets.models import FCN, INPUT_DIM, N_CLASSES
from empirical.nets.modules import MODULE_ARCH, load_builder
from empirical.nets.train import accuracy


@dataclass
class ImportReport:
    path: Path
    description: str
    accuracy: float
    n_test: int
    warning: str = ""


def _read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "not a state dict"
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc))
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            raise UserError(
                f"{path} holds a pickled model or other objects ({found.group(1)}), not a state dict of tensors: "
                "save it with torch.save(model.state_dict(), FILE) and import that"
            ) from None
        raise UserError(f"{path} is not a readable torch state dict (not a torch.save file of named tensors)") from None
    if isinstance(state, nn.Module):
        raise UserError(f"{path} holds a model object, not a state dict: save model.state_dict() instead")
    if not isinstance(state, dict) or not state:
        raise UserError(f"{path} does not hold a state dict (an empty or non-dict object)")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserError(f"{path} does not hold a state dict of named tensors")
    odd = sorted(k for k, v in state.items() if v.layout != torch.strided or v.is_meta)
    if odd:
        v = state[odd[0]]
        what = "meta (no values)" if v.is_meta else f"{v.layout} (sparse)"
        raise UserError(f"{path}: tensor {odd[0]} is a {what} tensor; save dense weights (tensor.to_dense())")
    bad = sorted(k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
    if bad:
        raise UserError(f"{path}: tensor {bad[0]} holds NaN or inf")
    return state


def _check_dataset(dataset: str, normalization: str) -> None:
    if dataset not in data_mod.DATASETS:
        raise UserError(f"unknown --dataset {dataset!r}; choose one of {', '.join(data_mod.DATASETS)}")
    if normalization not in data_mod.NORMALIZATIONS:
        raise UserError(f"unknown normalization {normalization!r}; choose one of {', '.join(data_mod.NORMALIZATIONS)}")


def _mlp_layers(state: dict) -> list[tuple[str, str | None, torch.Tensor, torch.Tensor | None]]:
    """(weight name, bias name, weight, bias) of each Linear layer, in module order."""
    idx: dict[int, dict] = {}
    prefixes: dict[str, str] = {}
    for k in state:
        m = re.fullmatch(r"(?:(.+)\.)?(\d+)\.(weight|bias)", k)
        if not m:
            raise UserError(
                f"unexpected entry {k!r}: an MLP state dict has only <index>.weight / <index>.bias entries of an "
                "nn.Sequential of Linear layers; for any other model pass --model FILE.py:builder"
            )
        prefixes.setdefault(m.group(1) or "", k)
        if len(prefixes) > 1:  # two Sequentials (a.2.weight and other.2.weight): one would be dropped silently
            first, second = list(prefixes.values())[:2]
            raise UserError(
                f"entries of two modules ({first!r} and {second!r}): an MLP state dict holds one nn.Sequential; "
                "for any other model pass --model FILE.py:builder"
            )
        idx.setdefault(int(m.group(2)), {})[m.group(3)] = k
    out = []
    for i in sorted(idx):
        wn, bn = idx[i].get("weight"), idx[i].get("bias")
        w = state[wn] if wn else None
        if w is None or w.ndim != 2:
            raise UserError(
                f"module {i} is not a Linear layer (weight {None if w is None else tuple(w.shape)}); "
                "for a conv net or any other model pass --model FILE.py:builder"
            )
        b = state[bn] if bn else None
        if b is not None and tuple(b.shape) != (w.shape[0],):
            raise UserError(f"module {i}: bias of shape {tuple(b.shape)} does not match {w.shape[0]} units")
        if not w.is_floating_point() or (b is not None and not b.is_floating_point()):
            raise UserError(f"module {i}: weights of dtype {w.dtype} are not floating point")
        out.append((wn, bn, w, b))
    return out


def _accuracies(model, spec: dict, data_root) -> dict[str, float]:
    """Test accuracy of ``model`` under every normalisation (the recorded one first; your own data: as stored)."""

    out = {}
    others = [] if spec.get("dataset") == data_mod.NPZ else [n for n in data_mod.NORMALIZATIONS if n != "none"]
    for norm in [spec["normalization"]] + [n for n in others if n != spec["normalization"]]:
        x, y = data_mod.test_set_for({**spec, "normalization": norm}, data_root)
        try:
            out[norm] = accuracy(model.eval(), x, y)[0]
        except RuntimeError as exc:
            raise UserError(
                f"the model does not run on {spec.get('dataset')} test images ({str(exc).splitlines()[0]})"
            ) from None
    return out


def _report(path: Path, description: str, model, spec: dict, data_root) -> ImportReport:
    accs = _accuracies(model, spec, data_root)
    mine = accs[spec["normalization"]]
    best = max(accs, key=accs.get)
    warning = ""
    if best != spec["normalization"] and accs[best] > mine + 0.05:
        warning = (
            f"with --normalization {best} it reaches {accs[best]:.4f}: was the network trained with that one? "
            f"(re-import with --normalization {best} --force)"
        )
    n = len(data_mod.test_set_for(spec, data_root)[1])
    return ImportReport(path, description, mine, n, warning)


def import_sequential(path, out, normalization: str, dataset: str = "mnist", data_root=None) -> ImportReport:
    """Convert an MLP state dict at ``path`` into an FCN checkpoint at ``out`` (module doc)."""
    path, out = Path(path), Path(out)
    _check_dataset(dataset, normalization)
    if dataset == data_mod.NPZ:
        raise UserError("your own data (npz) goes with a model of yours: pass --model FILE.py:FUNCTION")
    state = _read_state_dict(path)
    layers = _mlp_layers(state)
    dims = [layers[0][2].shape[1]] + [w.shape[0] for _, _, w, _ in layers]
    hidden = dims[1:-1]
    if dims[0] != INPUT_DIM or dims[-1] != N_CLASSES or len(hidden) < 1 or len(set(hidden)) != 1:
        raise UserError(
            f"layer sizes {dims} are not 784 → w → … → w → 10 with one hidden width; "
            "for another shape pass --model FILE.py:builder"
        )
    for (_, _, w0, _), (_, _, w1, _) in zip(layers[:-1], layers[1:]):
        if w1.shape[1] != w0.shape[0]:
            raise UserError(f"layer shapes do not chain: {tuple(w0.shape)} then {tuple(w1.shape)}")
    model = FCN(len(hidden), hidden[0])
    names = {}
    with torch.no_grad():
        for i, (layer, (wn, bn, w, b)) in enumerate(zip(model.layers, layers)):
            layer.weight.copy_(w)
            layer.bias.copy_(b if b is not None else torch.zeros_like(layer.bias))
            names[f"layers.{i}.weight"] = wn
            if bn is not None:
                names[f"layers.{i}.bias"] = bn
    spec = {
        "hidden_layers": len(hidden),
        "width": hidden[0],
        "dataset": dataset,
        "normalization": normalization,
        "normalization_doc": data_mod.NORMALIZATIONS[normalization],
        "imported_from": path.name,
        "imported_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "source_names": names,
    }
    rep = _report(out, f"a {len(hidden)} × {hidden[0]} MLP (FCN checkpoint)", model, spec, data_root)
    save_checkpoint(out, model, spec)
    return rep


def _probe_input_shape(model: nn.Module, shapes=([INPUT_DIM], [1, 28, 28]), classes: int = N_CLASSES) -> list[int]:
    for shape in shapes:
        try:
            with torch.no_grad():
                y = model.eval()(torch.zeros(2, *shape))
        except Exception:  # noqa: BLE001 - the user's model: any failure means "not this shape"
            continue
        if isinstance(y, torch.Tensor) and y.shape == (2, classes):
            return list(shape)
    tried = " or ".join(f"[batch, {', '.join(map(str, s))}]" for s in shapes)
    raise UserError(
        f"the model gives no [batch, {classes}] logits for inputs of shape {tried}"
        + ("" if len(shapes) == 1 else "; pass --input-shape C,H,W")
    )


def parse_input_shape(text: str | None) -> list[int] | None:
    """``--input-shape C,H,W`` (or N, or H,W)."""
    if text is None:
        return None
    try:
        shape = [int(v) for v in str(text).split(",")]
    except ValueError:
        shape = []
    if not 1 <= len(shape) <= 3 or min(shape) < 1 or math.prod(shape) > 10**8:
        raise UserError(f"--input-shape {text!r}: expected one input's shape, e.g. 3,32,32 or 784")
    return shape


def import_module(
    path, out, model_text: str, normalization: str, dataset: str = "mnist", data_root=None, input_shape=None
) -> ImportReport:
    """Load the state dict at ``path`` into ``--model FILE.py:builder``'s module; write a ``module`` checkpoint.

    ``dataset="npz"`` (``data_root``: the user's ``.npz``): the input shape is the data's (or ``input_shape``),
    the classes are the labels', and the data's fingerprint is recorded, so every later command checks it."""
    path, out = Path(path), Path(out)
    _check_dataset(dataset, normalization)
    shape = parse_input_shape(input_shape)
    data = {}
    if dataset == data_mod.NPZ:
        arrays = data_mod.load_dataset(dataset, data_root)
        shape = shape or list(arrays[2].shape[1:])
        data = {"n_classes": data_mod.n_classes(arrays), "data_fingerprint": data_mod.fingerprint(arrays)}
    state = _read_state_dict(path)
    builder = load_builder(model_text)
    model = builder.build()
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if want != got:
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        shapes = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        what = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {extra[:3]}"
            if extra
            else f"shape of {shapes[0]}: the model has {want[shapes[0]]}, the file {got[shapes[0]]}"
        )
        raise UserError(f"{path} does not fit the model {model_text} builds ({what})")
    model.load_state_dict(state)
    check_float32(model.state_dict(), f"the model {model_text} builds")  # before probing it with float32 inputs
    spec = {
        "arch": MODULE_ARCH,
        **builder.spec_fields(),
        "input_shape": _probe_input_shape(
            model, [shape] if shape else ([INPUT_DIM], [1, 28, 28]), data.get("n_classes", N_CLASSES)
        ),
        **data,
        "dataset": dataset,
        "normalization": normalization,
        "normalization_doc": data_mod.NORMALIZATIONS[normalization],
        "imported_from": path.name,
        "imported_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    n_params = sum(p.numel() for p in model.parameters())
    rep = _report(out, f"{type(model).__name__} from {model_text} ({n_params:,} parameters)", model, spec, data_root)
    save_checkpoint(out, model, spec)
    return rep


def export_state_dict(checkpoint, out, model_text: str | None = None) -> list[str]:
    """Write a checkpoint's weights as a plain ``torch.save`` state dict, under the names the model had
    before import (an imported MLP gets its ``0.weight``-style names back). Returns the names."""

    builder = load_builder(model_text) if model_text else None
    model, meta = load_checkpoint(checkpoint, builder=builder)
    own = model.state_dict()
    names = _source_names(meta["spec"].get("source_names"), own, checkpoint)
    state = {names.get(k, k): v.detach().cpu().clone() for k, v in own.items() if not names or k in names}
    try:
        with atomic_path(out, mode=0o644) as tmp:
            torch.save(state, tmp)
    except RuntimeError as exc:  # torch's writer reports a full disk as a RuntimeError
        raise UserError(
            f"--torch {out}: writing failed ({str(exc).splitlines()[0][:200]}); nothing was written"
        ) from None
    return list(state)


def _source_names(names, own: dict, checkpoint) -> dict:
    """The checkpoint's ``source_names`` (our tensor name → the name before import), checked: every weight
    named, only our tensors, no two on one name — an edited map must not drop or merge tensors silently."""
    if not names:
        return {}
    where = f"{checkpoint}: the spec's source_names"
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise UserError(f"{where} is not a map of tensor names")
    unknown = sorted(set(names) - set(own))
    unnamed = sorted(k for k in own if k.endswith("weight") and k not in names)
    if unknown or unnamed:
        raise UserError(
            f"{where} does not fit the model ({'names no tensor ' + unknown[0] if unknown else 'misses ' + unnamed[0]})"
        )
    if len(set(names.values())) != len(names):
        raise UserError(f"{where} gives two tensors one name")
    return names
