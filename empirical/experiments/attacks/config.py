"""The attacks experiment's configuration (``empirical.experiments.attacks.run``): the owner's models, the fills
and the attacks' settings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from empirical.errors import UserError
from empirical.nets.train import TrainSpec

FCN_7 = dict(
    name="fcn-7x400",
    arch="fcn",
    dataset="mnist",
    hidden_layers=7,
    width=400,
    epochs=15,
    indicator="l1",
    lock="chance+5pp",
    fractions=(0.01, 0.05, 0.1),
    seeds=5,
    ft_epochs=20,
)
FCN_13 = dict(FCN_7, name="fcn-13x400", hidden_layers=13)
MODELS = (
    FCN_7,
    FCN_13,
    dict(  # the same fields as the FCNs', in the same order
        FCN_7,
        name="vgg",
        arch="vgg",
        dataset="fashion-mnist",
        hidden_layers=2,
        width=16,
        epochs=4,
        lock=0.05,
        fractions=(0.05, 0.1),
        ft_epochs=10,
    ),
    # the second review (issue 39): a second owner model of each FCN (training seed 1), so that each verdict is
    # seen on two owner models; its cells also measure the restoration control over three seeds, and it shares
    # the from-scratch baselines of its architecture (they do not depend on the owner's model)
    *(dict(m, name=f"{m['name']}-s1", owner_seed=1, restore_seeds=3, baselines_of=m["name"]) for m in (FCN_7, FCN_13)),
)
CORE_TABLES = ("summary", "finetune", "prune", "keypos")  # what every cell has written since the first run
# added by the review (issue 28): McNemar on the chosen pruning, and every key-position detector per fill
TABLES = (*CORE_TABLES, "prune_test", "detectors")
FILL_VERSION = 2  # the noise fill: 1 copied |w| of another unit of the layer; 2 draws fresh values (lock.fill)
SCRATCH_ADAM = "from scratch (Adam)"  # the attacker's alternative under the owner's own recipe (Adam lr 1e-3)


@dataclass(frozen=True)
class AttackConfig:
    models: tuple = MODELS
    fills: tuple[str, ...] = ("zero", "noise")
    prune_fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)
    prune_ft_epochs: int = 2
    targeted_epochs: tuple[int, ...] = (1, 5)
    fill_version: int = FILL_VERSION
    kind: str = "attacks"

    def __post_init__(self):
        for m in self.models:
            if not {"name", "arch", "dataset", "hidden_layers", "width", "epochs", "indicator", "lock"} <= set(m):
                raise UserError(f"model entry {m} lacks fields")
            if not m["fractions"] or any(not 0 < f <= 1 for f in m["fractions"]) or m["seeds"] < 1:
                raise UserError(f"{m['name']}: fractions must lie in (0, 1] and seeds be >= 1")
        if not set(self.fills) <= {"zero", "noise"} or "zero" not in self.fills:
            raise UserError("fills must include zero and be among zero, noise")

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def cells(self) -> list[tuple[dict, str]]:
        return [(m, f) for m in self.models for f in self.fills]


def _merge(old: dict, new: dict) -> dict:
    """An attacks run extends: more seeds per model, more models after its own (a second owner model) and a newer
    noise fill (its noise cells then run again); every other field must match. Runs written before
    ``fill_version`` existed used version 1."""
    n_old = len(old.get("models", []))

    def strip(c):
        return {
            **c,
            "models": [{k: v for k, v in m.items() if k != "seeds"} for m in c.get("models", [])[:n_old]],
            "fill_version": None,
        }

    diff = sorted(k for k in set(old) | set(new) if strip(old).get(k) != strip(new).get(k))
    if diff:
        raise UserError(
            f"this run holds attacks with another configuration (differs in: {', '.join(diff)}); choose another --out"
        )
    fewer = [m["name"] for m, o in zip(new["models"], old["models"]) if m["seeds"] < o["seeds"]]
    if fewer or new.get("fill_version", 1) < old.get("fill_version", 1):
        raise UserError(
            f"this run holds more seeds ({', '.join(fewer)}) or a newer fill than asked; choose another --out"
        )
    return new


def _spec(m: dict) -> TrainSpec:
    return TrainSpec(
        hidden_layers=m["hidden_layers"],
        width=m["width"],
        epochs=m["epochs"],
        seed=m.get("owner_seed", 0),
        dataset=m["dataset"],
        arch=m["arch"],
        channels_last=m["arch"] != "fcn",
    )
