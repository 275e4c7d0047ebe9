"""Beyond FCNs and CNNs (the paper's Appendix, Tables 6–7): a small ViT and an LSTM classifier.

Both are ``nn.Sequential`` of blocks, so extraction finds their weight matrices (every ``nn.Linear``,
and the gate matrices of ``nn.LSTM``) and the measurement treats each block as one stage:

* ``vit`` — a Vision Transformer for 28×28 images: 4×4 patches (49 tokens) linearly embedded to
  ``width`` with a class token and learned positions, ``hidden_layers`` pre-norm blocks (multi-head
  self-attention with 4 heads — its q, k, v and output projections are ``nn.Linear`` — and an MLP
  width → 2·width → width with GELU), a final LayerNorm and a linear head on the class token.
* ``lstm`` — reads an image row by row (28 steps × 28 pixels) with a ``hidden_layers``-layer LSTM of
  ``width`` units; a linear head on the last step's hidden state.

Scope ``hidden`` excludes the first projection (the patch embedding; the LSTM's input-to-hidden
weights of layer 1) and the classifier, as for every other model (Section 3.1).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

OTHER_ARCHS = ("vit", "lstm")
OTHER_DEFAULTS = {"vit": (2, 32), "lstm": (2, 64)}
PATCH = 4


class PatchEmbed(nn.Module):
    """[B, 784] → [B, 1 + 49, width]: 4×4 patches, a linear embedding, a class token and learned positions."""

    def __init__(self, width: int):
        super().__init__()
        self.proj = nn.Linear(PATCH * PATCH, width)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, 1 + (28 // PATCH) ** 2, width) * 0.02)

    def forward(self, x):
        b = len(x)
        img = x.reshape(b, 28 // PATCH, PATCH, 28 // PATCH, PATCH).permute(0, 1, 3, 2, 4)
        tokens = self.proj(img.reshape(b, -1, PATCH * PATCH))
        return torch.cat([self.cls.expand(b, -1, -1), tokens], dim=1) + self.pos


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.Linear`` projections (q, k, v and the output: extractable units)."""

    def __init__(self, width: int, heads: int = 4):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of {heads} heads")
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(width, width) for _ in range(4))

    def forward(self, h):
        b, t, w = h.shape
        split = lambda z: z.reshape(b, t, self.heads, w // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(w // self.heads), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, t, w))


class TransformerBlock(nn.Module):
    """Pre-norm: h + attention(LN(h)), then + MLP(LN(·))."""

    def __init__(self, width: int, heads: int = 4):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(width), SelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, h):
        h = h + self.attn(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class ClassToken(nn.Module):
    """The class token's representation (after the final LayerNorm): [B, T, w] → [B, w]."""

    def forward(self, h):
        return h[:, 0]


class RowSequence(nn.Module):
    """[B, 784] → [B, 28, 28]: an image as 28 steps of 28 pixels, then the LSTM's last hidden state."""

    def __init__(self, width: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(28, width, num_layers=layers, batch_first=True)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(len(x), 28, 28))
        return out[:, -1]


def vit(hidden_layers: int, width: int) -> nn.Sequential:
    blocks = [TransformerBlock(width) for _ in range(hidden_layers)]
    return nn.Sequential(PatchEmbed(width), *blocks, nn.LayerNorm(width), ClassToken(), nn.Linear(width, 10))


def lstm(hidden_layers: int, width: int) -> nn.Sequential:
    return nn.Sequential(RowSequence(width, hidden_layers), nn.Linear(width, 10))


OTHER_BUILDERS = {"vit": vit, "lstm": lstm}
OPAQUE = (PatchEmbed, TransformerBlock, nn.LayerNorm, ClassToken, RowSequence)  # measured without a chain bound


def make_other(arch: str, hidden_layers: int, width: int, seed: int | None = None) -> nn.Sequential:
    if arch not in OTHER_BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(OTHER_ARCHS)}")
    if hidden_layers < 1 or width < 4:
        raise ValueError(f"need hidden_layers >= 1 and width >= 4, got {hidden_layers} and {width}")
    if seed is None:
        return OTHER_BUILDERS[arch](hidden_layers, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return OTHER_BUILDERS[arch](hidden_layers, width)


def describe_other(arch: str, hidden_layers: int, width: int) -> str:
    if arch == "vit":
        return f"ViT ({hidden_layers} pre-norm blocks, width {width}, 4 heads, 4×4 patches)"
    return f"LSTM ({hidden_layers} layers × {width} units, 28 rows of 28 pixels)"
