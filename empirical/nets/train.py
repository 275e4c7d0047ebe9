"""Training as in Section 5.1.1: Adam, lr 1e-3, batch 128, cross-entropy, seeded.

Fast on a CPU: the dataset is one tensor on the device (no per-sample Python, no DataLoader),
fused Adam, optional bf16 autocast. Resumable: after every epoch the model, the Adam state and
the log go to ``train_state.safetensors``; an interrupted run continues from its last finished
epoch and ends bit-identical to an uninterrupted one (same device and threads).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as nnf
from tqdm.auto import tqdm

from empirical._io import write_csv, write_text
from empirical.errors import UserError
from empirical.kinds import dir_kind
from empirical.nets import data as data_mod
from empirical.nets.checkpoint import save_checkpoint
from empirical.nets.models import make_model
from empirical.nets.resume import load_state, save_state
from empirical.nets.spec import (  # noqa: F401  (re-exported: TrainSpec has always been importable from here)
    OPTIMIZERS,
    RECIPE_FIELDS,
    SCHEDULES,
    TrainSpec,
)
from empirical.nets.threads import flushed_denormals, follow_threads, reuse_freed_memory, strict_fp32
from empirical.safety import file_lock

log = logging.getLogger(__name__)
THREADS_EVERY = 25  # steps between two reads of RunOptions.threads_file (a stat and a read: microseconds)


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
    # (e.g. the user cache, ``state_dir()``) keeps it as ``<spec key>[.<state_tag>].train_state.safetensors``,
    # outside the checkout. ``state_tag`` binds it to one run (an experiment's evaluation settings): two runs of
    # the same training spec never share, overwrite or delete each other's resume point
    state_dir: str | Path | None = None
    state_tag: str | None = None
    # on_resume(epoch, model, log_rows, extra): called after a resume point is restored (model in eval mode),
    # before training goes on, with the ``extra`` metadata saved with it; raise CorruptResumePoint to refuse it
    on_resume: Callable | None = None
    # state_extra() -> dict[str, str]: more metadata saved with every resume point (covered by its digest), e.g.
    # the rows an experiment recorded up to that epoch
    state_extra: Callable | None = None
    # test_accuracy(model, x_test, y_test) -> float: the epoch's test accuracy (default: ``accuracy``); a caller
    # whose on_epoch evaluates more on the same images computes everything in this one pass
    test_accuracy: Callable | None = None
    # a file holding the thread count, re-read every THREADS_EVERY steps (``empirical.nets.threads``)
    threads_file: str | Path | None = None
    # clock() by which the run must have stopped: an epoch starts only if the slowest epoch so far (training
    # plus on_epoch's evaluation and the resume point) fits before it; train then returns the resume point's path
    deadline: float | None = None
    extra: dict = field(default_factory=dict)

    def state_path(self, spec: TrainSpec, out_dir) -> Path:
        """The resume point of ``spec`` trained into ``out_dir`` (see ``state_dir``)."""
        if self.state_dir is None:
            return Path(out_dir) / "train_state.safetensors"
        tag = f".{self.state_tag}" if self.state_tag else ""
        return Path(self.state_dir) / f"{spec.key()}{tag}.train_state.safetensors"

    def legacy_state_path(self, spec: TrainSpec) -> Path | None:
        """The untagged resume point that runs wrote before ``state_tag`` existed: adopted only when it proves
        itself to ``on_resume`` (never deleted otherwise: it may be another run's)."""
        if self.state_dir is None or not self.state_tag:
            return None
        return Path(self.state_dir) / f"{spec.key()}.train_state.safetensors"


def clock() -> float:
    """The clock deadlines are measured on (``time.monotonic``; a test replaces it with a fake one)."""
    return time.monotonic()


def default_state_dir() -> Path:
    """Resume points outside any checkout: ``$CORELOCKER_STATE_DIR``, else ``<cache dir>/state``
    (``empirical.nets.data.cache_dir``), so a fresh clone on the same machine continues where the last
    process stopped."""
    path = Path(os.environ.get("CORELOCKER_STATE_DIR") or data_mod.cache_dir() / "state")
    if path.exists() and not path.is_dir():
        raise UserError(f"the resume-point directory {path} (CORELOCKER_STATE_DIR or the cache) is not a directory")
    return path


def load_tensors(spec: TrainSpec, root=None, device="cpu"):
    """(x_train, y_train, x_test, y_test) normalised on ``device`` plus the data fingerprint."""
    arrays = data_mod.load_dataset(spec.dataset, root)
    fp = data_mod.fingerprint(arrays)  # of the data as stored, before anything is normalised
    x_tr, y_tr, x_te, y_te = arrays
    if spec.train_subset is not None:
        x_tr, y_tr = x_tr[: spec.train_subset], y_tr[: spec.train_subset]
    tensors = (
        data_mod.normalize(x_tr, spec.normalization).to(device),
        torch.from_numpy(y_tr).to(device),
        data_mod.normalize(x_te, spec.normalization).to(device),
        torch.from_numpy(y_te).to(device),
    )
    return tensors, fp


@torch.no_grad()
def accuracy(model, x, y, batch=2000, topk=(1,)) -> list[float]:
    """Top-k accuracies of ``model`` on (x, y), streamed in batches. A k above the number of classes C counts as
    top-C (1.0: with two classes, "top-3" is every answer)."""
    hits = [0] * len(topk)
    for i in range(0, len(x), batch):
        logits = model(x[i : i + batch])
        top = logits.topk(min(max(topk), logits.shape[1]), dim=1).indices  # (B, kmax)
        match = top == y[i : i + batch, None]
        for j, k in enumerate(topk):
            hits[j] += int(match[:, :k].any(dim=1).sum())
    return [h / len(x) for h in hits]


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


def _adopt_legacy(path: Path, model, opt, spec: TrainSpec, options: RunOptions) -> tuple[int, list]:
    """Resume from an untagged resume point only if ``on_resume`` accepts it; a refusal (CorruptResumePoint)
    goes to the caller, which restarts under its own name and never deletes this file (it may be another run's)."""
    start, log_rows, extra = load_state(path, model, opt, options.device, spec)
    model.eval()
    options.on_resume(start, model, log_rows, extra)
    log.info("resuming %s after epoch %d (adopted %s)", _name(spec), start, path)
    return start, log_rows


def _read_spec(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _train_epoch(model, opt, x_tr, y_tr, spec: TrainSpec, epoch: int, options: RunOptions):
    """One epoch over a seeded permutation (the same on resume); returns the summed loss, the hits and the
    (fewest, most) threads it ran on."""
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
    threads = {follow_threads(options.threads_file)}
    for i in bar:
        if options.threads_file is not None and (i // spec.batch_size) % THREADS_EVERY == 0:
            threads.add(follow_threads(options.threads_file))
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
    return loss_sum, correct, (min(threads), max(threads))


def train(spec: TrainSpec, out_dir, options: RunOptions = RunOptions()) -> Path:
    """Train ``spec`` into ``out_dir``; returns ``out_dir/model.safetensors``. Resumes; skips if done."""
    out = Path(out_dir)
    if not (out / "model.safetensors").exists():  # a bad dataset or data root: refused before anything is created
        data_mod.load_dataset(spec.dataset, options.data_root)  # (kept in memory for the run)
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(out), flushed_denormals(options.device):
        return _train_locked(spec, out, options)


def _name(spec: TrainSpec) -> str:
    """How logs name a training run: its shape first, then the spec hash that keys its files."""
    shape = f"{spec.hidden_layers} × {spec.width}" + ("" if spec.arch == "fcn" else f" {spec.arch}")
    return f"{shape} [{spec.key()}]"


def _run_lock(out: Path):
    """One training process per run directory: a second one is refused (it would replace the first's files)."""
    return file_lock(
        out / ".train.lock", f"another training run is writing into {out}; wait for it or choose another --out"
    )


def _check_out_dir(spec: TrainSpec, out: Path, spec_path: Path, final: Path, state_path: Path, options) -> None:
    """Refuse weights of unknown origin or of another spec, and a directory of another kind of run (checked
    before ``--restart`` deletes anything). A resume point kept elsewhere is keyed by the spec, checked on load."""
    started = final.exists() or (options.state_dir is None and state_path.exists())
    if started and not spec_path.exists():  # weights of unknown origin: never reuse them as this spec's
        raise UserError(
            f"{out} holds {final.name if final.exists() else state_path.name} but no spec.json: "
            "not a training run of this toolkit; choose another --out"
        )
    if started and _read_spec(spec_path) != spec.as_dict():
        raise UserError(f"{out} holds a run of another spec ({spec_path}); choose another --out")
    if not started and dir_kind(out) not in (None, "train", "checkpoint"):
        raise UserError(f"{out} holds a {dir_kind(out)} run; choose another --out for training")


def _train_locked(spec: TrainSpec, out: Path, options: RunOptions) -> Path:
    spec_path, final, state_path = out / "spec.json", out / "model.safetensors", options.state_path(spec, out)
    spec_json = json.dumps(spec.as_dict(), indent=1, sort_keys=True)
    _check_out_dir(spec, out, spec_path, final, state_path, options)
    if options.restart:
        state_path.unlink(missing_ok=True)
    write_text(spec_path, spec_json)
    if final.exists():
        log.info("%s already trained: %s", _name(spec), final)
        return final

    device = options.device
    reuse_freed_memory()
    strict_fp32(device)
    (x_tr, y_tr, x_te, y_te), fp = load_tensors(spec, options.data_root, device)
    model = make_model(spec.arch, spec.hidden_layers, spec.width, seed=spec.seed).to(device)
    init_bn(model, spec.bn_init)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, spec, device)
    start, log_rows, legacy = 0, [], options.legacy_state_path(spec)
    if state_path.exists():
        start, log_rows, extra = load_state(state_path, model, opt, device, spec)
        log.info("resuming %s after epoch %d (%s)", _name(spec), start, state_path)
        if options.on_resume is not None:
            model.eval()
            options.on_resume(start, model, log_rows, extra)
    elif legacy is not None and legacy.exists() and options.on_resume is not None and not options.restart:
        start, log_rows = _adopt_legacy(legacy, model, opt, spec, options)
    else:
        legacy = None

    n = len(x_tr)
    slowest = 0.0  # seconds of the slowest whole epoch in this process (training, evaluation, resume point)
    for epoch in range(start, spec.epochs):
        if options.stop_after_epochs is not None and epoch >= options.stop_after_epochs:
            return state_path
        if options.deadline is not None and clock() + slowest > options.deadline:
            log.info(
                "%s: stopping before epoch %d: the slowest epoch (%.0f s) would end after the deadline",
                _name(spec),
                epoch + 1,
                slowest,
            )
            return state_path
        t_epoch = clock()
        t0 = time.perf_counter()
        loss_sum, correct, (t_min, t_max) = _train_epoch(model, opt, x_tr, y_tr, spec, epoch, options)
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
            threads_min=t_min,
            threads_max=t_max,
        )
        if options.on_epoch is not None:
            options.on_epoch(epoch + 1, model, row)
        log_rows.append(row)
        log.info(
            "%s epoch %d: loss %.4f train %.4f test %.4f (%.1fs)",
            _name(spec),
            row["epoch"],
            row["loss"],
            row["train_acc"],
            row["test_acc"],
            row["seconds"],
        )
        save_state(
            state_path, model, opt, epoch + 1, log_rows, spec, options.state_extra() if options.state_extra else None
        )
        write_csv(out / "train_log.csv", pd.DataFrame(log_rows))
        slowest = max(slowest, clock() - t_epoch)
        if legacy is not None:  # adopted and now saved under this run's own name
            legacy.unlink(missing_ok=True)
            legacy = None

    return _finish(spec, model, fp, log_rows, final, state_path)


def _finish(spec: TrainSpec, model, fp: str, log_rows: list, final: Path, state_path: Path) -> Path:
    """The trained network as a checkpoint (spec, data fingerprint, final test accuracy); the resume point goes."""
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
