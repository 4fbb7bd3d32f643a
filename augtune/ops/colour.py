"""Colour ops: each output pixel from the same input pixel (and, for some, statistics of the picture)."""

from __future__ import annotations

from .base import Op, Param, words
from .geometry import _p
from .registry import register

JITTER = ("brightness", "contrast", "saturation", "hue")


def _factor(name: str, en: str, zh: str, default: float, high: float) -> Param:
    return Param(name, "spread", default, words(en, zh),
                 words(f"{en} factor: one number f draws from 1-f to 1+f; or a range.",
                       f"{zh}因子：单个数 f 表示从 1-f 到 1+f 取值；也可给出范围。"), 0.0, high, 0.05)


@register
class ColorJitter(Op):
    name = "ColorJitter"
    family = "colour"
    label = words("Colour jitter", "颜色抖动")
    help = words("Changes brightness, contrast, saturation and hue by random factors, in a random order.",
                 "以随机顺序、随机因子改变亮度、对比度、饱和度和色调。")
    params = (
        _factor("brightness", "Brightness", "亮度", 0.0, 2.0),
        _factor("contrast", "Contrast", "对比度", 0.0, 2.0),
        _factor("saturation", "Saturation", "饱和度", 0.0, 2.0),
        Param("hue", "spread", 0.0, words("Hue", "色调"),
              words("Hue shift, as a fraction of the colour circle: one number h draws from -h to h.",
                    "色调偏移，占色环的比例：单个数 h 表示从 -h 到 h 取值。"), -0.5, 0.5, 0.01),
    )

    def kwargs(self, values):
        # v2 takes 0 as "leave alone" for a number; a range that is the identity is left out the same way.
        return {name: tuple(value) if isinstance(value, list) else value
                for name, value in values.items() if value not in (0, 0.0, [1.0, 1.0], [0.0, 0.0])}

    def shown(self, transform, params, size):
        shown = {name: float(params[f"{name}_factor"]) for name in JITTER if params[f"{name}_factor"] is not None}
        order = [JITTER[i] for i in params["fn_idx"].tolist() if params[f"{JITTER[i]}_factor"] is not None]
        shown["order"] = " → ".join(order)
        return shown

    def random_values(self, values):
        return tuple(name for name in JITTER if values.get(name) not in (0, 0.0, [1.0, 1.0], [0.0, 0.0]))


@register
class RandomPhotometricDistort(Op):
    name = "RandomPhotometricDistort"
    family = "colour"
    label = words("Photometric distort", "光度扰动")
    help = words("SSD's colour changes: each of brightness, contrast, saturation, hue and a channel shuffle "
                 "with probability p.", "SSD 的颜色变换：亮度、对比度、饱和度、色调和通道重排各以概率 p 应用。")
    params = (
        Param("brightness", "range", [0.875, 1.125], words("Brightness", "亮度"),
              words("Range of the brightness factor.", "亮度因子范围。"), 0.0, 3.0, 0.025),
        Param("contrast", "range", [0.5, 1.5], words("Contrast", "对比度"),
              words("Range of the contrast factor.", "对比度因子范围。"), 0.0, 3.0, 0.05),
        Param("saturation", "range", [0.5, 1.5], words("Saturation", "饱和度"),
              words("Range of the saturation factor.", "饱和度因子范围。"), 0.0, 3.0, 0.05),
        Param("hue", "range", [-0.05, 0.05], words("Hue", "色调"),
              words("Range of the hue shift.", "色调偏移范围。"), -0.5, 0.5, 0.01),
        _p(),
    )

    def shown(self, transform, params, size):
        shown = {name: float(params[f"{name}_factor"]) for name in JITTER if params[f"{name}_factor"] is not None}
        shown["contrast_first"] = bool(params["contrast_before"])
        shown["channels"] = "".join("RGB"[i] for i in params["channel_permutation"].tolist()) \
            if params["channel_permutation"] is not None else "RGB"
        return shown

    def random_values(self, values):
        return JITTER + ("contrast_first", "channels")


@register
class RandomChannelPermutation(Op):
    name = "RandomChannelPermutation"
    family = "colour"
    label = words("Channel shuffle", "通道重排")
    help = words("Puts the red, green and blue channels in a random order.", "随机排列红、绿、蓝通道。")

    def shown(self, transform, params, size):
        return {"channels": "".join("RGB"[i] for i in params["permutation"].tolist())}

    def random_values(self, values):
        return ("channels",)


@register
class Grayscale(Op):
    name = "Grayscale"
    family = "colour"
    label = words("Greyscale", "灰度")
    help = words("Makes the picture grey (kept with three channels).", "把图像变成灰度(保留三个通道)。")
    params = (Param("num_output_channels", "choice", 3, words("Channels", "通道数"),
                    words("3, not v2's default 1: the picture keeps its shape for the next ops.",
                          "取 3 而非 v2 默认的 1：图像保持形状以便后续操作。"), choices=(3,)),)


@register
class RandomGrayscale(Op):
    name = "RandomGrayscale"
    family = "colour"
    label = words("Random greyscale", "随机灰度")
    help = words("Makes the picture grey with probability p.", "以概率 p 把图像变成灰度。")
    params = (_p(0.1),)


@register
class RandomInvert(Op):
    name = "RandomInvert"
    family = "colour"
    label = words("Invert", "反色")
    help = words("Turns every level v into 255 - v.", "把每个灰度值 v 变为 255 - v。")
    params = (_p(),)


@register
class RandomPosterize(Op):
    name = "RandomPosterize"
    family = "colour"
    label = words("Posterize", "色调分离")
    help = words("Keeps only the top bits of each channel: fewer levels, flat areas.",
                 "每个通道只保留高位：更少的色阶、更平的色块。")
    params = (Param("bits", "int", 4, words("Bits kept", "保留位数"),
                    words("Bits of each channel kept (8 keeps all).", "每个通道保留的位数(8 为全部)。"), 1, 8, 1), _p())


@register
class RandomSolarize(Op):
    name = "RandomSolarize"
    family = "colour"
    label = words("Solarize", "曝光反转")
    help = words("Inverts the levels at or above the threshold.", "反转不低于阈值的灰度值。")
    params = (Param("threshold", "float", 128.0, words("Threshold", "阈值"),
                    words("Levels from here up are inverted.", "从此值起的灰度被反转。"), 0.0, 255.0, 1.0), _p())


@register
class RandomEqualize(Op):
    name = "RandomEqualize"
    family = "colour"
    label = words("Equalize", "直方图均衡")
    help = words("Spreads the levels so that each is about as common.", "重新分布灰度，使各灰度出现次数大致相同。")
    params = (_p(),)

    def amplifies(self, transform) -> float:
        return 2.0  # neighbours a level apart can come out several apart


@register
class RandomAutocontrast(Op):
    name = "RandomAutocontrast"
    family = "colour"
    label = words("Autocontrast", "自动对比度")
    help = words("Stretches each channel to use the full range 0-255.", "拉伸每个通道以占满 0-255。")
    params = (_p(),)

    def amplifies(self, transform) -> float:
        return 2.0  # neighbours a level apart can come out several apart


@register
class RandomAdjustSharpness(Op):
    name = "RandomAdjustSharpness"
    family = "colour"
    label = words("Sharpness", "锐度")
    help = words("Sharpens (factor above 1) or blurs (below 1).", "锐化(因子大于 1)或模糊(小于 1)。")
    params = (Param("sharpness_factor", "float", 2.0, words("Factor", "因子"),
                    words("1 leaves the picture alone.", "1 表示不变。"), 0.0, 10.0, 0.1), _p())

    def amplifies(self, transform) -> float:
        return max(1.0, transform.sharpness_factor)  # the detail, scaled by the factor
