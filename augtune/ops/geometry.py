"""Geometric ops: where each output pixel comes from. Their drawn params are v2's make_params."""

from __future__ import annotations

import torch

from .base import Drawn, Op, Param, words
from .registry import register

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _p(default: float = 0.5) -> Param:
    return Param("p", "float", default, words("Probability", "概率"),
                 words("How often the op is applied.", "应用此操作的概率。"), 0.0, 1.0, 0.05)


def _size(default: int = 224) -> Param:
    return Param("size", "int", default, words("Output size (px)", "输出尺寸(像素)"),
                 words("Side of the square output.", "正方形输出的边长。"), 8, 2048, 1)


def _fill() -> Param:
    return Param("fill", "int", 0, words("Fill grey", "填充灰度"),
                 words("Grey level of the pixels the picture does not cover.", "图像未覆盖区域的灰度值。"), 0, 255, 1)


def _interpolation(default: str) -> Param:
    return Param("interpolation", "choice", default, words("Interpolation", "插值"),
                 words("How pixels between the source pixels are computed.", "如何计算源像素之间的值。"),
                 choices=INTERPOLATIONS)


@register
class RandomHorizontalFlip(Op):
    name = "RandomHorizontalFlip"
    family = "geometry"
    label = words("Horizontal flip", "水平翻转")
    help = words("Mirrors the picture left to right.", "左右镜像图像。")
    params = (_p(),)


@register
class RandomVerticalFlip(Op):
    name = "RandomVerticalFlip"
    family = "geometry"
    label = words("Vertical flip", "垂直翻转")
    help = words("Mirrors the picture top to bottom.", "上下镜像图像。")
    params = (_p(),)


@register
class RandomResizedCrop(Op):
    name = "RandomResizedCrop"
    family = "geometry"
    label = words("Random resized crop", "随机裁剪缩放")
    help = words("Cuts a box of random area and aspect ratio and resizes it to the output size.",
                 "裁剪面积和宽高比随机的区域，并缩放到输出尺寸。")
    params = (
        _size(),
        Param("scale", "range", [0.08, 1.0], words("Area (fraction)", "面积比例"),
              words("The box's area as a fraction of the picture's.", "裁剪区域占原图面积的比例。"), 0.01, 1.0, 0.01),
        Param("ratio", "range", [3 / 4, 4 / 3], words("Aspect ratio", "宽高比"),
              words("The box's width over its height.", "裁剪区域的宽除以高。"), 0.1, 10.0, 0.05, log=True),
        Param("antialias", "bool", True, words("Antialias", "抗锯齿"),
              words("Smooth before shrinking.", "缩小前先平滑。")),
    )

    def shown(self, transform, params, size):
        width, height = size
        top, left, h, w = (int(params[key]) for key in ("top", "left", "height", "width"))
        return {"top": top, "left": left, "height": h, "width": w,
                "scale": h * w / (width * height), "ratio": w / h}

    def random_values(self, values):
        return ("scale", "ratio", "left", "top")


@register
class RandomCrop(Op):
    name = "RandomCrop"
    family = "geometry"
    label = words("Random crop", "随机裁剪")
    help = words("Cuts a box of fixed size at a random place, after optional padding.",
                 "（可先填充边缘）在随机位置裁剪固定大小的区域。")
    params = (
        _size(200),
        Param("padding", "int", 0, words("Padding (px)", "填充(像素)"),
              words("Pixels added on every side first.", "先在每边添加的像素数。"), 0, 512, 1),
        Param("pad_if_needed", "bool", False, words("Pad if needed", "必要时填充"),
              words("Pad a picture smaller than the crop.", "图像小于裁剪尺寸时填充。")),
        _fill(),
        Param("padding_mode", "choice", "constant", words("Padding mode", "填充方式"),
              words("What the added pixels show.", "填充像素的取值方式。"), choices=PADDING_MODES),
    )

    def kwargs(self, values):
        kwargs = super().kwargs(values)
        kwargs["padding"] = kwargs["padding"] or None
        return kwargs

    def shown(self, transform, params, size):
        return {"top": int(params["top"]), "left": int(params["left"])}

    def output_size(self, transform, drawn, size):
        return transform.size[1], transform.size[0]  # boxes cannot follow every padding mode; the crop's size is known

    def random_values(self, values):
        return ("left", "top")


@register
class CenterCrop(Op):
    name = "CenterCrop"
    family = "geometry"
    label = words("Centre crop", "中心裁剪")
    help = words("Cuts the middle of the picture.", "裁剪图像中央。")
    params = (_size(224),)


@register
class Resize(Op):
    name = "Resize"
    family = "geometry"
    label = words("Resize", "缩放")
    help = words("Scales the picture so that its shorter side has this length.", "缩放图像，使短边等于此长度。")
    params = (
        Param("size", "int", 256, words("Shorter side (px)", "短边(像素)"),
              words("Length of the shorter side after resizing.", "缩放后短边的长度。"), 8, 2048, 1),
        _interpolation("bilinear"),
        Param("antialias", "bool", True, words("Antialias", "抗锯齿"),
              words("Smooth before shrinking.", "缩小前先平滑。")),
    )


@register
class Pad(Op):
    name = "Pad"
    family = "geometry"
    label = words("Pad", "填充")
    help = words("Adds a border around the picture.", "在图像四周添加边框。")
    params = (
        Param("padding", "int", 16, words("Padding (px)", "填充(像素)"),
              words("Pixels added on every side.", "每边添加的像素数。"), 0, 512, 1),
        _fill(),
        Param("padding_mode", "choice", "constant", words("Padding mode", "填充方式"),
              words("What the added pixels show.", "填充像素的取值方式。"), choices=PADDING_MODES),
    )

    def output_size(self, transform, drawn, size):
        padding = 2 * int(transform.padding)  # one int from our schema: the same on every side
        return size[0] + padding, size[1] + padding


@register
class RandomRotation(Op):
    name = "RandomRotation"
    family = "geometry"
    label = words("Random rotation", "随机旋转")
    help = words("Rotates by a random angle (degrees; one number d means -d to d).",
                 "按随机角度旋转（度；单个数 d 表示 -d 到 d）。")
    params = (
        Param("degrees", "spread", 30, words("Degrees", "角度"),
              words("The range of angles.", "角度范围。"), -180.0, 180.0, 1.0),
        _interpolation("nearest"),
        Param("expand", "bool", False, words("Expand", "扩展画布"),
              words("Grow the output to hold the whole rotated picture.", "扩大输出以容纳整个旋转后的图像。")),
        _fill(),
    )

    def random_values(self, values):
        return ("angle",)


@register
class RandomAffine(Op):
    name = "RandomAffine"
    family = "geometry"
    label = words("Random affine", "随机仿射")
    help = words("Rotates, shifts, scales and shears by random amounts.", "随机旋转、平移、缩放和剪切。")
    params = (
        Param("degrees", "spread", 15, words("Degrees", "角度"), words("The range of angles.", "角度范围。"),
              -180.0, 180.0, 1.0),
        Param("translate", "pair", [0.0, 0.0], words("Shift (fraction)", "平移比例"),
              words("Largest shift along x and y, as a fraction of the width and the height.",
                    "沿 x 和 y 的最大平移量，分别占宽和高的比例。"), 0.0, 1.0, 0.01),
        Param("scale", "range", [1.0, 1.0], words("Scale", "缩放"),
              words("The range of scale factors.", "缩放因子范围。"), 0.1, 4.0, 0.05),
        Param("shear", "spread", 0, words("Shear (degrees)", "剪切(度)"),
              words("The range of shear angles along x.", "沿 x 方向的剪切角度范围。"), -90.0, 90.0, 1.0),
        _interpolation("nearest"),
        _fill(),
    )

    def kwargs(self, values):
        kwargs = super().kwargs(values)
        # v2's own way of saying "no shift", "no scaling", "no shear": None.
        if not any(kwargs["translate"]):
            kwargs["translate"] = None
        if kwargs["scale"] == (1.0, 1.0):
            kwargs["scale"] = None
        if kwargs["shear"] in (0, 0.0):
            kwargs["shear"] = None
        return kwargs

    def shown(self, transform, params, size):
        tx, ty = params["translate"]
        shear_x, _ = params["shear"]
        return {"angle": params["angle"], "tx": int(tx), "ty": int(ty), "scale": params["scale"], "shear": shear_x}

    def random_values(self, values):
        varies = {"angle": values["degrees"] not in (0, [0, 0]), "tx": values["translate"][0] > 0,
                  "ty": values["translate"][1] > 0, "scale": values["scale"][0] != values["scale"][1],
                  "shear": values["shear"] not in (0, [0, 0])}
        return tuple(name for name, random in varies.items() if random)


@register
class RandomPerspective(Op):
    name = "RandomPerspective"
    family = "geometry"
    label = words("Random perspective", "随机透视")
    help = words("Moves the corners inwards by random amounts, as if seen at an angle.",
                 "随机向内移动四个角，如同从斜侧观看。")
    params = (
        Param("distortion_scale", "float", 0.5, words("Distortion", "扭曲程度"),
              words("How far the corners may move (0 to 1).", "角点可移动的程度(0 到 1)。"), 0.0, 1.0, 0.05),
        _p(),
        _interpolation("bilinear"),
        _fill(),
    )

    def shown(self, transform, params, size):
        # v2 keeps only the map from output to input pixels: how far it moves the corners, as a fraction of
        # the mean side, is the one number a tile shows.
        c = params["coefficients"]
        width, height = size
        moved = 0.0
        for x, y in ((0, 0), (width - 1, 0), (width - 1, height - 1), (0, height - 1)):
            depth = c[6] * x + c[7] * y + 1
            moved += abs((c[0] * x + c[1] * y + c[2]) / depth - x) + abs((c[3] * x + c[4] * y + c[5]) / depth - y)
        return {"applied": True, "corner_shift": moved / 8 / ((width + height) / 2)}

    def random_values(self, values):
        return super().random_values(values) + ("corner_shift",)


@register
class ElasticTransform(Op):
    name = "ElasticTransform"
    family = "geometry"
    label = words("Elastic", "弹性形变")
    help = words("Moves every pixel by a smooth random field, like a picture on rubber.",
                 "用平滑的随机场移动每个像素，像橡皮上的图像。")
    params = (
        Param("alpha", "float", 50.0, words("Strength", "强度"),
              words("How far pixels move.", "像素移动的幅度。"), 0.0, 500.0, 1.0),
        Param("sigma", "float", 5.0, words("Smoothness", "平滑度"),
              words("How smooth the field is (Gaussian sigma).", "位移场的平滑程度(高斯 sigma)。"), 0.1, 50.0, 0.1),
        _interpolation("bilinear"),
        _fill(),
    )

    def draw(self, transform, size):
        """v2's make_params, the same torch.rand draws, with its Gaussian blur done separably by OpenCV: v2 blurs
        the picture-sized fields with a full 2-D kernel (41 x 41 at sigma 5), 0.3 s a draw on the cat and 23 s
        on a 12 MP photo. The fields agree with v2's to float rounding (tests/test_ops.py)."""
        width, height = size
        fields = []
        for axis, side in ((0, width), (1, height)):
            # In place, v2's very operations in its order (the same floats): a 12-MP field's copies took 50 ms.
            field = torch.rand(1, 1, height, width).mul_(2).sub_(1)
            if transform.sigma[axis] > 0.0:
                kernel = int(8 * transform.sigma[axis] + 1) | 1
                field = _gaussian_blur(field, kernel, transform.sigma)
            fields.append(field.mul_(transform.alpha[axis]).div_(side))
        params = {"displacement": torch.concat(fields, 1).permute([0, 2, 3, 1])}
        return Drawn(self.name, params, self.shown(transform, params, size))

    def on_a_copy(self, transform, drawn, size, copy):
        # The field is in units of the picture's half side (grid_sample's -1..1), the same at any size: averaged
        # over each copy pixel's share of the picture, it moves the copy as the picture's pixels moved on average.
        field = drawn.params["displacement"].permute(0, 3, 1, 2)
        pooled = torch.nn.functional.adaptive_avg_pool2d(field, (copy[1], copy[0])).permute(0, 2, 3, 1)
        return Drawn(drawn.op, {**drawn.params, "displacement": pooled.contiguous()}, drawn.shown)

    def shown(self, transform, params, size):
        # v2's displacement is in units of half the picture's side (grid_sample's -1..1): shown in pixels.
        dx, dy = params["displacement"].abs().mean(dim=(0, 1, 2)).tolist()
        return {"mean_shift_px": (dx * size[0] + dy * size[1]) / 4}

    def random_values(self, values):
        return ("mean_shift_px",)


@register
class RandomZoomOut(Op):
    name = "RandomZoomOut"
    family = "geometry"
    label = words("Random zoom out", "随机缩小")
    help = words("Puts the picture on a larger canvas at a random place.", "把图像放到更大画布的随机位置。")
    params = (
        _fill(),
        Param("side_range", "range", [1.0, 4.0], words("Canvas side (times)", "画布边长(倍)"),
              words("The canvas side as a multiple of the picture's.", "画布边长相对原图的倍数。"), 1.0, 8.0, 0.1),
        _p(),
    )

    def shown(self, transform, params, size):
        left, top, right, bottom = params["padding"]
        return {"applied": True, "canvas": (size[0] + left + right) / size[0], "left": left, "top": top}

    def random_values(self, values):
        return super().random_values(values) + ("canvas", "left", "top")


def _gaussian_blur(field: torch.Tensor, kernel_size: int, sigma) -> torch.Tensor:
    """F.gaussian_blur(field, [kernel_size] * 2, sigma) for a 1 x 1 x H x W float field: the same kernels
    (x: sigma[0], y: sigma[1]) and reflect padding (OpenCV's REFLECT_101), applied one axis at a time."""
    import cv2
    from torchvision.transforms.v2.functional._misc import _get_gaussian_kernel1d

    kernel_x = _get_gaussian_kernel1d(kernel_size, sigma[0], torch.float32, torch.device("cpu")).numpy()
    kernel_y = _get_gaussian_kernel1d(kernel_size, sigma[1], torch.float32, torch.device("cpu")).numpy()
    blurred = cv2.sepFilter2D(field[0, 0].numpy(), -1, kernel_x, kernel_y, borderType=cv2.BORDER_REFLECT_101)
    return torch.from_numpy(blurred)[None, None]
