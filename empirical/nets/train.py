"""Training as in Section 5.1.1: Adam, lr 1e-3, batch 128, cross-entropy, seeded.

Fast on a CPU: the dataset is one tensor on the device (no per-sample Python, no DataLoader),
fused Adam, optional bf16 autocast. Resumable: after every epoch the model, the Adam state and
the log go to ``train_state.safetensors``; an interrupted run continues from its last finished
epoch and ends bit-identical to an uninterrupted one (same device and threads).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as nnf
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from empirical._io import atomic_path, write_csv, write_text
from empirical.errors import CorruptResumePoint, UserError
from empirical.nets import data as data_mod
from empirical.nets.checkpoint import save_checkpoint
from empirical.nets.models import make_model
from empirical.safety import dir_kind, file_lock

log = logging.getLogger(__name__)


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
        from empirical.nets.models import ARCHS

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
            from bounds.fcn_grid import n_parameters

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


@dataclass(frozen=True)
class RunOptions:
    """Run-time settings: they do not change the results."""

    device: str = "cpu"
    progress: bool = True
    data_root: str | None = None
    eval_batch: int = 2000
    stop_after_epochs: int | None = None  # simulate an interruption (tests)
    restart: bool = False  # discard a resume point and train from scratch
    # on_epoch(epoch, model, log_row): called after every epoch's test evaluation, with the model in eval
    # mode, *before* the epoch's resume point is saved (so work it writes is redone if the save never happens)
    on_epoch: Callable | None = None
    # where the resume point lives: ``None`` beside the run (``out_dir/train_state.safetensors``); a directory
    # (e.g. the user cache, ``state_dir()``) keeps it as ``<spec key>.train_state.safetensors``, outside the checkout
    state_dir: str | Path | None = None
    # on_resume(epoch, model, log_rows): called after a resume point is restored (model in eval mode), before
    # training goes on; raise CorruptResumePoint to refuse it (the state does not match what was recorded)
    on_resume: Callable | None = None
    # test_accuracy(model, x_test, y_test) -> float: the epoch's test accuracy (default: ``accuracy``); a caller
    # whose on_epoch evaluates more on the same images computes everything in this one pass
    test_accuracy: Callable | None = None
    extra: dict = field(default_factory=dict)

    def state_path(self, spec: TrainSpec, out_dir) -> Path:
        """The resume point of ``spec`` trained into ``out_dir`` (see ``state_dir``)."""
        if self.state_dir is None:
            return Path(out_dir) / "train_state.safetensors"
        return Path(self.state_dir) / f"{spec.key()}.train_state.safetensors"


def default_state_dir() -> Path:
    """Resume points outside any checkout: ``$CORELOCKER_STATE_DIR``, else ``<cache dir>/state``
    (``empirical.nets.data.cache_dir``), so a fresh clone on the same machine continues where the last
    process stopped."""
    return Path(os.environ.get("CORELOCKER_STATE_DIR") or data_mod.cache_dir() / "state")


def load_tensors(spec: TrainSpec, root=None, device="cpu"):
    """(x_train, y_train, x_test, y_test) normalised on ``device`` plus the data fingerprint."""
    arrays = data_mod.load_dataset(spec.dataset, root)
    x_tr, y_tr, x_te, y_te = arrays
    if spec.train_subset is not None:
        x_tr, y_tr = x_tr[: spec.train_subset], y_tr[: spec.train_subset]
    tensors = (
        data_mod.normalize(x_tr, spec.normalization).to(device),
        torch.from_numpy(y_tr).to(device),
        data_mod.normalize(x_te, spec.normalization).to(device),
        torch.from_numpy(y_te).to(device),
    )
    return tensors, data_mod.fingerprint(arrays)


@torch.no_grad()
def accuracy(model, x, y, batch=2000, topk=(1,)) -> list[float]:
    """Top-k accuracies of ``model`` on (x, y), streamed in batches."""
    hits = [0] * len(topk)
    for i in range(0, len(x), batch):
        logits = model(x[i : i + batch])
        top = logits.topk(max(topk), dim=1).indices  # (B, kmax)
        match = top == y[i : i + batch, None]
        for j, k in enumerate(topk):
            hits[j] += int(match[:, :k].any(dim=1).sum())
    return [h / len(x) for h in hits]


_HEAP_KEPT = False


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the OS (once per process).

    By default every tensor above 32 MiB is its own mmap: freed at once, the next step maps it again
    and the kernel zeroes every page on first touch. At batch 128 that page-fault work costs more
    than the matmuls: a 13 × 8000 FCN's training step takes 14.2 s with the default and 4.1 s with
    mmap disabled and trimming off (``benchmarks/bench_paper_training.py``). The price: the process
    keeps its peak heap until it exits. No-op where glibc's ``mallopt`` is absent; set
    ``CORELOCKER_DEFAULT_MALLOC=1`` to leave the allocator alone. Returns whether it took effect.
    """
    global _HEAP_KEPT
    if _HEAP_KEPT or os.environ.get("CORELOCKER_DEFAULT_MALLOC"):
        return _HEAP_KEPT
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        _HEAP_KEPT = bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 40))
    except (OSError, AttributeError):
        _HEAP_KEPT = False
    return _HEAP_KEPT


def make_optimizer(model, spec: TrainSpec, device: str):
    """Adam (the paper's) or SGD with momentum, fused where the build has it; weight decay as given."""
    cls, kw = (torch.optim.Adam, {}) if spec.optimizer == "adam" else (torch.optim.SGD, {"momentum": spec.momentum})
    try:
        return cls(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay, fused=True, **kw)
    except (RuntimeError, TypeError):  # fused kernels unavailable for this device/build
        log.warning("fused %s unavailable on %s: using the foreach implementation", spec.optimizer, device)
        return cls(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay, foreach=True, **kw)


def lr_at(spec: TrainSpec, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based): a pure function of the spec, so a resumed run sets the
    same rate without any scheduler state. ``step``: ÷10 at 50 % and 75 % of the epochs (Network Slimming);
    ``cosine``: half a cosine from lr to 0 over the epochs."""
    if spec.schedule == "step":
        return spec.lr * (0.1 ** ((epoch >= spec.epochs * 0.5) + (epoch >= spec.epochs * 0.75)))
    if spec.schedule == "cosine":
        return spec.lr * 0.5 * (1 + math.cos(math.pi * epoch / spec.epochs))
    return spec.lr


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine]


def init_bn(model, value: float | None) -> None:
    """Every BN scale γ set to ``value`` (Network Slimming initialises γ to 0.5); None leaves PyTorch's 1."""
    if value is not None:
        with torch.no_grad():
            for bn in _bn_layers(model):
                bn.weight.fill_(value)


def _add_bn_sparsity(model, s: float) -> None:
    """Network Slimming's sparsity on γ: the subgradient of s·Σ|γ|, added to the gradients."""
    if s:
        with torch.no_grad():
            for bn in _bn_layers(model):
                if bn.weight.grad is not None:
                    bn.weight.grad.add_(torch.sign(bn.weight), alpha=s)


def _save_state(path: Path, model, opt, epoch: int, log_rows: list[dict], spec: TrainSpec) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for name, t in st.items():
            tensors[f"opt.{i}.{name}"] = t.detach().cpu().reshape(t.shape).contiguous()
    meta = {"epoch": str(epoch), "log": json.dumps(log_rows), "spec_key": spec.key()}
    path.parent.mkdir(parents=True, exist_ok=True)
    meta["state_sha256"] = _state_digest(tensors, meta)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def _state_digest(tensors, meta) -> str:
    from empirical.nets.checkpoint import params_sha256

    return hashlib.sha256((params_sha256(tensors) + json.dumps([meta["epoch"], meta["log"]])).encode()).hexdigest()


def _load_state(path: Path, model, opt, device, spec: TrainSpec):
    from safetensors import SafetensorError, safe_open

    bad = f"resume point {path} is corrupt or was edited; run the same command with --restart to train from scratch"
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
        ok = meta.get("state_sha256") == _state_digest(tensors, meta)
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError):
        ok = False
    if not ok:
        raise CorruptResumePoint(bad)
    if meta.get("spec_key", spec.key()) != spec.key():  # (resume points written before the key was recorded: none)
        raise CorruptResumePoint(f"resume point {path} belongs to another training spec ({meta['spec_key']})")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v.to(device) if name != "step" else v
    sd["state"] = state
    opt.load_state_dict(sd)
    return int(meta["epoch"]), json.loads(meta["log"])


def _read_spec(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _train_epoch(model, opt, x_tr, y_tr, spec: TrainSpec, epoch: int, options: RunOptions):
    """One epoch over a seeded permutation (the same on resume); returns the summed loss and the hits."""
    device, n = options.device, len(x_tr)
    for group in opt.param_groups:
        group["lr"] = lr_at(spec, epoch)
    g = torch.Generator().manual_seed(spec.seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).to(device)
    model.train()
    loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    desc = f"{spec.hidden_layers}×{spec.width} epoch {epoch + 1}/{spec.epochs}"
    bar = tqdm(range(0, n, spec.batch_size), disable=not options.progress, leave=False, desc=desc)
    autocast = dict(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=spec.precision == "bf16")
    for i in bar:
        idx = perm[i : i + spec.batch_size]
        xb, yb = x_tr[idx], y_tr[idx]  # (B, 784), (B,)
        with torch.autocast(**autocast):
            logits = model(xb)
        loss = nnf.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _add_bn_sparsity(model, spec.bn_sparsity)
        opt.step()
        loss_sum += loss.detach() * len(idx)  # (checked once per epoch: a sync per step costs time)
        correct += (logits.argmax(1) == yb).sum()
        if options.progress and (i // spec.batch_size) % 50 == 0:
            seen = min(i + spec.batch_size, n)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{int(correct) / seen:.3f}")
    return loss_sum, correct


def train(spec: TrainSpec, out_dir, options: RunOptions = RunOptions()) -> Path:
    """Train ``spec`` into ``out_dir``; returns ``out_dir/model.safetensors``. Resumes; skips if done."""
    out = Path(out_dir)
    if not (out / "model.safetensors").exists():  # a bad dataset or data root: refused before anything is created
        data_mod.load_dataset(spec.dataset, options.data_root)  # (kept in memory for the run)
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(out):
        return _train_locked(spec, out, options)


def _name(spec: TrainSpec) -> str:
    """How logs name a training run: its shape first, then the spec hash that keys its files."""
    shape = f"{spec.hidden_layers} × {spec.width}" + ("" if spec.arch == "fcn" else f" {spec.arch}")
    return f"{shape} [{spec.key()}]"


def _run_lock(out: Path):
    """One training process per run directory: a second one is refused (it would replace the first's files)."""
    return file_lock(out / ".train.lock", f"another training run is writing into {out}; wait for it or choose "
                                          "another --out")  # fmt: skip


def _train_locked(spec: TrainSpec, out: Path, options: RunOptions) -> Path:
    spec_path, final, state_path = out / "spec.json", out / "model.safetensors", options.state_path(spec, out)
    spec_json = json.dumps(spec.as_dict(), indent=1, sort_keys=True)
    # weights in out_dir (a resume point kept elsewhere is keyed by the spec and checked when loaded)
    started = final.exists() or (options.state_dir is None and state_path.exists())
    if started and not spec_path.exists():  # weights of unknown origin: never reuse them as this spec's
        raise UserError(f"{out} holds {final.name if final.exists() else state_path.name} but no spec.json: "
                        "not a training run of this toolkit; choose another --out")  # fmt: skip
    if started and _read_spec(spec_path) != spec.as_dict():  # checked before --restart deletes anything
        raise UserError(f"{out} holds a run of another spec ({spec_path}); choose another --out")
    if not started and dir_kind(out) not in (None, "train", "checkpoint"):
        raise UserError(f"{out} holds a {dir_kind(out)} run; choose another --out for training")
    if options.restart:
        state_path.unlink(missing_ok=True)
    write_text(spec_path, spec_json)
    if final.exists():
        log.info("%s already trained: %s", _name(spec), final)
        return final

    device = options.device
    reuse_freed_memory()
    (x_tr, y_tr, x_te, y_te), fp = load_tensors(spec, options.data_root, device)
    model = make_model(spec.arch, spec.hidden_layers, spec.width, seed=spec.seed).to(device)
    init_bn(model, spec.bn_init)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, spec, device)
    start, log_rows = 0, []
    if state_path.exists():
        start, log_rows = _load_state(state_path, model, opt, device, spec)
        log.info("resuming %s after epoch %d (%s)", _name(spec), start, state_path)
        if options.on_resume is not None:
            model.eval()
            options.on_resume(start, model, log_rows)

    n = len(x_tr)
    for epoch in range(start, spec.epochs):
        if options.stop_after_epochs is not None and epoch >= options.stop_after_epochs:
            return state_path
        t0 = time.perf_counter()
        loss_sum, correct = _train_epoch(model, opt, x_tr, y_tr, spec, epoch, options)
        if not math.isfinite(float(loss_sum)):
            raise UserError(
                f"training diverged (loss {float(loss_sum) / n} in epoch {epoch + 1}); nothing saved for this epoch — "
                "try a smaller --lr"
            )
        model.eval()
        if options.test_accuracy is not None:
            test_acc = float(options.test_accuracy(model, x_te, y_te))
        else:
            (test_acc,) = accuracy(model, x_te, y_te, options.eval_batch)
        row = dict(
            epoch=epoch + 1,
            loss=float(loss_sum) / n,
            train_acc=float(correct) / n,
            test_acc=test_acc,
            seconds=round(time.perf_counter() - t0, 3),
            precision=spec.precision,
            device=device,
        )
        if options.on_epoch is not None:
            options.on_epoch(epoch + 1, model, row)
        log_rows.append(row)
        log.info("%s epoch %d: loss %.4f train %.4f test %.4f (%.1fs)", _name(spec), row["epoch"], row["loss"],
                 row["train_acc"], row["test_acc"], row["seconds"])  # fmt: skip
        _save_state(state_path, model, opt, epoch + 1, log_rows, spec)
        write_csv(out / "train_log.csv", pd.DataFrame(log_rows))

    model.eval()
    full_spec = {
        **spec.as_dict(),
        "data_fingerprint": fp,
        "key": spec.key(),
        "normalization_doc": data_mod.NORMALIZATIONS[spec.normalization],
    }
    final_acc = log_rows[-1]["test_acc"] if log_rows else None
    save_checkpoint(final, model.cpu(), full_spec, {"test_acc": final_acc})
    state_path.unlink(missing_ok=True)  # the Adam state is large (2× the model); the run is done
    return final
