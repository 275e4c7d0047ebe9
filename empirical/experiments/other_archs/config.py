"""Tables 6–7's configuration: the paper's numbers, the models, the ratios and the presets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from empirical.errors import UserError
from empirical.lock.ratio import check_ratio
from empirical.nets.train import TrainSpec

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
        return TrainSpec(
            hidden_layers=m["hidden_layers"],
            width=m["width"],
            epochs=m["epochs"],
            dataset=m["dataset"],
            arch=m["arch"],
            train_subset=self.train_subset,
        )


PRESETS = {
    "default": OtherArchsConfig(),
    "quick": OtherArchsConfig(  # tiny models, one epoch on 2,000 images: a smoke test
        models=(
            dict(name="vit", arch="vit", dataset="fashion-mnist", hidden_layers=1, width=16, epochs=1),
            dict(name="lstm", arch="lstm", dataset="mnist", hidden_layers=1, width=16, epochs=1),
        ),
        train_subset=2000,
        random_seeds=2,
        check_samples=50,
        curve=(0.01, 0.1),
    ),
}
