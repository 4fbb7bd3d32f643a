"""MixUp and CutMix: they mix a picture with its neighbour in a batch, so they need a batch and labels.

v2 pairs each image with the one before it (`roll(1, 0)`). In a grid, the batch is the tile's picture and a
partner picture (the sampler passes it in as `partner`); a tile shows lambda, the box and the mixed label.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .base import Drawn, Op, Param, _proxy, words
from .registry import register


def _alpha() -> Param:
    return Param("alpha", "float", 1.0, words("Alpha", "Alpha"),
                 words("Beta(alpha, alpha) gives lambda, the picture's share.", "lambda(本图所占比例)服从 Beta(alpha, alpha)。"),
                 0.05, 10.0, 0.05)


class _Mix(Op):
    family = "mixing"
    params = (_alpha(),)

    def build(self, values):
        # num_classes is the data set's: the sampler and the training loop give it when they call the op.
        return getattr(v2, self.name)(alpha=values["alpha"], num_classes=2)

    def random_values(self, values):
        return ("lambda",)

    def on_a_copy(self, transform, drawn, size, copy):
        return drawn  # a blend of two pictures shrinks as the two shrunk, but for rounding


def _pair(image, partner) -> tuple[torch.Tensor, torch.Tensor]:
    """The tile's picture and its partner as uint8 tensors (without a partner: the picture mirrored)."""
    pixels = image if isinstance(image, torch.Tensor) else F.pil_to_tensor(image)
    if partner is None:
        return pixels, pixels.flip(-1)
    return pixels, partner if isinstance(partner, torch.Tensor) else F.pil_to_tensor(partner)


@register
class MixUp(_Mix):
    name = "MixUp"
    label = words("MixUp", "MixUp")
    help = words("Blends the picture with another one of the batch; the label is blended the same way.",
                 "把图像与批次中的另一张按比例混合；标签也按同样比例混合。")

    def draw(self, transform, size):
        params = transform.make_params([_proxy(*size)])
        return Drawn(self.name, params, {"lambda": params["lam"]})

    def render(self, transform, image, drawn, partner=None):
        pixels, other = _pair(image, partner)
        lam = drawn.params["lam"]
        # v2 mixes float batches: (rolled * (1 - lam)) + image * lam, on pictures scaled to 0..1.
        mixed = other.float().div(255).mul_(1.0 - lam).add_(pixels.float().div(255).mul(lam))
        return tv_tensors.Image(F.to_dtype(mixed, torch.uint8, scale=True))


@register
class CutMix(_Mix):
    name = "CutMix"
    label = words("CutMix", "CutMix")
    help = words("Pastes a box of another picture of the batch; the label is mixed by the box's area.",
                 "把批次中另一张图的一个矩形贴到本图上；标签按矩形面积混合。")

    def draw(self, transform, size):
        params = transform.make_params([_proxy(*size)])
        x1, y1, x2, y2 = params["box"]
        return Drawn(self.name, params, {"lambda": params["lam_adjusted"], "box": f"{x1},{y1},{x2},{y2}"})

    def on_a_copy(self, transform, drawn, size, copy):
        # The box in the copy's pixels: its edges move by under a copy's pixel, a third of the tile's.
        x1, y1, x2, y2 = drawn.params["box"]
        sx, sy = copy[0] / size[0], copy[1] / size[1]
        box = (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))
        return Drawn(drawn.op, {**drawn.params, "box": box}, drawn.shown)

    def render(self, transform, image, drawn, partner=None):
        pixels, other = _pair(image, partner)
        x1, y1, x2, y2 = drawn.params["box"]
        output = pixels.clone()
        output[..., y1:y2, x1:x2] = other[..., y1:y2, x1:x2]
        return tv_tensors.Image(output)
