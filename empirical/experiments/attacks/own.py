"""``attacks --checkpoint``: every attack on the user's own locked model (``empirical.lock.attacks.attack_locked``)
— fine-tuning under SGD and Adam, the key-position attack, training from scratch to convergence — and, with the
key, every key-position detector's precision and recall (``empirical.lock.detectors``). Writes ``attacks.csv``
(and ``detectors.csv``) together, atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from empirical.errors import UserError
from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.statistics import paired_t
from empirical.kinds import claim_dir, mark_dir
from empirical.lock.attacks import FT_MODES as FT_ATTACKS
from empirical.lock.attacks import attack_locked, stratified_subset
from empirical.lock.detectors import detector_rows
from empirical.lock.keys import AccessKey
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.data import test_set_for, train_set_for
from empirical.nets.models import make_model
from empirical.nets.modules import MODULE_ARCH, load_builder
from empirical.safety import commit_files, output_lock

log = logging.getLogger("empirical.attacks")

KIND = "attack-checkpoint"
OUTPUTS = ("attacks.csv", "detectors.csv", "report.md")


@dataclass(frozen=True)
class OwnAttack:
    """The user's locked model and how hard to attack it."""

    checkpoint: Path
    key: Path | None = None  # never used by an attack: the original's accuracy and the detectors' scores
    model: str | None = None  # FILE.py:FUNCTION building the user's nn.Module
    data_root: str | None = None
    fractions: tuple[float, ...] = (0.01, 0.05)
    seeds: int = 1
    epochs: int = 20
    baseline: bool = True

    def __post_init__(self):
        for f in self.fractions:
            if not 0 < f <= 1:  # also NaN
                raise UserError(f"--fractions: {f} is not a share of the training data in (0, 1]")
        for name in ("seeds", "epochs"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1, got {getattr(self, name)}")


def attack_checkpoint(own: OwnAttack, out: Path, device: str = "cpu") -> dict[str, pd.DataFrame]:
    """Every attack on ``own.checkpoint``; the tables written into ``out`` (``attacks``, ``detectors`` with a key)."""
    out = Path(out)
    claim_dir(out, KIND, OUTPUTS)
    builder = load_builder(own.model) if own.model else None
    locked, meta = load_checkpoint(own.checkpoint, device, builder=builder)
    key = AccessKey.load(own.key) if own.key is not None else None
    if key is not None:
        key.restore(locked)  # a key of another model: refused now, not after the attacks
    spec, arch = meta["spec"], meta["spec"].get("arch", "fcn")
    if arch == MODULE_ARCH:
        make = builder.build
    else:

        def make():
            return make_model(arch, int(spec["hidden_layers"]), int(spec["width"])).to(device)

    train, test = train_set_for(spec, own.data_root, device), test_set_for(spec, own.data_root, device)
    rows = attack_locked(
        locked,
        make,
        train,
        test,
        list(own.fractions),
        own.seeds,
        key,
        own.epochs,
        own.baseline,
        progress=lambda text: log.info("attack: %s", text),
    )
    tables = {"attacks": pd.DataFrame(rows)}
    verdicts = own_verdicts(tables["attacks"])
    if key is not None:  # where is the key? every detector, the gradient one on the smallest share's data
        idx = stratified_subset(train[1], min(own.fractions), seed=0)
        tables["detectors"] = pd.DataFrame(detector_rows(locked, key, train[0][idx], train[1][idx]))
    out.mkdir(parents=True, exist_ok=True)
    with output_lock([out / OUTPUTS[0]]):
        mark_dir(out, KIND)
        writers = {out / f"{name}.csv": (lambda tmp, t=t: t.to_csv(tmp, index=False)) for name, t in tables.items()}
        writers[out / "report.md"] = lambda tmp: tmp.write_text(own_report(tables, verdicts, own))
        commit_files(writers)
        if key is None:  # an earlier run's detectors would not describe this one
            (out / "detectors.csv").unlink(missing_ok=True)
    return tables


SCRATCH = "from scratch (own architecture, converged)"


def own_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per data share: does the best fine-tuning attack beat the attacker's training from scratch? The best attack
    (highest mean accuracy over the seeds) against the converged from-scratch baseline on the same seeds' subsets:
    the paired one-sided t-test (2+ seeds; with one seed the margin alone, no verdict at α)."""
    rows = []
    attacked = table[(table["fraction"] > 0) & table["attack"].isin(FT_ATTACKS)]
    for frac, g in attacked.groupby("fraction"):
        base = table[(table["attack"] == SCRATCH) & (table["fraction"] == frac)].set_index("seed")["accuracy"]
        means = g.groupby(["attack", "recipe"])["accuracy"].mean()
        (attack, recipe), best = means.idxmax(), means.max()
        a = g[(g["attack"] == attack) & (g["recipe"] == recipe)].set_index("seed")["accuracy"]
        seeds = sorted(set(a.index) & set(base.index))
        row = dict(fraction=frac, attack=attack, recipe=recipe, accuracy=best, from_scratch=float(base.mean()) if
                   len(base) else float("nan"), seeds=len(seeds), p=float("nan"))  # fmt: skip
        if len(seeds) >= 2:
            row["p"] = paired_t(a[seeds].to_numpy(), base[seeds].to_numpy())["p_greater"]
        row["margin"] = row["accuracy"] - row["from_scratch"]
        row["verdict"] = (
            "no from-scratch baseline run" if not len(base) else
            ("the attack beats training from scratch" if row["p"] < 0.05 else "not better than training from scratch")
            if len(seeds) >= 2 else
            ("the attack ends above training from scratch (one seed: no test)" if row["margin"] > 0 else
             "the attack ends below training from scratch (one seed: no test)")
        )  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_line(v: pd.DataFrame) -> str:
    """One line: whether the lock holds against fine-tuning, per share."""
    if not len(v):
        return "no attack measured"
    parts = [f"{100 * r.fraction:g} %: {r.attack} ({r.recipe}) {100 * r.accuracy:.1f} % vs from scratch "
             f"{100 * r.from_scratch:.1f} % ({100 * r.margin:+.1f} pp" + (f", paired p {r.p:.2g}" if r.p == r.p else "")
             + f") — {r.verdict}" for r in v.itertuples()]  # fmt: skip
    holds = all(r.verdict.startswith(("not better", "the attack ends below")) for r in v.itertuples())
    return ("the lock holds against fine-tuning at every share measured: " if holds else
            "the lock does not hold against fine-tuning at every share: ") + "; ".join(parts)  # fmt: skip


def own_report(tables: dict[str, pd.DataFrame], verdicts: pd.DataFrame, own: OwnAttack) -> str:
    """``report.md`` of ``attacks --checkpoint``: the verdict line, its table, and every attack row."""
    lines = [f"# Attacks on {own.checkpoint.name}", "", f"**{verdict_line(verdicts)}.**", "",
             "The best fine-tuning attack per share (of the four modes under both recipes, by mean accuracy) against "
             "the attacker's training of the same architecture from scratch to convergence on the same subsets "
             "(paired by seed; one-sided t-test at 5 %).", "", md_table(verdicts), "", "## Every attack", "",
             md_table(tables["attacks"]), ""]  # fmt: skip
    if "detectors" in tables:
        lines += ["## Key-position detectors", "", md_table(tables["detectors"]), ""]
    return "\n".join(lines)


def own_summary(tables: dict[str, pd.DataFrame]) -> str:
    table = tables["attacks"]
    attacked = table[table["fraction"] > 0]
    seeds = attacked["seed"].nunique()
    means = attacked.groupby(["attack", "recipe", "fraction"], sort=False)["accuracy"].mean().unstack("fraction")
    lines = [verdict_line(own_verdicts(table))]
    lines += [f"{r['attack']}: test accuracy {r['accuracy']:.4f}" for _, r in table[table["fraction"] == 0].iterrows()]
    lines += [
        f"mean test accuracy after each attack ({seeds} seed(s) per share; columns: the attacker's share "
        "of the training data):",
        means.round(4).to_string(),
    ]
    kp = attacked[attacked["attack"] == "key positions"].iloc[0]
    scores = f", precision {kp['precision']:.3f}, recall {kp['recall']:.3f}" if "recall" in kp else ""
    lines.append(
        f"key-position detector (exact zeros, silenced BN channels): {int(kp['detected'])} values flagged{scores}"
    )
    if "detectors" in tables:
        lines.append(tables["detectors"].round(4).to_string(index=False))
    return "\n".join(lines)
