"""Degradations (blur, noise, compression) and RandomErasing: what a camera, a network or an occluder does."""

from __future__ import annotations

from torchvision.transforms import v2

from .base import Drawn, Op, Param, words
from .geometry import _p
from .registry import register


@register
class GaussianBlur(Op):
    name = "GaussianBlur"
    family = "degradation"
    label = words("Gaussian blur", "高斯模糊")
    help = words("Blurs with a Gaussian of random width (sigma).", "用宽度(sigma)随机的高斯核模糊。")
    params = (
        Param("kernel_size", "int", 9, words("Kernel size (px)", "核大小(像素)"),
              words("Side of the blur's window; odd.", "模糊窗口的边长；须为奇数。"), 1, 99, 2),
        Param("sigma", "spread", [0.1, 2.0], words("Sigma", "Sigma"),
              words("The range of the Gaussian's width, in pixels.", "高斯宽度的范围(像素)。"), 0.01, 50.0, 0.05),
    )

    def check_together(self, values):
        if values["kernel_size"] % 2 == 0:
            raise ValueError(f"GaussianBlur.kernel_size must be odd, got {values['kernel_size']}.")

    def shown(self, transform, params, size):
        return {"sigma": float(params["sigma"][0])}

    def random_values(self, values):
        sigma = values["sigma"]
        return ("sigma",) if isinstance(sigma, list) and sigma[0] != sigma[1] else ()


@register
class GaussianNoise(Op):
    name = "GaussianNoise"
    family = "degradation"
    label = words("Gaussian noise", "高斯噪声")
    help = words("Adds noise to every pixel (the picture becomes a tensor from here on).",
                 "为每个像素添加噪声(此后图像为张量)。")
    params = (
        Param("mean", "float", 0.0, words("Mean", "均值"),
              words("Mean of the noise, as a fraction of 255.", "噪声均值，占 255 的比例。"), -1.0, 1.0, 0.01),
        Param("sigma", "float", 0.1, words("Sigma", "Sigma"),
              words("Spread of the noise, as a fraction of 255.", "噪声标准差，占 255 的比例。"), 0.0, 1.0, 0.01),
    )
    draws_in_kernel = True

    def build(self, values):
        # v2's noise needs a tensor; ToImage makes one of a PIL picture and leaves a tensor as it is.
        return v2.Compose([v2.ToImage(), v2.GaussianNoise(mean=values["mean"], sigma=values["sigma"])])

    def code(self, values):
        return f"v2.ToImage(), v2.GaussianNoise(mean={values['mean']!r}, sigma={values['sigma']!r})"

    def draw(self, transform, size):
        return Drawn(self.name, {}, {"sigma": transform.transforms[1].sigma})

    def render(self, transform, image, drawn):
        # v2 draws the noise in its kernel, with randn_like of the picture's own memory layout (which changes
        # the numbers, not only their order), so the kernel itself runs, in the sampler's draw order.
        return transform(image)


@register
class JPEG(Op):
    name = "JPEG"
    family = "degradation"
    label = words("JPEG", "JPEG 压缩")
    help = words("Compresses as JPEG at a random quality: blocks and ringing.", "以随机质量进行 JPEG 压缩：方块与振铃。")
    params = (Param("quality", "range", [20, 80], words("Quality", "质量"),
                    words("The range of JPEG quality (1-100).", "JPEG 质量范围(1-100)。"), 1, 100, 1),)

    def shown(self, transform, params, size):
        return {"quality": int(params["quality"])}

    def random_values(self, values):
        return ("quality",) if values["quality"][0] != values["quality"][1] else ()


@register
class RandomErasing(Op):
    name = "RandomErasing"
    family = "erasing"
    label = words("Random erasing", "随机擦除")
    help = words("Paints a box of random area and shape with one grey (the picture becomes a tensor).",
                 "用单一灰度涂抹面积和形状随机的矩形(此后图像为张量)。")
    params = (
        _p(),
        Param("scale", "range", [0.02, 0.33], words("Area (fraction)", "面积比例"),
              words("The box's area as a fraction of the picture's.", "矩形面积占图像的比例。"), 0.001, 1.0, 0.01),
        Param("ratio", "range", [0.3, 3.3], words("Aspect ratio", "宽高比"),
              words("The box's height over its width.", "矩形的高除以宽。"), 0.05, 20.0, 0.05, log=True),
        Param("value", "int", 0, words("Grey", "灰度"),
              words("Grey level painted into the box.", "填入矩形的灰度值。"), 0, 255, 1),
    )

    def build(self, values):
        # Erasing runs on tensors (a PIL picture goes through ToImage first): the same kernel either way.
        return v2.Compose([v2.ToImage(), v2.RandomErasing(**self.kwargs(values))])

    def code(self, values):
        return "v2.ToImage(), " + super().code(values)

    def draw(self, transform, size):
        return super().draw(transform.transforms[1], size)

    def render(self, transform, image, drawn):
        pixels = transform.transforms[0](image)  # what v2 hands on from here: a tensor
        if drawn.params is None:
            return pixels
        return transform.transforms[1].transform(pixels, drawn.params)

    def shown(self, transform, params, size):
        area = params["h"] * params["w"] / (size[0] * size[1]) if params["v"] is not None else 0.0
        return {"applied": True, "area": area, "top": int(params["i"]), "left": int(params["j"])}

    def random_values(self, values):
        return super().random_values(values) + ("area",)
