"""The audit's configuration: the target, the budget (how many seeds, shares and unit kinds, how long each attack
trains), and the owner's threat model (the attacker's share of the training data)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from empirical.errors import UserError
from empirical.experiments.common.configure import option

TABLES = ("keys", "curve", "bounds", "finetune", "exposure", "pruning")  # one cell per unit kind
BUDGETS = {  # seeds per attack, unit kinds tried, attack epochs, pruning fractions
    "quick": dict(seeds=1, kinds=2, epochs=3, shares=(0.01, 0.05), prune=(0.2,), rtal=False),
    "standard": dict(seeds=3, kinds=None, epochs=8, shares=(0.01, 0.05, 0.1), prune=(0.2, 0.4), rtal=True),
    "thorough": dict(seeds=5, kinds=None, epochs=15, shares=(0.01, 0.05, 0.1), prune=(0.1, 0.2, 0.4), rtal=True),
}
TOLERANCE = 0.01  # a key meets the target when the held-out locked accuracy is at most target + 1 pp
ALPHA = 0.05  # one-sided tests: fine-tuning better than training from scratch, a detector above its null
UNIT_KINDS = {  # indicator → what a unit of the key is
    "l1": "ℓ1 weights (Linear) / kernels F_(s,t) (conv)",
    "l1-neuron": "ℓ1 neurons (rows of each weight)",
    "l1-channel": "ℓ1 conv channels",
    "bn-scale": "BatchNorm |γ| channels",
}


@dataclass(frozen=True)
class AuditConfig:
    """What determines an audit's results (``config.json``): the model (by the fingerprint of its weights), the
    target accuracy and tolerance, the budget, and the attacker's shares of the training data."""

    target: float = field(
        metadata=option(
            "the accuracy the locked model should have (e.g. 0.15 for chance + 5 pp with 10 classes)",
            flag="--target-accuracy",
            required=True,
        )
    )
    budget: str = "quick"  # the preset (--budget)
    shares: tuple[float, ...] | None = field(  # None: the budget's
        default=None,
        metadata=option(
            "the attacker's shares of the training data, e.g. 0.01,0.05,0.1",
            flag="--attacker-share",
            show=lambda v: "the budget's",
        ),
    )
    owner_share: float | None = field(  # the share the recommendation is judged at (None: the largest)
        default=None, metadata=option("the share the recommendation is judged at", show=lambda v: "the largest")
    )
    model_sha256: str = ""
    kind: str = "audit"

    def __post_init__(self):
        if self.shares is not None:
            object.__setattr__(self, "shares", tuple(self.shares) or None)
        if self.budget not in BUDGETS:
            raise UserError(f"unknown --budget {self.budget!r}; choose one of {', '.join(BUDGETS)}")
        for s in self.attacker_shares():
            if not 0 < s <= 1:
                raise UserError(f"--attacker-share: {s} is not a share of the training data in (0, 1]")
        if self.owner_share is not None and self.owner_share not in self.attacker_shares():
            raise UserError(f"the owner's share {self.owner_share} is not one of --attacker-share")

    def attacker_shares(self) -> tuple[float, ...]:
        return tuple(self.shares) if self.shares else BUDGETS[self.budget]["shares"]

    def judged_share(self) -> float:
        return self.owner_share if self.owner_share is not None else max(self.attacker_shares())

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


PRESETS = {name: AuditConfig(target=0.15, budget=name) for name in BUDGETS}
