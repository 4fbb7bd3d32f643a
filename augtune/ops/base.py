"""What every op of the registry declares, and the generic mechanism that reads it.

An op is one torchvision v2 transform class: its params (the constructor's keywords, with range, default,
step and a label and help line in each language), how to build it, how one sample's params are drawn (as
v2's own `forward` draws them, the `p` coin included), what a tile's caption and the histograms show, and
how a tile is rendered. Most ops need only the declaration: the defaults below call v2's `make_params`
and its kernels, so the drawn values are v2's by construction. An op overrides a method only where v2
draws elsewhere (the policies draw inside `forward`, GaussianNoise inside its kernel) or needs a batch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2._transform import _RandomApplyTransform

from ..numbers import check_number, format_number
from ..warp import move

Text = dict[str, str]  # {"en": ..., "zh-CN": ...}
FAMILIES = ("geometry", "colour", "degradation", "erasing", "policy", "mixing")


def words(en: str, zh: str) -> Text:
    return {"en": en, "zh-CN": zh}


@dataclass(frozen=True)
class Param:
    """One keyword of the v2 constructor.

    kind: "float", "int", "bool", "choice"; "range", a [low, high] pair with each end within
    [self.low, self.high] (whole numbers when `step` is the int 1); "pair", two numbers in that interval in
    any order (x and y); or "spread", as v2 takes many of its ranges: one number in [0, self.high]
    (v2 makes the range from it, e.g. degrees 30 is -30..30) or such a pair.
    """

    name: str
    kind: str
    default: Any
    label: Text
    help: Text
    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def check(self, op: str, value: Any) -> Any:
        """`value` normalised (tuples as lists, ints as ints), or ValueError naming the field, value and range."""
        name = f"{op}.{self.name}"
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {_shown(value)}.")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{name} must be one of {', '.join(map(str, self.choices))}, got {_shown(value)}.")
            return value
        whole = isinstance(self.step, int) and self.step == 1
        if self.kind == "spread" and not isinstance(value, (list, tuple)):
            return check_number(name, value, 0.0 if self.low < 0 else self.low, self.high, integer=whole)
        if self.kind in ("range", "spread", "pair"):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
                raise ValueError(f"{name} must be a pair [low, high] within {format_number(self.low)} and "
                                 f"{format_number(self.high)}, got {_shown(value)}.")
            low, high = (check_number(name, part, self.low, self.high, integer=whole) for part in value)
            if low > high and self.kind != "pair":
                raise ValueError(f"{name} must be a pair [low, high] with low not above high, got "
                                 f"[{format_number(low)}, {format_number(high)}].")
            return [low, high]
        return check_number(name, value, self.low, self.high, integer=self.kind == "int")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


@functools.lru_cache(maxsize=256)  # a grid's samples mostly share sizes; building one was a tenth of a draw
def _proxy(width: int, height: int) -> torch.Tensor:
    # make_params asks an input only for its size (and channels); an expanded scalar has any size for free.
    return tv_tensors.Image(torch.empty(1, 1, 1, dtype=torch.uint8).expand(3, height, width))


def _canvas(width: int, height: int) -> tv_tensors.BoundingBoxes:
    # The whole picture as a box: v2 moves it and gives its new canvas size, for any geometric op.
    return tv_tensors.BoundingBoxes([[0, 0, width, height]], format="XYXY", canvas_size=(height, width))


@dataclass
class Drawn:
    """One op's draw for one sample: v2's params (None where the `p` coin said no) and what the tile shows."""

    op: str
    params: dict[str, Any] | None
    shown: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.params is not None


class Op:
    name: ClassVar[str]  # torchvision's class name, also the op's name in the settings JSON
    family: ClassVar[str]
    label: ClassVar[Text]
    help: ClassVar[Text]
    params: ClassVar[tuple[Param, ...]] = ()
    # v2 draws in the kernel (not in make_params): the sampler renders such a sample as soon as it is drawn.
    draws_in_kernel: ClassVar[bool] = False

    def amplifies(self, transform) -> float:
        """How much the op, run by v2's kernel on the whole picture, may amplify the differences between
        neighbouring pixels (augtune.fast): colour steps after it then average fewer of its pixels
        (pixels.photo_pixels_averaged)."""
        return 1.0

    def on_a_copy(self, transform, drawn: Drawn, size: tuple[int, int], copy: tuple[int, int]) -> Drawn | None:
        """The draw for running the op on a smaller copy (of `copy` pixels, width and height) of the picture of `size`
        it was drawn for, where its output goes to a tile that small or smaller (augtune.fast): None where it must
        see every pixel of the picture, as most kernels must to come out as v2's shrunk to the tile."""
        return None

    # ------------------------------------------------------------------ settings

    def check(self, values: dict[str, Any]) -> dict[str, Any]:
        """All params, defaults filled in, each checked; unknown names refused in one sentence."""
        known = {param.name: param for param in self.params}
        unknown = sorted(map(str, set(values) - set(known)))
        if unknown:
            names = ", ".join(known) or "none"
            raise ValueError(f"{self.name} has no parameter {', '.join(unknown[:3])}; its parameters: {names}.")
        checked = {name: param.check(self.name, values.get(name, param.default)) for name, param in known.items()}
        self.check_together(checked)
        return checked

    def check_together(self, values: dict[str, Any]) -> None:
        """Rules across params (override)."""

    def kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """The v2 constructor's keyword arguments for checked values (ranges as tuples)."""
        return {name: tuple(value) if isinstance(value, list) else value for name, value in values.items()}

    def build(self, values: dict[str, Any]) -> v2.Transform:
        return getattr(v2, self.name)(**self.kwargs(values))

    def code(self, values: dict[str, Any]) -> str:
        """Python source for `build(values)` (what the exported pipeline says)."""
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.kwargs(values).items())
        return f"v2.{self.name}({arguments})"

    # ------------------------------------------------------------------ drawing

    def draw(self, transform: v2.Transform, size: tuple[int, int]) -> Drawn:
        """One sample's params for an input of `size` (width, height), consuming torch's global RNG exactly
        as `transform(image)` does."""
        if isinstance(transform, _RandomApplyTransform) and torch.rand(1) >= transform.p:
            return Drawn(self.name, None, self.shown_when_skipped(transform))
        params = transform.make_params([_proxy(*size)])
        return Drawn(self.name, params, self.shown(transform, params, size))

    def shown(self, transform: v2.Transform, params: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
        """What a tile says was drawn: names to plain numbers, booleans or short texts."""
        shown: dict[str, Any] = {"applied": True} if isinstance(transform, _RandomApplyTransform) else {}
        for key, value in params.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if isinstance(value, bool) or isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
                shown[key] = value
        return shown

    def shown_when_skipped(self, transform: v2.Transform) -> dict[str, Any]:
        return {"applied": False}

    def random_values(self, values: dict[str, Any]) -> tuple[str, ...]:
        """The shown names that vary from sample to sample for these settings: each gets a histogram."""
        return ("applied",) if any(param.name == "p" for param in self.params) and 0 < values.get("p", 1) < 1 else ()

    # ------------------------------------------------------------------ pixels

    def output_size(self, transform: v2.Transform, drawn: Drawn, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) after this op, without pixel work."""
        if drawn.params is None or self.family != "geometry":  # v2 changes sizes only in its geometry ops
            return size
        # Pillow's own output size (what v2 gives a PIL picture), without moving a box through v2 (a rotated box
        # took 5 ms, a third of drawing a sample of five steps).
        found = move(self.name, transform, drawn.params, size)
        if found is not None:
            return found.size
        moved = transform.transform(_canvas(*size), drawn.params)
        height, width = moved.canvas_size
        return width, height

    def render(self, transform: v2.Transform, image: Image.Image, drawn: Drawn) -> Image.Image:
        """The picture after this op with the drawn params: v2's own kernel."""
        if drawn.params is None:
            return image
        return transform.transform(image, drawn.params)

    # ------------------------------------------------------------------ words

    def caption(self, drawn: Drawn, locale: str = "en") -> str:
        label = self.label.get(locale) or self.label["en"]
        if not drawn.applied:
            return f"{label}: " + ("否" if locale.startswith("zh") else "no")
        parts = [f"{key} {_short(value)}" for key, value in drawn.shown.items() if key != "applied"]
        return label + (": " + ", ".join(parts) if parts else "")


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
