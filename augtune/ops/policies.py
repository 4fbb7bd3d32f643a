"""The learned and random policies: AutoAugment, RandAugment, TrivialAugmentWide and AugMix.

v2 draws their choices inside `forward`, between the sub-ops it applies (none of which draws anything), so
drawing them all first and applying them after is the same stream of random numbers. Each `draw` below
follows its class's `forward` in torchvision 0.29 line by line; the registry's tests check the pixels against
the transform itself.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import _get_fill

from ..pixels import sharpened
from .base import Drawn, Op, Param, words
from .geometry import INTERPOLATIONS, _fill
from .registry import register


def _interpolation(default: str) -> Param:
    return Param("interpolation", "choice", default, words("Interpolation", "插值"),
                 words("How the geometric sub-ops resample.", "几何子操作的插值方式。"), choices=INTERPOLATIONS)


def _signed_draw(magnitudes_fn, signed: bool, bins: int, index_or_draw, size) -> float:
    width, height = size
    magnitudes = magnitudes_fn(bins, height, width)
    if magnitudes is None:
        return 0.0
    index = index_or_draw() if callable(index_or_draw) else index_or_draw
    magnitude = float(magnitudes[index])
    if signed and torch.rand(()) <= 0.5:
        magnitude *= -1
    return magnitude


def _pick(space: dict) -> str:
    keys = tuple(space.keys())  # as _AutoAugmentBase._get_random_item
    return keys[int(torch.randint(len(keys), ()))]


def _apply(transform, image, sub_ops: list[tuple[str, float]], scale: float = 1.0):
    """v2's sub-ops in order. `scale`: the image is a copy of the picture they were drawn for, reduced by that
    much; every other sub-op is the same at any size (rotations about the centre, shears about the corner)."""
    for name, magnitude in sub_ops:
        if name == "Sharpness" and isinstance(image, torch.Tensor):  # AugMix's chains run on tensors
            image = sharpened(image, 1.0 + magnitude)
        elif name in ("TranslateX", "TranslateY") and scale != 1.0:
            shift = int(magnitude) * scale  # v2 moves the picture by whole pixels of its own
            image = F.affine(image, angle=0.0, translate=[shift, 0] if name == "TranslateX" else [0, shift], scale=1.0,
                             interpolation=transform.interpolation, shear=[0.0, 0.0],
                             fill=_get_fill(transform._fill, type(image)))
        else:
            image = transform._apply_image_or_video_transform(
                image, name, magnitude, interpolation=transform.interpolation, fill=transform._fill)
    return image


def _named(sub_ops: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {magnitude:+.3g}" if magnitude else name for name, magnitude in sub_ops) or "—"


class _Policy(Op):
    family = "policy"

    def amplifies(self, transform) -> float:
        return 2.0  # their sub-ops include equalize, autocontrast and sharpness up to 1.9

    def render(self, transform, image, drawn):
        return _apply(transform, image, drawn.params["sub_ops"])

    def shown_from(self, sub_ops: list[tuple[str, float]]) -> dict:
        shown = {"ops": _named(sub_ops), "count": len(sub_ops)}
        for index, (name, magnitude) in enumerate(sub_ops, 1):
            shown[f"op{index}"] = name
        return shown

    def random_values(self, values):
        return ("op1",)


@register
class AutoAugment(_Policy):
    name = "AutoAugment"
    label = words("AutoAugment", "AutoAugment")
    help = words("A policy learned on a data set: one of its sub-policies at random, each sub-op with its own "
                 "probability and magnitude.", "在数据集上学到的策略：随机选一个子策略，每个子操作有各自的概率和强度。")
    params = (
        Param("policy", "choice", "imagenet", words("Policy", "策略"),
              words("The data set the policy was learned on.", "学习该策略所用的数据集。"),
              choices=("imagenet", "cifar10", "svhn")),
        _interpolation("nearest"),
        _fill(),
    )

    def kwargs(self, values):
        kwargs = super().kwargs(values)
        kwargs["policy"] = v2.AutoAugmentPolicy(values["policy"])
        return kwargs

    def code(self, values):
        rest = ", ".join(f"{key}={value!r}" for key, value in values.items() if key != "policy")
        return f"v2.AutoAugment(policy=v2.AutoAugmentPolicy.{values['policy'].upper()}, {rest})"

    def draw(self, transform, size):
        width, height = size
        index = int(torch.randint(len(transform._policies), ()))
        sub_ops = []
        for name, probability, magnitude_index in transform._policies[index]:
            if not torch.rand(()) <= probability:
                continue
            magnitudes_fn, signed = transform._AUGMENTATION_SPACE[name]
            sub_ops.append((name, _signed_draw(magnitudes_fn, signed, 10, magnitude_index, size)))
        return Drawn(self.name, {"sub_ops": sub_ops, "policy_index": index},
                     {"sub_policy": index, **self.shown_from(sub_ops)})

    def random_values(self, values):
        return ("sub_policy", "count")


@register
class RandAugment(_Policy):
    name = "RandAugment"
    label = words("RandAugment", "RandAugment")
    help = words("num_ops sub-ops picked at random, all at one magnitude.", "随机选 num_ops 个子操作，强度相同。")
    params = (
        Param("num_ops", "int", 2, words("Sub-ops", "子操作数"),
              words("How many sub-ops each sample gets.", "每个样本应用的子操作个数。"), 0, 10, 1),
        Param("magnitude", "int", 9, words("Magnitude", "强度"),
              words("Strength of every sub-op, 0 to num_magnitude_bins - 1.", "每个子操作的强度，0 到 num_magnitude_bins - 1。"),
              0, 30, 1),
        Param("num_magnitude_bins", "int", 31, words("Magnitude bins", "强度级数"),
              words("How many strengths there are.", "强度的级数。"), 2, 100, 1),
        _interpolation("nearest"),
        _fill(),
    )

    def check_together(self, values):
        if values["magnitude"] >= values["num_magnitude_bins"]:
            raise ValueError(f"RandAugment.magnitude must be below num_magnitude_bins ({values['num_magnitude_bins']}), "
                             f"got {values['magnitude']}.")

    def draw(self, transform, size):
        sub_ops = []
        for _ in range(transform.num_ops):
            name = _pick(transform._AUGMENTATION_SPACE)
            magnitudes_fn, signed = transform._AUGMENTATION_SPACE[name]
            sub_ops.append((name, _signed_draw(magnitudes_fn, signed, transform.num_magnitude_bins,
                                               transform.magnitude, size)))
        return Drawn(self.name, {"sub_ops": sub_ops}, self.shown_from(sub_ops))

    def random_values(self, values):
        return ("op1",) + (("op2",) if values["num_ops"] >= 2 else ())


@register
class TrivialAugmentWide(_Policy):
    name = "TrivialAugmentWide"
    label = words("TrivialAugment", "TrivialAugment")
    help = words("One sub-op at random, at a random magnitude.", "随机选一个子操作，强度随机。")
    params = (
        Param("num_magnitude_bins", "int", 31, words("Magnitude bins", "强度级数"),
              words("How many strengths there are.", "强度的级数。"), 2, 100, 1),
        _interpolation("nearest"),
        _fill(),
    )

    def draw(self, transform, size):
        name = _pick(transform._AUGMENTATION_SPACE)
        magnitudes_fn, signed = transform._AUGMENTATION_SPACE[name]
        bins = transform.num_magnitude_bins
        magnitude = _signed_draw(magnitudes_fn, signed, bins, lambda: int(torch.randint(bins, ())), size)
        sub_ops = [(name, magnitude)]
        return Drawn(self.name, {"sub_ops": sub_ops}, {**self.shown_from(sub_ops), "magnitude": abs(magnitude)})

    def random_values(self, values):
        return ("op1", "magnitude")


@register
class AugMix(_Policy):
    name = "AugMix"
    label = words("AugMix", "AugMix")
    help = words("Several short chains of random sub-ops, mixed with random weights and blended with the picture.",
                 "若干条随机子操作链，按随机权重混合后再与原图融合。")
    params = (
        Param("severity", "int", 3, words("Severity", "强度"),
              words("Largest strength of the sub-ops (1-10).", "子操作的最大强度(1-10)。"), 1, 10, 1),
        Param("mixture_width", "int", 3, words("Chains", "链数"),
              words("How many chains are mixed.", "混合的链条数。"), 1, 10, 1),
        Param("chain_depth", "int", -1, words("Chain depth", "链长"),
              words("Sub-ops per chain; -1 draws 1 to 3.", "每条链的子操作数；-1 表示随机 1 到 3。"), -1, 10, 1),
        Param("alpha", "float", 1.0, words("Alpha", "Alpha"),
              words("Dirichlet/Beta parameter of the mixing weights.", "混合权重的 Dirichlet/Beta 参数。"), 0.01, 10.0, 0.05),
        Param("all_ops", "bool", True, words("All ops", "全部操作"),
              words("Include the colour-statistics ops.", "包括改变颜色统计的操作。")),
        _interpolation("bilinear"),
        _fill(),
    )

    def check_together(self, values):
        if values["chain_depth"] == 0:
            raise ValueError("AugMix.chain_depth must be -1 (1 to 3 at random) or at least 1, got 0.")

    def draw(self, transform, size):
        space = transform._AUGMENTATION_SPACE if transform.all_ops else transform._PARTIAL_AUGMENTATION_SPACE
        weights = transform._sample_dirichlet(torch.tensor([transform.alpha, transform.alpha]).expand(1, -1))
        mixing = transform._sample_dirichlet(
            torch.tensor([transform.alpha] * transform.mixture_width).expand(1, -1)) * weights[:, 1].reshape([1, -1])
        chains = []
        for _ in range(transform.mixture_width):
            depth = transform.chain_depth if transform.chain_depth > 0 else int(torch.randint(low=1, high=4, size=(1,)).item())
            chain = []
            for _ in range(depth):
                name = _pick(space)
                magnitudes_fn, signed = space[name]
                chain.append((name, _signed_draw(magnitudes_fn, signed, transform._PARAMETER_MAX,
                                                 lambda: int(torch.randint(transform.severity, ())), size)))
            chains.append(chain)
        params = {"original_weight": weights[:, 0], "chain_weights": mixing[0], "chains": chains}
        shown = {"original_weight": float(weights[0, 0]), "chains": " | ".join(_named(chain) for chain in chains),
                 "op1": chains[0][0][0]}
        return Drawn(self.name, params, shown)

    def on_a_copy(self, transform, drawn, size, copy):
        # Its sub-ops are the same at any size (rotations about the centre, shears about the corner) but for the
        # translations, by whole pixels of the picture they were drawn for: scaled in _apply.
        return Drawn(drawn.op, {**drawn.params, "copy_scale": copy[0] / size[0]}, drawn.shown)

    def render(self, transform, image, drawn):
        # AugMix.forward from the drawn values: the mix is computed in float on the uint8 picture.
        scale = drawn.params.get("copy_scale", 1.0)
        pil = not isinstance(image, torch.Tensor)
        pixels = F.pil_to_tensor(image) if pil else image
        batch = pixels.reshape([1, *pixels.shape])
        mix = drawn.params["original_weight"].reshape([1, 1, 1, 1]) * batch
        for weight, chain in zip(drawn.params["chain_weights"], drawn.params["chains"]):
            mix.add_(weight.reshape([1, 1, 1, 1]) * _apply(transform, batch, chain, scale))
        mixed = mix.reshape(pixels.shape).to(dtype=pixels.dtype)
        return F.to_pil_image(mixed) if pil else mixed

    def random_values(self, values):
        return ("original_weight", "op1")
