"""Tables 6–7 at CPU scale: CoreLocker on a ViT and an LSTM (the paper's Appendix B.2).

The paper locks BERT (AG News), a CNN-LSTM (CIFAR-10) and a ViT (CIFAR-100) at a global ratio of 0.05
(Table 6) and shows granular utility levels on the ViT (Table 7). Here: a small ViT on Fashion-MNIST
and an LSTM reading MNIST row by row (``empirical.nets.others``); no text data set ships in a package
this machine can install, so there is no BERT row (the README says so). Per model (a resumable cell):

* Table 6: test accuracy of the original, of ℓ1 single weights (CoreLocker), ℓ1 whole neurons (rows of
  every weight matrix), the LayerNorm scale (bn-scale's analogue; ViT only) and random weights
  (``random_seeds`` seeds) at ``ratio`` of the candidate units (first projection and classifier excluded);
* Table 7: the utility curve (ℓ1 weights and neurons) and its 10-point utility bins;
* the stage measurement at ``ratio`` (ℓ1) on ``check_samples`` test images: d, G and each block's own
  change e; attention and recurrence have no stated Lipschitz bound, so those stages get no chain bound
  and the report says which claims do not apply.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from empirical._io import write_text
from empirical.errors import UserError
from empirical.experiments.arguments import _common_device
from empirical.experiments.markdown import md_table
from empirical.experiments.presets import pick
from empirical.experiments.rundir import Options, RunDir, check_only, load_tables
from empirical.lock.extraction import extract
from empirical.lock.ratio import check_ratio
from empirical.lock.sweep import accuracy_curve
from empirical.lock.utility import utility_bins
from empirical.measure import measure
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.data import test_set_for
from empirical.nets.others import describe_other
from empirical.nets.train import RunOptions, TrainSpec, accuracy, train

log = logging.getLogger(__name__)

PAPER_TABLE6 = {
    "BERT (Transformer, AG News, 4 classes)": (87.2, 25.3),
    "CNN-LSTM (CIFAR-10, 10 classes)": (81.1, 10.0),
    "ViT (CIFAR-100, 100 classes)": (81.4, 1.4),
}
PAPER_TABLE7 = [(0.0, 81.4), (0.005, 74.2), (0.01, 65.0), (0.015, 58.1), (0.02, 41.8)]  # ViT, CIFAR-100
VARIANTS = {"CoreLocker ℓ1 (weights)": "l1", "ℓ1 neurons (rows)": "l1-neuron", "LayerNorm scale": "bn-scale"}
TABLES = ("table6", "curves", "bins", "stages", "models")
CURVE = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class OtherArchsConfig:
    models: tuple = (
        dict(name="vit", arch="vit", dataset="fashion-mnist", hidden_layers=4, width=64, epochs=8),
        dict(name="lstm", arch="lstm", dataset="mnist", hidden_layers=2, width=128, epochs=4),
    )
    ratio: float = 0.05
    curve: tuple[float, ...] = CURVE
    random_seeds: int = 3
    check_samples: int = 500
    train_subset: int | None = None
    kind: str = "other-archs"

    def __post_init__(self):
        check_ratio(self.ratio)
        for r in self.curve:
            check_ratio(r)
        if self.random_seeds < 1 or not 1 <= self.check_samples <= 10_000:
            raise UserError("random_seeds must be >= 1 and check_samples in 1..10000")
        for m in self.models:
            if m.get("arch") not in ("vit", "lstm"):
                raise UserError(f"model {m.get('name')}: arch must be vit or lstm")

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def spec(self, m: dict) -> TrainSpec:
        return TrainSpec(hidden_layers=m["hidden_layers"], width=m["width"], epochs=m["epochs"], dataset=m["dataset"],
                         arch=m["arch"], train_subset=self.train_subset)  # fmt: skip


def table6_rows(model, x, y, config: OtherArchsConfig, name: str) -> pd.DataFrame:
    rows = [dict(model=name, variant="original", indicator="—", seed=0, k=0, accuracy=accuracy(model, x, y)[0])]
    for variant, indicator in VARIANTS.items():
        try:
            locked, key = extract(model, config.ratio, indicator)
        except UserError as exc:  # no LayerNorm in an LSTM
            log.info("%s: %s: %s", name, variant, exc)
            continue
        rows.append(dict(model=name, variant=variant, indicator=indicator, seed=0, k=key.meta["k_total"],
                         accuracy=accuracy(locked, x, y)[0]))  # fmt: skip
    for s in range(config.random_seeds):
        locked, key = extract(model, config.ratio, "random", seed=s)
        rows.append(dict(model=name, variant="random weights", indicator="random", seed=s, k=key.meta["k_total"],
                         accuracy=accuracy(locked, x, y)[0]))  # fmt: skip
    return pd.DataFrame(rows)


def run_cell(m: dict, config: OtherArchsConfig, rd: RunDir, device="cpu", progress=True) -> None:
    spec = config.spec(m)
    path = train(spec, rd.cell_dir(m["name"]), RunOptions(device=device, progress=progress))
    model, meta = load_checkpoint(path, device)
    model.eval()
    x, y = test_set_for(meta["spec"], device=device)
    t6 = table6_rows(model, x, y, config, m["name"])
    curves = pd.concat([accuracy_curve(model, x, y, config.curve, ind) for ind in ("l1", "l1-neuron")],
                       ignore_index=True)  # fmt: skip
    bins = utility_bins(curves, width=0.1)
    locked, _ = extract(model, config.ratio, "l1")
    n = config.check_samples
    stages = measure(model, locked, x[:n], y[:n], batch=250).layers
    n_params = sum(p.numel() for p in model.parameters())
    models = pd.DataFrame([dict(model=m["name"], network=describe_other(m["arch"], m["hidden_layers"], m["width"]),
                                dataset=m["dataset"], epochs=m["epochs"], n_parameters=n_params,
                                acc_original=meta.get("test_acc"))])  # fmt: skip
    tables = dict(table6=t6, curves=curves, bins=bins, stages=stages, models=models)
    for df in tables.values():
        if "model" not in df:
            df.insert(0, "model", m["name"])
    rd.finish(m["name"], tables, {"model": m["name"]})


def run(config: OtherArchsConfig, run_dir, options: Options = Options()) -> dict[str, pd.DataFrame]:
    rd = RunDir(run_dir, KIND, config.to_json(), TABLES)
    models = {m["name"]: m for m in config.models}
    check_only(options.only, models)
    with rd.open():
        tables = rd.run_cells(list(models), lambda name: run_cell(models[name], config, rd, options.device,
                                                                  options.progress), options.only)  # fmt: skip
        write_report(run_dir)
    return tables


KIND = "other-archs"
DESCRIPTION = (
    "Train each model, lock it at --ratio (l1 weights, l1 neurons, LayerNorm scale, random), sweep the utility curve "
    "(Table 7's bins) and measure every block; write report.md."
)
Config = OtherArchsConfig
PRESETS = {
    "default": OtherArchsConfig(),
    "quick": OtherArchsConfig(  # tiny models, one epoch on 2,000 images: a smoke test
        models=(dict(name="vit", arch="vit", dataset="fashion-mnist", hidden_layers=1, width=16, epochs=1),
                dict(name="lstm", arch="lstm", dataset="mnist", hidden_layers=1, width=16, epochs=1)),
        train_subset=2000, random_seeds=2, check_samples=50, curve=(0.01, 0.1),
    ),
}  # fmt: skip


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--preset", default="default", help="default, or quick (= --quick)")
    p.add_argument("--quick", action="store_true", help="tiny models, one epoch on 2,000 images (a smoke test)")
    p.add_argument("--no-progress", action="store_true")
    _common_device(p)


def configure(args) -> tuple[OtherArchsConfig, Options]:
    pick(PRESETS, args.preset, "other-archs preset")
    return PRESETS["quick" if args.quick else args.preset], Options(device=args.device, progress=not args.no_progress)


def summary(config: OtherArchsConfig, tables: dict[str, pd.DataFrame]) -> str:
    return tables["table6"].groupby(["model", "variant"], sort=False)["accuracy"].mean().round(4).to_string()


def write_report(run_dir) -> Path:

    run_dir = Path(run_dir)
    t = load_tables(run_dir, TABLES, "table6", "other-archs", "other-archs")
    t6, bins, stages, models, cfg = t["table6"], t["bins"], t["stages"], t["models"], t["config"]
    summary = t6.groupby(["model", "variant"], sort=False)["accuracy"].agg(["mean", "std", "count"]).reset_index()
    summary[["mean", "std"]] *= 100
    paper = pd.DataFrame([dict(model=k, original=v[0], corelocker=v[1]) for k, v in PAPER_TABLE6.items()])
    cols = ["model", "layer", "kind", "n_extracted", "chain_bound", "d_median", "G_median", "e_median",
            "sandwich_holds_frac", "theorem2_holds_frac"]  # fmt: skip
    parts = [
        "# Tables 6–7 at CPU scale: a ViT and an LSTM",
        "",
        f"Ratio {cfg.get('ratio')} of the candidate units (the first projection and the classifier excluded), every "
        "accuracy on the whole test set. No text data set ships in a package this machine can install, so there is "
        "no BERT row.",
        "",
        "## Models",
        "",
        md_table(models),
        "",
        "## Table 6: test accuracy (%) at the ratio (random: mean ± sd over seeds)",
        "",
        md_table(summary.rename(columns={"mean": "accuracy_%", "std": "sd", "count": "n"})),
        "",
        "The paper's Table 6 (original → CoreLocker at 0.05):",
        "",
        md_table(paper),
        "",
        "## Table 7: utility bins (10 points) of the ℓ1 curves",
        "",
        md_table(bins),
        "",
        "The paper's Table 7 (ViT, CIFAR-100): " + ", ".join(f"{r} → {a} %" for r, a in PAPER_TABLE7) + ".",
        "",
        "## Stages measured at the ratio (ℓ1)",
        "",
        "Theorems 3–4 are stated for plain linear and conv layers. Attention, LayerNorm and recurrence have no "
        "stated Lipschitz bound, so their stages get no chain bound (`chain_bound`): d, G and the stage's own change e "
        "are measured and the triangle inequality d <= G + e is checked; Theorem 2's d >= G is reported as a fraction.",
        "",
        md_table(stages[[c for c in cols if c in stages]]),
        "",
    ]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path
