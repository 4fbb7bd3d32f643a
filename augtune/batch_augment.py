"""The training augmentation, applied to a whole batch at once: `BatchAugment(pipeline)(images)`.

Each image still gets its own random parameters, drawn by the pipeline's own v2 transforms. Only the pixel
work is batched where per-image calls are slow: v2.ColorJitter on one small uint8 image costs about 1 ms on
a CPU core (hue's RGB->HSV->RGB round trip is some forty tensor ops, each mostly call overhead), which was a
fifth of ResNet-18's forward+backward per image at 64 px. Here the same kernels run once per
(position in the jitter's random order, operation) on the images that do that operation at that
position, with per-image factors; the pixels equal `jitter.transform(image, params)` within one grey
level (tests/test_batch_augment.py). Geometric steps stay per image: their outputs differ in what
they read, and at ~0.2 ms they are cheap enough.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = ["BatchAugment", "jitter_batch", "draw_jitter_params"]

# v2.ColorJitter's numbering of its operations in `fn_idx`.
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


class BatchAugment:
    """A v2 pipeline of per-image transforms, run on a uint8 batch (N, 3, H, W): ColorJitter steps run
    batched, runs of other steps run per image. Every step must give one output size for one input
    size (all of v2's crops and resizes with a fixed `size` do), so that the images stack again."""

    def __init__(self, transforms: list[v2.Transform]) -> None:
        groups: list[tuple[str, Any]] = []
        for transform in transforms:
            if isinstance(transform, v2.ColorJitter):
                groups.append(("batch", transform))
            elif isinstance(transform, COIN_OPS) and not (isinstance(transform, v2.RandomGrayscale)
                                                          and transform.p == 0):
                groups.append(("coin", transform))
            elif groups and groups[-1][0] == "each":
                groups[-1][1].append(transform)
            else:
                groups.append(("each", [transform]))
        self.stages: list[tuple[str, Any]] = []
        for kind, step in groups:  # each run of per-image steps becomes one callable, built once
            if kind == "each":
                step = v2.Compose(step) if len(step) > 1 else step[0]
            self.stages.append((kind, step))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for kind, step in self.stages:
            if kind == "batch":
                images = jitter_batch(step, images, draw_jitter_params(step, len(images)))
            elif kind == "coin":
                images = coin_batch(step, images)
            else:
                images = torch.stack([step(image) for image in images])
        return images


# v2's ops that draw nothing but their `p` coin and whose kernel takes a batch: one call for the images whose
# coin came up (a tenth of a millisecond per image each when called one image at a time on 2 CPU cores).
COIN_OPS = (v2.RandomHorizontalFlip, v2.RandomVerticalFlip, v2.RandomInvert, v2.RandomPosterize, v2.RandomSolarize,
            v2.RandomEqualize, v2.RandomAutocontrast, v2.RandomAdjustSharpness, v2.RandomGrayscale)


def coin_batch(transform: v2.Transform, images: torch.Tensor) -> torch.Tensor:
    """`transform` on each image with its probability p: the images' coins drawn at once, the kernel run once."""
    chosen = (torch.rand(len(images)) < transform.p).nonzero().flatten().to(images.device)
    if not len(chosen):
        return images
    output = images.clone()
    output[chosen] = transform.transform(output[chosen], transform.make_params([output[chosen]]))
    return output


def draw_jitter_params(jitter: v2.ColorJitter, count: int) -> list[dict[str, Any]]:
    """One parameter set per image, drawn as v2.ColorJitter itself draws them (torch's global RNG)."""
    return [jitter.make_params([]) for _ in range(count)]


def jitter_batch(jitter: v2.ColorJitter, images: torch.Tensor, params: list[dict[str, Any]]) -> torch.Tensor:
    """What `torch.stack([jitter.transform(image, p) for image, p in zip(images, params)])` gives, for a
    uint8 RGB batch, with far fewer tensor calls."""
    if not len(params):
        return images
    order = torch.stack([p["fn_idx"] for p in params])  # (N, 4): each image's order of the operations
    output = images.clone()
    for position in range(len(JITTER_OPS)):
        for op, name in enumerate(JITTER_OPS):
            if getattr(jitter, name) is None:
                continue
            chosen = (order[:, position] == op).nonzero().flatten()
            if not len(chosen):
                continue
            factors = torch.tensor([params[i][f"{name}_factor"] for i in chosen.tolist()], dtype=torch.float32,
                                   device=images.device)
            chosen = chosen.to(images.device)
            output[chosen] = KERNELS[name](output[chosen], factors)
    return output


def _per_image(factors: torch.Tensor) -> torch.Tensor:
    return factors.view(-1, 1, 1, 1)


def _blend(images: torch.Tensor, other: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """v2's _blend with one ratio per image: ratio * images + (1 - ratio) * other, clamped, in uint8."""
    ratio = _per_image(factors)
    return images.mul(ratio).add_(other * (1.0 - ratio)).clamp_(0, 255).to(images.dtype)


def _brightness(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return images.mul(_per_image(factors)).clamp_(0, 255).to(images.dtype)


def _contrast(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    # uint8 grey is the floored float grey that adjust_contrast averages
    mean = F.rgb_to_grayscale(images).float().mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(images, mean, factors)


def _saturation(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return _blend(images, F.rgb_to_grayscale(images), factors)


def _hue(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """adjust_hue with one shift per image. torchvision's kernel spends most of its time in a gather
    (HSV sector -> RGB) and channel reductions that run slowly on CPU (0.6 ms per 73-px image); the
    same conversion as elementwise ops on whole channels is ~5x faster and equal within a grey level."""
    rgb = F.to_dtype(images, torch.float32, scale=True)
    red, green, blue = rgb.unbind(dim=-3)
    value = torch.maximum(torch.maximum(red, green), blue)
    low = torch.minimum(torch.minimum(red, green), blue)
    spread = value - low
    grey = spread == 0
    saturation = spread / torch.where(grey, 1.0, value)
    divisor = torch.where(grey, 1.0, spread)
    # Pillow's hue (as torchvision computes it), in turns: the sector of the largest channel plus the
    # position between the other two.
    hue = torch.where(
        value == red,
        (green - blue) / divisor,
        torch.where(value == green, 2.0 + (blue - red) / divisor, 4.0 + (red - green) / divisor),
    )
    hue = hue.mul_(1.0 / 6.0).add_(1.0).add_(factors.view(-1, 1, 1)).remainder_(1.0).mul_(6.0)
    # HSV -> RGB without sectors: channel n is v - v*s*clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6.
    chroma = value * saturation
    channels = []
    for offset in (5.0, 3.0, 1.0):
        k = (hue + offset).remainder_(6.0)
        channels.append(value - chroma * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0))
    return F.to_dtype(torch.stack(channels, dim=-3).clamp_(0.0, 1.0), images.dtype, scale=True)


KERNELS = {"brightness": _brightness, "contrast": _contrast, "saturation": _saturation, "hue": _hue}
