"""The detector: a small anchor-free single-stage CNN for few classes and small objects.

Layout (widths at width=1.0):
  stem 3x3/2 (16) -> 3x3/2 (24) -> 3x3/2 + CSP (48) -> 3x3/2 + CSP (96) -> 3x3/2 + CSP (160)
  top-down FPN, 40 channels, on strides 8, 16, 32, plus a stride-64 level (3x3/2 from stride 32)
  one shared head on all four levels: 3x3 conv (BatchNorm per level) -> 1x1 to 4 box values + C logits
Dense 3x3 convs, BatchNorm and SiLU only. Boxes and their loss: models/decode.py, models/loss.py.

Why this layout, and its measured size and speed: BENCHMARKS.md, "Detector design".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ImageNet statistics: any fixed values would do, these are the convention.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
PRIOR_LOGIT = -4.6  # sigmoid = 0.01: focal-type losses start near the background rate, not at 0.5


def conv_bn(c_in: int, c_out: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class Stem(nn.Module):
    """3x3 stride-2 conv on [0, 1] RGB with the mean/std normalisation folded into its weights.

    A separate (x - mean) / std pass over a 3-channel channels_last tensor made the whole
    forward 30% slower (+3.5 ms per 640 tile, measured); folding it is exact except that zero
    padding is black in input space rather than the mean colour.
    """

    def __init__(self, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(3, c_out, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        w = self.conv.weight / self.std
        bias = -(w * self.mean).sum((1, 2, 3))
        return F.silu(self.bn(F.conv2d(x, w, bias, 2, 1)), inplace=True)


class Residual(nn.Module):
    """Two 3x3 convs with a skip: dense 3x3 convs run ~3-8x more FLOP/s than depthwise ones on CPU."""

    def __init__(self, c: int):
        super().__init__()
        self.f = nn.Sequential(conv_bn(c, c), conv_bn(c, c, act=False))

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x + self.f(x), inplace=True)


class CSP(nn.Module):
    """Cross-stage partial block: half the channels go through a residual block, half skip it."""

    def __init__(self, c: int):
        super().__init__()
        self.split = conv_bn(c, c, 1)
        self.blocks = nn.Sequential(Residual(c // 2))  # a Sequential: deeper variants keep the same keys
        self.merge = conv_bn(c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.split(x).chunk(2, 1)
        return self.merge(torch.cat([a, self.blocks(b)], 1))


class DetectorNet(nn.Module):
    """Backbone to stride 32, top-down FPN on strides 8-32 plus a stride-64 level, one shared head."""

    def __init__(self, num_classes: int, width: float = 1.0):
        super().__init__()
        c = [max(8, round(w * width / 8) * 8) for w in (16, 24, 48, 96, 160)]
        n = max(8, round(40 * width / 8) * 8)  # neck and head channels
        self.num_classes = num_classes
        self.strides = (8, 16, 32, 64)
        self.stem = Stem(c[0])  # stride 2
        self.s4 = conv_bn(c[0], c[1], stride=2)
        # A block at stride 8, the level that finds small objects: +0.05 mAP50 (measured, see above)
        self.s8 = nn.Sequential(conv_bn(c[1], c[2], stride=2), CSP(c[2]))
        self.s16 = nn.Sequential(conv_bn(c[2], c[3], stride=2), CSP(c[3]))
        self.s32 = nn.Sequential(conv_bn(c[3], c[4], stride=2), CSP(c[4]))
        self.lateral = nn.ModuleList(conv_bn(ci, n, 1, act=False) for ci in c[2:])
        # Parachutes can fill a 640 tile: a stride-64 level gives them a 10x10 grid of wide-context points.
        self.down64 = conv_bn(n, n, stride=2)
        # One set of head weights for every level (an object looks alike at any scale, and each weight
        # sees the examples of all levels); BatchNorm per level, whose activation statistics differ.
        self.head = nn.Conv2d(n, n, 3, 1, 1, bias=False)
        self.head_bn = nn.ModuleList(nn.BatchNorm2d(n) for _ in self.strides)
        self.pred = nn.Conv2d(n, 4 + num_classes, 1)
        nn.init.normal_(self.pred.weight, std=0.01)
        nn.init.zeros_(self.pred.bias)  # boxes start one stride wide, centred on their point
        nn.init.constant_(self.pred.bias[4:], PRIOR_LOGIT)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1], H and W multiples of 32 -> raw (B, A, 4 + C).

        A = sum over strides s of (H/s)(W/s), in the order of `points`; per point 4 box values
        (see models.decode.boxes) then C class logits.
        """
        x8 = self.s8(self.s4(self.stem(images)))
        x16 = self.s16(x8)
        x32 = self.s32(x16)
        p8, p16, p32 = (lateral(x) for lateral, x in zip(self.lateral, (x8, x16, x32)))
        p16 = p16 + F.interpolate(p32, scale_factor=2.0, mode="nearest")
        p8 = p8 + F.interpolate(p16, scale_factor=2.0, mode="nearest")
        levels = [F.silu(p) for p in (p8, p16, p32)]
        levels.append(self.down64(levels[-1]))
        out = [self.pred(F.silu(bn(self.head(f)))).flatten(2) for f, bn in zip(levels, self.head_bn)]
        return torch.cat(out, 2).transpose(1, 2)


def points(
    strides: tuple[int, ...], height: int, width: int, device: torch.device | str | None = None
) -> Tensor:
    """(A, 3) x, y centre in input pixels and stride of every output point: level by level, row-major.

    height, width: the input's. A level has ceil(height / s) rows: the stride-64 level of a
    640x480 navigation frame has 8 (its stride-2 conv pads), so such a frame needs no padding.
    """
    out = []
    for s in strides:
        rows, cols = -(-height // s), -(-width // s)
        ys, xs = torch.meshgrid(
            torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij"
        )
        xy = torch.stack([xs, ys], -1).reshape(-1, 2).float().add(0.5).mul(s)
        out.append(torch.cat([xy, torch.full((len(xy), 1), float(s), device=device)], 1))
    return torch.cat(out)
