"""Conv networks with batch norm for 28×28 single-channel images (Table 1's families, scaled to a CPU).

Every network is an ``nn.Sequential`` of layers the measurement understands (``empirical.measure.stages``):
Conv2d, Linear, BatchNorm, ReLU, pooling, Flatten, plus two block types measured as a whole —
``Residual`` (y ↦ post(branch(y) + shortcut(y))) and ``DenseConcat`` (y ↦ [y, branch(y)]).
Inputs arrive as the toolkit's flat [B, 784] tensors; ``Unflatten`` makes them [B, 1, 28, 28].

Architectures (``hidden_layers`` and ``width`` keep the FCN's spec fields, with these meanings):

* ``vgg``      — plain VGG-style: 3 stages of ``hidden_layers`` conv3×3-BN-ReLU layers with
                 ``width``, 2·``width``, 4·``width`` channels, 2×2 max-pool after each stage
                 (28 → 14 → 7 → 3), global average pool, one linear classifier.
* ``resnet``   — CIFAR ResNet (He et al. 2016, Section 4.2): conv3×3 stem, 3 stages of
                 ``hidden_layers`` basic blocks (conv-BN-ReLU-conv-BN + shortcut, ReLU) with
                 ``width``, 2·``width``, 4·``width`` channels, stride 2 at stages 2 and 3, the
                 parameter-free "option A" shortcut (subsample + zero channels), global average
                 pool, linear. ``hidden_layers=3, width=16`` is ResNet-20 exactly (depth 6n + 2).
* ``preresnet`` — pre-activation ResNet (He et al. 2016b; the family Network Slimming and the authors'
                 demo lock): conv3×3 stem, 3 stages of ``hidden_layers`` blocks BN-ReLU-conv3×3-BN-ReLU-conv3×3
                 + option-A shortcut (no ReLU after the sum), and a **final BN-ReLU feeding the classifier**
                 (global average pool, linear). Depth 6n + 2 as for ``resnet``.
* ``densenet`` — DenseNet-BC-free (Huang et al. 2017): conv3×3 stem with 2·growth channels,
                 3 dense blocks of ``hidden_layers`` BN-ReLU-conv3×3 layers (growth rate
                 ``width``) concatenated, BN-ReLU-conv1×1-avgpool transitions, BN-ReLU, global
                 average pool, linear. ``hidden_layers=12, width=12`` is DenseNet-40.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as nnf

IMAGE = (1, 28, 28)
N_CLASSES = 10
CONV_ARCHS = ("vgg", "resnet", "preresnet", "densenet")
# the CPU-scale defaults (hidden_layers, width); see ARCH_NOTES and the README for cost
DEFAULTS = {"vgg": (2, 16), "resnet": (3, 16), "preresnet": (3, 16), "densenet": (6, 8)}
ARCH_NOTES = {
    "vgg": "VGG-style, 3 stages × {h} conv3×3-BN-ReLU ({w}/{w2}/{w4} channels), max-pool, GAP, linear",
    "resnet": "ResNet-{depth} (CIFAR shape, option-A shortcuts), {w}/{w2}/{w4} channels",
    "preresnet": "pre-activation ResNet-{depth} (BN-ReLU-conv blocks, option-A shortcuts, final BN-ReLU), "
    "{w}/{w2}/{w4} channels",
    "densenet": "DenseNet-{depth} (3 blocks × {h} layers, growth {w}, no bottleneck/compression)",
}


class Residual(nn.Module):
    """y ↦ post(branch(y) + shortcut(y)): a residual block, measured as one stage."""

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module, post: nn.Module):
        super().__init__()
        self.branch, self.shortcut, self.post = branch, shortcut, post

    def forward(self, y):
        return self.post(self.branch(y) + self.shortcut(y))


class DenseConcat(nn.Module):
    """y ↦ concat(y, branch(y)) along channels: one DenseNet layer, measured as one stage."""

    def __init__(self, branch: nn.Sequential):
        super().__init__()
        self.branch = branch

    def forward(self, y):
        return torch.cat([y, self.branch(y)], dim=1)


class ShortcutA(nn.Module):
    """He et al.'s option A: identity, or a stride-2 subsample with the new channels zero (no parameters).

    It is 1-Lipschitz (a subsample and a zero-padding), and locking never changes it.
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, y):
        if self.stride == 1 and self.c_in == self.c_out:
            return y
        y = y[:, :, :: self.stride, :: self.stride]
        return nnf.pad(y, (0, 0, 0, 0, 0, self.c_out - self.c_in))

    def extra_repr(self) -> str:
        return f"{self.c_in}→{self.c_out}, stride {self.stride}"


def _conv_bn_relu(c_in, c_out, stride=1):
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def vgg(hidden_layers: int, width: int) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Unflatten(1, IMAGE)]
    c = IMAGE[0]
    for stage in range(3):
        for _ in range(hidden_layers):
            mods += _conv_bn_relu(c, width << stage)
            c = width << stage
        mods.append(nn.MaxPool2d(2))
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, N_CLASSES))


def resnet(hidden_layers: int, width: int) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Unflatten(1, IMAGE), *_conv_bn_relu(IMAGE[0], width)]
    c = width
    for stage in range(3):
        for block in range(hidden_layers):
            stride = 2 if stage > 0 and block == 0 else 1
            c_out = width << stage
            branch = nn.Sequential(
                *_conv_bn_relu(c, c_out, stride), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out)
            )
            mods.append(Residual(branch, ShortcutA(c, c_out, stride), nn.ReLU()))
            c = c_out
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, N_CLASSES))


def preresnet(hidden_layers: int, width: int) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Unflatten(1, IMAGE), nn.Conv2d(IMAGE[0], width, 3, 1, 1, bias=False)]
    c = width
    for stage in range(3):
        for block in range(hidden_layers):
            stride = 2 if stage > 0 and block == 0 else 1
            c_out = width << stage
            branch = nn.Sequential(
                nn.BatchNorm2d(c),
                nn.ReLU(),
                nn.Conv2d(c, c_out, 3, stride, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            )
            mods.append(Residual(branch, ShortcutA(c, c_out, stride), nn.Identity()))
            c = c_out
    return nn.Sequential(
        *mods, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, N_CLASSES)
    )


def densenet(hidden_layers: int, width: int) -> nn.Sequential:
    growth = width
    c = 2 * growth
    mods: list[nn.Module] = [nn.Unflatten(1, IMAGE), nn.Conv2d(IMAGE[0], c, 3, 1, 1, bias=False)]
    for block in range(3):
        for _ in range(hidden_layers):
            mods.append(
                DenseConcat(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, growth, 3, 1, 1, bias=False)))
            )
            c += growth
        if block < 2:
            mods += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 1, bias=False), nn.AvgPool2d(2)]
    return nn.Sequential(
        *mods, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, N_CLASSES)
    )


BUILDERS = {"vgg": vgg, "resnet": resnet, "preresnet": preresnet, "densenet": densenet}


def make_conv(arch: str, hidden_layers: int, width: int, seed: int | None = None) -> nn.Sequential:
    """A conv network of ``arch`` with PyTorch's default initialisation (seeded if ``seed`` given)."""
    if arch not in BUILDERS:
        raise ValueError(f"unknown conv architecture {arch!r}; choose one of {', '.join(CONV_ARCHS)}")
    if hidden_layers < 1 or width < 1:
        raise ValueError(f"need hidden_layers >= 1 and width >= 1, got {hidden_layers} and {width}")
    if seed is None:
        return BUILDERS[arch](hidden_layers, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BUILDERS[arch](hidden_layers, width)


def depth(arch: str, hidden_layers: int) -> int:
    """Weight layers on the longest path, as the papers name them (ResNet-20, DenseNet-40)."""
    return {
        "vgg": 3 * hidden_layers + 1,
        "resnet": 6 * hidden_layers + 2,
        "preresnet": 6 * hidden_layers + 2,
        "densenet": 3 * hidden_layers + 4,
    }[arch]


def describe(arch: str, hidden_layers: int, width: int) -> str:
    h, w = hidden_layers, width
    return ARCH_NOTES[arch].format(h=h, w=w, w2=2 * w, w4=4 * w, depth=depth(arch, h))


def count_macs(model: nn.Module, image=IMAGE) -> int:
    """Multiply-accumulates of one forward pass on one image (conv and linear layers; BN, ReLU and
    pooling are a few % more and not counted). FLOPs ≈ 2 × MACs."""
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            macs += out[0].numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            macs += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, int(torch.tensor(image).prod()), dtype=p.dtype, device=p.device))
        model.train(was)
    finally:
        for h in handles:
            h.remove()
    return macs
