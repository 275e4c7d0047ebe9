"""Checkpoints in safetensors (no pickle): the tensors, plus the full spec as JSON metadata.

Metadata keys: ``format`` (``corelocker-bounds/fcn-v1`` for FCNs; ``corelocker-bounds/net-v1`` for the
conv nets, whose spec names the architecture in ``arch``), ``spec`` (hyper-parameters,
normalisation, seed, data fingerprint), ``params_sha256`` (integrity of the tensor bytes).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from empirical._io import atomic_path, note_input
from empirical.errors import UserError
from empirical.nets.models import ARCHS, make_model
from empirical.nets.modules import MODULE_ARCH, check_builder

FORMAT = "corelocker-bounds/fcn-v1"
NET_FORMAT = "corelocker-bounds/net-v1"
FORMATS = (FORMAT, NET_FORMAT)


def params_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of the tensors, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")  # no copy
    return h.hexdigest()


def model_sha256(model: torch.nn.Module) -> str:
    return params_sha256(dict(model.state_dict()))


def spec_sha256(spec: dict) -> str:
    """sha256 of a spec (canonical JSON): architecture, sizes, normalisation, dataset, training settings."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def fingerprint(tensors_sha256: str, spec: dict) -> str:
    """The fingerprint of a checkpoint: its tensors *and* its spec — everything that changes what the model
    computes (a spec with another normalisation makes the same weights compute something else)."""
    return hashlib.sha256(f"corelocker-bounds/fingerprint-v1|{tensors_sha256}|{spec_sha256(spec)}".encode()).hexdigest()


def meta_sha256(meta: dict) -> str:
    """sha256 over every metadata entry but itself: the spec and extras are covered like the tensors."""
    fixed = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()


def check_spec(model: torch.nn.Module, spec: dict) -> None:
    """Refuse a spec that does not describe ``model`` (so a wrong checkpoint is caught when written, not
    when loaded): a toolkit architecture with these sizes must have exactly these tensor shapes; a user
    ``module`` must name its builder."""

    if not isinstance(spec, dict):
        raise UserError("a checkpoint spec must be a dict")
    arch = spec.get("arch", "fcn")
    if arch == MODULE_ARCH:
        missing = [k for k in ("builder", "builder_sha256", "dataset", "normalization") if k not in spec]
        if missing:
            raise UserError(f"a user-module spec needs {', '.join(missing)}")
        return
    if arch not in ARCHS:
        raise UserError(f"unknown architecture {arch!r} in the spec (known: {', '.join(ARCHS + (MODULE_ARCH,))})")
    try:
        H, w = int(spec["hidden_layers"]), int(spec["width"])
        limits = (10_000, 1_000_000) if arch == "fcn" else (64, 1024)
        if not (1 <= H <= limits[0] and 1 <= w <= limits[1]):
            raise ValueError(f"hidden_layers {H}, width {w} out of range")
        with torch.device("meta"):
            ref = make_model(arch, H, w)
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise UserError(f"the spec does not describe a {arch} ({exc})") from None
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:2]
        raise UserError(f"the model does not match its spec ({arch} {H}×{w}; first differences: {diff})")


def write_checkpoint_file(path, model: torch.nn.Module, spec: dict, extra_meta: dict | None = None) -> None:
    """Write ``model`` and ``spec`` to ``path`` as is (callers handle atomicity; ``save_checkpoint`` does). Every
    check ``read_checkpoint`` applies runs first: nothing is written that its own loader would refuse."""
    check_spec(model, spec)
    check_spec_types(spec, "the checkpoint to write")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    check_float32(tensors, "the model")
    fmt = FORMAT if spec.get("arch", "fcn") == "fcn" else NET_FORMAT
    meta = {"format": fmt, "spec": json.dumps(spec, sort_keys=True), "params_sha256": params_sha256(tensors)}
    meta.update({k: json.dumps(v) for k, v in (extra_meta or {}).items()})
    meta["meta_sha256"] = meta_sha256(meta)
    save_file(tensors, str(path), metadata=meta)


def save_checkpoint(path, model: torch.nn.Module, spec: dict, extra_meta: dict | None = None) -> Path:
    """Write ``model`` and ``spec`` atomically to ``path`` (.safetensors)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        write_checkpoint_file(tmp, model, spec, extra_meta)
    return path


def _is_npz(path) -> bool:
    """A zip archive of ``.npy`` members (what ``np.savez`` writes), as opposed to torch.save's archive."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a checkpoint, with every check; one clear ``UserError`` otherwise."""
    path = Path(path)
    if path.is_dir():
        if not (path / "model.safetensors").exists():
            raise UserError(f"checkpoint {path} is a directory without model.safetensors (not a training run)")
        path = path / "model.safetensors"
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    note_input(path, "the checkpoint")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head == b"PK" and _is_npz(path):
            raise UserError(
                f"{path} is a NumPy .npz archive (data?), not a checkpoint; a data set goes to --data"
            ) from None
        if head == b"PK" or head[:1] == b"\x80":  # a torch.save zip archive or a raw pickle
            raise UserError(
                f"{path} is a torch.save file, not a checkpoint: convert it first with `corelocker-bounds import "
                "--torch FILE --normalization N --out FILE.safetensors` (and --model FILE.py:FUNCTION for any model "
                "but an nn.Sequential MLP)"
            ) from None
        raise UserError(f"{path} is not a readable safetensors checkpoint ({str(exc).splitlines()[0]})") from None
    if meta.get("format") not in FORMATS:
        raise UserError(f"{path} is not a corelocker-bounds checkpoint (format {meta.get('format')!r})")
    if params_sha256(tensors) != meta.get("params_sha256"):
        raise UserError(f"{path} is corrupt: its tensors do not match the stored checksum")
    if "meta_sha256" in meta and meta_sha256(meta) != meta["meta_sha256"]:
        raise UserError(f"{path} is corrupt: its metadata (spec) does not match the stored checksum")
    meta = dict(meta)
    try:
        meta["spec"] = json.loads(meta["spec"])
        for k in ("locked_by", "bound_to", "test_acc"):
            if k in meta:
                meta[k] = json.loads(meta[k])
    except (KeyError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: metadata is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(meta["spec"], dict):
        raise UserError(f"{path}: the spec is not a JSON object")
    check_spec_types(meta["spec"], path)
    check_float32(tensors, path)
    return tensors, meta


def check_float32(tensors: dict, where) -> None:
    """Checkpoints hold float32 weights and buffers: float64, float16 or bf16 ones would pass a load and break
    evaluation after outputs are written."""
    odd = sorted({str(t.dtype) for t in tensors.values() if t.is_floating_point() and t.dtype != torch.float32})
    if odd:
        names = [k for k, t in tensors.items() if str(t.dtype) == odd[0]][:2]
        raise UserError(
            f"{where} holds {', '.join(odd)} tensors (e.g. {', '.join(names)}): checkpoints hold float32 "
            "weights (convert the model with .float() before import)"
        )


_SPEC_TYPES = {  # spec field -> (test, what it must be); fields a forged spec could give the wrong type
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "normalization": (lambda v: isinstance(v, str), "a string"),
    "arch": (lambda v: isinstance(v, str), "a string"),
    "builder": (lambda v: isinstance(v, str), "a string"),
    "builder_function": (lambda v: isinstance(v, str), "a string"),
    "input_shape": (
        lambda v: (
            isinstance(v, list)
            and 0 < len(v) <= 4
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 1 << 20 for d in v)
        ),
        "a list of 1-4 positive whole numbers",
    ),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63, "a whole number >= 0"),
    "hidden_layers": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "width": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "epochs": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "n_classes": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 2 <= v <= 1 << 20,
        "a whole number >= 2",
    ),
    "data_fingerprint": (lambda v: isinstance(v, str), "a string"),
}


def check_spec_types(spec: dict, where) -> None:
    """One clear error for a spec field of the wrong type (checked before any field is used)."""
    for name, (ok, what) in _SPEC_TYPES.items():
        if name in spec and not ok(spec[name]):
            raise UserError(f"{where}: spec field {name!r} must be {what}, got {spec[name]!r:.60}")


def load_checkpoint(path, device="cpu", builder=None) -> tuple[torch.nn.Module, dict]:
    """``(model, meta)``: the network and the checkpoint's metadata; the training spec is ``meta["spec"]``
    (``TrainSpec.from_spec(meta["spec"])`` rebuilds it). Refuses tensors that do not fit the spec, and
    non-finite weights. A user ``module`` checkpoint needs its ``builder`` (``empirical.nets.modules``)."""

    tensors, meta = read_checkpoint(path)
    spec = meta["spec"]
    arch = spec.get("arch", "fcn")
    bad = sorted(k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
    if bad:
        raise UserError(f"{path}: tensor {bad[0]} holds NaN or inf")
    if arch == MODULE_ARCH:
        model = check_builder(builder, spec, path).build()
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in tensors.items()}
        if expected != got:
            diff = sorted(set(expected.items()) ^ set(got.items()))[:2]
            raise UserError(
                f"{path}: tensors do not match the model {spec.get('builder')} builds (first differences: {diff})"
            )
        model.load_state_dict(tensors)
        return model.to(device).eval(), meta
    if arch not in ARCHS:
        raise UserError(f"{path}: unknown architecture {arch!r} in the spec (known: {', '.join(ARCHS)})")
    what = "FCN" if arch == "fcn" else arch
    try:  # validate before building anything: the spec's size must match the tensors in the file
        H, w = int(spec["hidden_layers"]), int(spec["width"])
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise UserError(f"{path}: spec does not describe an {what} ({exc})") from None
    if arch == "fcn" and not (1 <= H <= 10_000 and 1 <= w <= 1_000_000):
        raise UserError(f"{path}: spec sizes out of range for an FCN (hidden_layers {H}, width {w})")
    if arch == "fcn" and 2 * (H + 1) != len(tensors):
        raise UserError(
            f"{path}: tensors do not match a {H}×{w} FCN (it has {2 * (H + 1)} tensors, the file {len(tensors)})"
        )
    if arch != "fcn" and not (1 <= H <= 64 and 1 <= w <= 1024):
        raise UserError(f"{path}: spec sizes out of range for a {arch} (hidden_layers {H}, width {w})")
    counters = {k for k in tensors if k.endswith("num_batches_tracked")}  # BN's int64 step counters
    bad = sorted(
        k
        for k, v in tensors.items()
        if k not in counters and v.dtype not in (torch.float32, torch.float64, torch.bfloat16)
    )
    if bad:
        raise UserError(f"{path}: tensors of a non-float dtype ({bad[0]}: {tensors[bad[0]].dtype})")
    try:
        with torch.device("meta"):  # no memory, no init: the checkpoint's tensors are assigned below
            model = make_model(arch, H, w)
    except (KeyError, ValueError, TypeError) as exc:
        raise UserError(f"{path}: spec does not describe an {what} ({exc})") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        diff = sorted(set(expected.items()) ^ set(got.items()))[:2]
        raise UserError(f"{path}: tensors do not match a {H}×{w} {what} (first differences: {diff})")
    model.load_state_dict(tensors, assign=True)
    return model.to(device).eval(), meta
