"""The depth × width grid of Section 5.1.1 / Figure 5: train, lock, measure every cell; resumable.

A run directory holds ``config.json`` (the ``GridConfig``: everything that determines the
results; a different one in an existing directory is refused) and one folder per cell,
``cells/h{H}_w{w}_s{seed}/``, with the training run (``spec.json``, ``train_log.csv``,
``model.safetensors``) and the cell's result tables. A cell is finished when its ``done.json``
exists; it is written last, after every table of the cell, each written atomically. The
top-level tables (``results.csv``, ``bounds_checks.csv``, ``disparities.csv``,
``critical_ratios.csv``, ``theorem1_mc.csv``, ``train_log.csv``) are the concatenation of the
finished cells, rebuilt atomically at start and after every cell: never a partial or duplicated
row. A resumed run needs only ``config.json`` and the finished cells' tables (not checkpoints),
so a grid continues from committed results on a fresh machine.

Per cell, after training (the cost), everything is cheap and streamed:
  * accuracy vs ratio (``empirical.lock.sweep``): ``l1`` and the ``random`` baseline over
    ``random_seeds`` seeds, top-1 and top-3 on the full test set;
  * critical ratios (``empirical.lock.utility.ratio_for_utility``): the smallest k whose accuracy is
    at or below 50 % and chance + 5 pp, chosen on one half of the test set, checked on the other;
  * per-layer bound checks (``empirical.measure.fcn``) at every ratio for ``l1`` and ``random``
    seed 0 on the first ``n_check`` test images;
  * Theorem 1 by Monte Carlo over re-initialised networks of the cell's shape
    (``empirical.measure.variance_mc``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from empirical._io import write_csv, write_text
from empirical.errors import CorruptResumePoint, UserError
from empirical.experiments.presets import PAPER_RATIO, Preset
from empirical.lock.ratio import check_ratio

log = logging.getLogger(__name__)

TABLES = ("results", "bounds_checks", "disparities", "critical_ratios", "theorem1_mc", "train_log")
CHANCE = 0.1


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
        if PAPER_RATIO not in self.ratios:
            raise UserError("the ratio list must hold the paper's 0.00002 (0.002 %, Figure 5)")
        if self.random_seeds < 1:
            raise UserError(f"random seeds must be >= 1, got {self.random_seeds}")
        if self.n_check < 1 or self.mc_networks < 2:
            raise UserError("n_check must be >= 1 and mc_networks >= 2")
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
        from bounds.fcn_grid import n_parameters

        return n_parameters(self.hidden_layers, self.width)


@dataclass(frozen=True)
class GridOptions:
    """Run-time settings: they do not change the results."""

    device: str = "cpu"
    workers: int = 2  # local executor: worker processes
    threads: int = 1  # torch threads per worker
    executor: str = "local"  # "local", "ray" or "ray://ADDRESS"
    progress: bool = True
    data_root: str | None = None
    max_cells: int | None = None  # stop after this many cells (for a bounded run)
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------ run dir
def _prepare(run_dir: Path, config: GridConfig) -> None:
    """Create ``run_dir`` or check that it belongs to ``config``; refuse a different one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"{path} is not readable JSON ({exc}); choose another --out") from None
        mine = config.to_json()
        diff = sorted(k for k in set(old) | set(mine) if k != "preset" and old.get(k) != mine.get(k))
        if diff:
            raise UserError(
                f"{run_dir} holds a grid with another configuration (differs in: {', '.join(diff)}); "
                "choose another --out"
            )
        return
    write_text(path, json.dumps(config.to_json(), indent=1) + "\n")


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold an exclusive lock on ``run_dir`` for the whole run; a second run is refused."""
    fh = open(run_dir / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UserError(
            f"another grid run is writing into {run_dir} (locked); wait for it or choose another --out"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def done_cells(run_dir: Path) -> set[str]:
    return {p.parent.name for p in (run_dir / "cells").glob("*/done.json")}


def collect(run_dir: Path, config: GridConfig | None = None) -> dict[str, pd.DataFrame]:
    """Concatenate the finished cells' tables (in cell order) and write the top-level ones atomically."""
    run_dir = Path(run_dir)
    names = sorted(done_cells(run_dir))
    if config is not None:
        order = {c.name: i for i, c in enumerate(config.cells())}
        names = sorted((n for n in names if n in order), key=order.get)
    out = {}
    for table in TABLES:
        frames = []
        for n in names:
            p = run_dir / "cells" / n / f"{table}.csv"
            if p.exists():
                frames.append(pd.read_csv(p))
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if frames:
            write_csv(run_dir / f"{table}.csv", df)
        out[table] = df
    return out


# ------------------------------------------------------------------------------------- one cell
def run_cell(cell: Cell, config: GridConfig, run_dir, options: GridOptions = GridOptions()) -> dict:
    """Train (or reuse) one cell, then sweep, search critical ratios and check the bounds; write its tables."""
    import torch

    from empirical.nets.checkpoint import load_checkpoint
    from empirical.lock.extraction import extract
    from empirical.measure.fcn import Constants, measure
    from empirical.nets.models import make_fcn
    from empirical.lock.sweep import accuracy_curve
    from empirical.nets.train import RunOptions, TrainSpec, load_tensors, train
    from empirical.lock.utility import ratio_for_utility
    from empirical.measure.variance_mc import theorem1_monte_carlo

    run_dir = Path(run_dir)
    cdir = run_dir / "cells" / cell.name
    log.info("cell %s: starting (pid %d)", cell.name, os.getpid())
    spec = TrainSpec(
        cell.hidden_layers,
        cell.width,
        config.epochs,
        config.lr,
        config.batch_size,
        cell.seed,
        config.dataset,
        config.normalization,
        config.train_subset,
        config.precision,
    )
    t0 = time.perf_counter()
    opts = RunOptions(device=options.device, progress=False, data_root=options.data_root)
    try:
        train(spec, cdir, opts)
    except CorruptResumePoint as exc:  # a local cache, never committed: retrain this cell, not stop the grid
        log.warning("cell %s: %s; training it from scratch", cell.name, exc)
        train(spec, cdir, replace(opts, restart=True))
    t_train = time.perf_counter() - t0
    t1 = time.perf_counter()
    model, meta = load_checkpoint(cdir, options.device)
    model.eval()
    (_, _, x_te, y_te), _ = load_tensors(spec, options.data_root, options.device)
    ident = dict(hidden_layers=cell.hidden_layers, width=cell.width, seed=cell.seed, n_parameters=cell.n_parameters)

    # ---- accuracy vs ratio: l1 and the random baseline ------------------------------------------
    from empirical.lock.sweep import top_accuracy

    acc0, top3_0 = top_accuracy(model, x_te, y_te)
    curves = [accuracy_curve(model, x_te, y_te, config.ratios, config.indicator, seed=0)]
    curves += [accuracy_curve(model, x_te, y_te, config.ratios, "random", seed=s) for s in range(config.random_seeds)]
    res = pd.concat(curves, ignore_index=True).rename(columns={"top1": "acc_extracted", "top3": "top3_extracted"})
    res.insert(0, "random_seed", res.pop("seed"))
    for k, v in reversed(ident.items()):
        res.insert(0, k, v)
    res["acc_original"], res["top3_original"] = acc0, top3_0
    res["acc_drop"] = acc0 - res["acc_extracted"]
    res["share_of_candidates"] = res["n_extracted"] / res["n_candidates"]

    log.info("cell %s: sweeps done (%.0fs)", cell.name, time.perf_counter() - t1)

    # ---- per-layer bound checks at every ratio (l1, random seed 0) -------------------------------
    n = min(config.n_check, len(x_te))
    initial = make_fcn(cell.hidden_layers, cell.width, seed=cell.seed)
    checks, disp, extra = [], [], []
    weight_cache: dict = {}  # the original's norms and statistics, computed once for all ratios
    for indicator in (config.indicator, "random"):
        for r in config.ratios:
            locked, key = extract(model, r, indicator, seed=0)
            m = measure(model, locked, x_te[:n], y_te[:n], constants=Constants(), initial=initial, cache=weight_cache)
            lay = m.layers.copy()
            for k, v in reversed({**ident, "indicator": indicator, "ratio": r}.items()):
                lay.insert(0, k, v)
            checks.append(lay)
            q = m.samples.groupby("layer")
            d = pd.DataFrame(
                {
                    "d_q05": q["d"].quantile(0.05),
                    "d_median": q["d"].median(),
                    "d_q95": q["d"].quantile(0.95),
                    "d_mean": q["d"].mean(),
                    "G_median": q["G"].median(),
                    "G_q05": q["G"].quantile(0.05),
                    "G_q95": q["G"].quantile(0.95),
                    "sandwich_median": q["sandwich_upper"].median(),
                    "theorem3_measured_median": q["theorem3_bound_measured"].median(),
                    "theorem3_property1_median": q["theorem3_bound_property1"].median(),
                }
            ).reset_index()
            for k, v in reversed({**ident, "indicator": indicator, "ratio": r}.items()):
                d.insert(0, k, v)
            disp.append(d)
            s = m.summary
            extracted = m.layers[m.layers["n_extracted"] > 0]
            deep = int(extracted["layer"].max())  # deepest layer with extracted weights (layer H for l1)
            at = m.samples[m.samples["layer"] == deep]
            out = m.samples[m.samples["layer"] == m.layers["layer"].max()]
            p3 = extracted["theorem3_probability"].to_numpy(dtype=float)
            extra.append(
                {
                    "indicator": indicator,
                    "random_seed": 0,
                    "ratio": r,
                    "sandwich_all_hold": s["sandwich_all_hold"],
                    "theorem2_min_holds_frac": float(extracted["theorem2_holds_frac"].min()),
                    "mu_max": float(m.layers["mu"].max()),
                    "lambda_property1": s["lambda_property1"],
                    "lambda_measured": float(m.layers["w_norm"].max()),
                    "deep_layer": deep,
                    "d_deep_median": float(at["d"].median()),
                    "G_deep_median": float(at["G"].median()),
                    "theorem3_measured_deep_median": float(at["theorem3_bound_measured"].median()),
                    "theorem3_property1_deep_median": float(at["theorem3_bound_property1"].median()),
                    "eta_measured_deep": float((at["theorem3_bound_measured"] - at["G"]).median()),
                    "eta_property1_deep": float((at["theorem3_bound_property1"] - at["G"]).median()),
                    "d_output_median": float(out["d"].median()),
                    "theorem3_probability_best": float(np.nanmax(p3)) if np.isfinite(p3).any() else float("nan"),
                    "C_w": s["C_w"],
                    "D_w": s["D_w"],
                }
            )
    res = res.merge(pd.DataFrame(extra), on=["indicator", "random_seed", "ratio"], how="left")

    log.info("cell %s: bound checks done (%.0fs)", cell.name, time.perf_counter() - t1)

    # ---- critical ratios (selection half / held-out half) ---------------------------------------
    crit = []
    for target in config.targets:
        try:
            l1 = curves[0]
            below = l1[l1["top1"] <= target]
            start = int(below["n_extracted"].iloc[0]) if len(below) else int(l1["n_extracted"].iloc[-1])
            found = ratio_for_utility(
                model,
                x_te,
                y_te,
                target,
                indicator=config.indicator,
                seed=0,
                start_k=start,
                window=0,
                rel_resolution=0.01,
            ).as_row()
            found["status"] = "found"
        except UserError as exc:  # the network starts below the target, or no ratio reaches it
            found = {"status": str(exc)}
        crit.append({**ident, "indicator": config.indicator, "target": target, **found})
    crit = pd.DataFrame(crit)

    # ---- Theorem 1: variance over re-initialised networks -------------------------------------
    mc = theorem1_monte_carlo(cell.hidden_layers, cell.width, x_te[:4].cpu(), config.mc_networks, seed=cell.seed)
    for k, v in reversed(ident.items()):
        mc.insert(0, k, v)

    log_df = pd.read_csv(cdir / "train_log.csv")
    for k, v in reversed(ident.items()):
        log_df.insert(0, k, v)
    res["test_acc_trained"] = float(meta.get("test_acc") or float("nan"))
    t_eval = time.perf_counter() - t1
    for name, df in (
        ("results", res),
        ("bounds_checks", pd.concat(checks, ignore_index=True)),
        ("disparities", pd.concat(disp, ignore_index=True)),
        ("critical_ratios", crit),
        ("theorem1_mc", mc),
        ("train_log", log_df),
    ):
        write_csv(cdir / f"{name}.csv", df)
    done = {
        **ident,
        "acc_original": acc0,
        "train_seconds": round(t_train, 2),
        "eval_seconds": round(t_eval, 2),
        "device": options.device,
        "torch_threads": torch.get_num_threads(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text(cdir / "done.json", json.dumps(done, indent=1) + "\n")  # last: the cell is finished
    return done


# ------------------------------------------------------------------------------------ executors
def _die_with_parent() -> None:
    """Linux: deliver SIGKILL to this worker when the grid process dies (kill -9 leaves no orphans)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _limit_threads(threads: int) -> None:
    """torch and the BLAS under numpy/scipy both get ``threads`` (workers share the cores)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


def _worker_init(threads: int) -> None:
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _limit_threads(threads)


def _local_job(args):
    cell, config, run_dir, options = args
    return run_cell(cell, config, run_dir, options)


def _run_local(pending, config, run_dir, options, on_done):
    import multiprocessing as mp

    if options.workers == 1:  # in this process, with its thread counts set for the run and restored after
        import torch
        from threadpoolctl import threadpool_limits

        before = torch.get_num_threads()
        torch.set_num_threads(options.threads)
        try:
            with threadpool_limits(limits=options.threads):
                for cell in pending:
                    on_done(cell, run_cell(cell, config, run_dir, options))
        finally:
            torch.set_num_threads(before)
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(options.workers, initializer=_worker_init, initargs=(options.threads,)) as pool:
        jobs = [(c, config, run_dir, options) for c in pending]
        by_name = {c.name: c for c in pending}
        for done in pool.imap_unordered(_local_job, jobs):
            on_done(by_name[_cell_name(done)], done)


def _cell_name(done: dict) -> str:
    return Cell(done["hidden_layers"], done["width"], done["seed"]).name


def _run_ray(pending, config, run_dir, options, on_done):
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'corelocker-bounds[ray]'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = options.executor[len("ray://") :] if options.executor.startswith("ray://") else None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=f"ray://{address}" if ":" in address else address, log_to_driver=False)
        else:
            ray.init(num_cpus=options.workers, num_gpus=0, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = 1 if options.device.startswith("cuda") else 0  # never ask for a GPU a CPU run does not need
        task = ray.remote(num_cpus=options.threads, num_gpus=gpus)(_ray_cell)
        refs = {task.remote(c, config, str(run_dir), options): c for c in pending}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                cell = refs.pop(ref)
                on_done(cell, ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def _ray_cell(cell, config, run_dir, options):
    _limit_threads(options.threads)
    return run_cell(cell, config, run_dir, options)


def run_grid(config: GridConfig, run_dir, options: GridOptions = GridOptions()) -> dict[str, pd.DataFrame]:
    """Run (or resume) the grid into ``run_dir``; returns the top-level tables."""
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    if options.executor not in ("local", "ray") and not options.executor.startswith("ray://"):
        raise UserError(f"unknown executor {options.executor!r} (local, ray, ray://ADDRESS)")
    if options.workers < 1 or options.threads < 1:
        raise UserError("--workers and --threads must be >= 1")
    _prepare(run_dir, config)
    with run_lock(run_dir):
        cells = config.cells()
        finished = done_cells(run_dir)
        collect(run_dir, config)
        pending = [c for c in cells if c.name not in finished]
        pending.sort(key=lambda c: -c.n_parameters)  # largest first: the workers finish together
        if options.max_cells is not None:
            pending = pending[: options.max_cells]
        cost = {c.name: c.n_parameters * config.epochs + 1 for c in cells}
        total = sum(cost.values())
        log.info(
            "grid %s: %d cells, %d finished, %d to run (%s executor)",
            run_dir,
            len(cells),
            len(finished),
            len(pending),
            options.executor,
        )
        bar = tqdm(
            total=total,
            initial=sum(cost[n] for n in finished if n in cost),
            disable=not options.progress,
            unit="work",
            bar_format="{l_bar}{bar}| {postfix} [{elapsed}<{remaining}]",
        )
        state = {"done": len([c for c in cells if c.name in finished])}

        def on_done(cell, info):
            state["done"] += 1
            collect(run_dir, config)
            bar.update(cost[cell.name])
            bar.set_postfix_str(f"cells {state['done']}/{len(cells)}, last {cell.name}")
            log.info(
                "cell %s done (%d/%d): accuracy %.4f, train %.0fs, eval %.0fs",
                cell.name,
                state["done"],
                len(cells),
                info["acc_original"],
                info["train_seconds"],
                info["eval_seconds"],
            )

        if pending:
            log.info("running %s", ", ".join(c.name for c in pending[: options.workers]))
            if options.executor == "local":
                _run_local(pending, config, run_dir, options, on_done)
            else:
                _run_ray(pending, config, run_dir, options, on_done)
        bar.close()
        return collect(run_dir, config)
