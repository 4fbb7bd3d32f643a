"""The augmentation spec: every control of the Explore tab in one frozen, validated value.

The spec is the single source of truth shared by the UI, the HTTP API, the exported code and the
training recipe, so it validates itself on construction and speaks in sentences a student can act on.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any

from .numbers import check_number, format_number

STAGES = ("flip", "color", "crop")
CROP_MODES = ("random", "center", "none")

# (low, high) for every numeric field; the UI builds its sliders from this table too.
RANGES: dict[str, tuple[float, float]] = {
    "hflip_p": (0.0, 1.0),
    "vflip_p": (0.0, 1.0),
    "brightness": (0.0, 2.0),
    "contrast": (0.0, 2.0),
    "saturation": (0.0, 2.0),
    "hue": (0.0, 0.5),
    "crop_size": (32, 512),
    "resize_size": (32, 1024),
    "scale_min": (0.01, 1.0),
    "scale_max": (0.01, 1.0),
    "ratio_min": (0.1, 10.0),
    "ratio_max": (0.1, 10.0),
    "samples": (1, 64),
    "columns": (1, 16),
    "seed": (0, 2**63 - 1),
}
INT_FIELDS = frozenset({"crop_size", "resize_size", "samples", "columns", "seed"})


@dataclass(frozen=True)
class AugSpec:
    """Settings of the lesson's augmentation pipeline. Defaults are the lesson's combined pipeline."""

    hflip_p: float = 0.5
    vflip_p: float = 0.0
    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.5
    crop_mode: str = "random"
    crop_size: int = 200
    resize_size: int = 256
    scale_min: float = 0.1
    scale_max: float = 1.0
    ratio_min: float = 0.5
    ratio_max: float = 2.0
    order: tuple[str, ...] = STAGES
    samples: int = 8
    columns: int = 4
    seed: int = 0
    # A pipeline of any ops (augtune.ops.Step, in order): when set, it is the pipeline and the lesson's fields
    # above are not used. Its JSON form is {"steps": [{"op": "RandomRotation", "degrees": 30}, ...], ...}.
    steps: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        for name, (low, high) in RANGES.items():
            object.__setattr__(self, name, check_number(name, getattr(self, name), low, high, integer=name in INT_FIELDS))
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode must be one of {', '.join(CROP_MODES)}, got {self.crop_mode!r}.")
        for low_name, high_name in (("scale_min", "scale_max"), ("ratio_min", "ratio_max")):
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low > high:
                raise ValueError(f"{low_name} ({format_number(low)}) must not be larger than {high_name} ({format_number(high)}).")
        if self.crop_mode == "center" and self.resize_size < self.crop_size:
            raise ValueError(
                f"resize_size ({self.resize_size}) must be at least crop_size ({self.crop_size}) "
                "for a centre crop."
            )
        order = self.order
        if isinstance(order, str) or not isinstance(order, (list, tuple)):
            raise ValueError(f"order must list the stages {', '.join(STAGES)} once each, got {order!r}.")
        order = tuple(order)
        if sorted(order) != sorted(STAGES):
            raise ValueError(f"order must list the stages {', '.join(STAGES)} once each, got {list(order)}.")
        object.__setattr__(self, "order", order)
        if self.steps is not None:
            from .ops.steps import Step

            if isinstance(self.steps, (str, bytes)) or not all(isinstance(step, Step) for step in self.steps):
                raise ValueError("steps must be a list of augtune.ops.Step (use AugSpec.from_dict for JSON).")
            object.__setattr__(self, "steps", tuple(self.steps))

    def replace(self, **changes: Any) -> AugSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        if self.steps is not None:
            return {"steps": [step.to_dict() for step in self.steps], "samples": self.samples,
                    "columns": self.columns, "seed": self.seed}
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "steps"}
        data["order"] = list(self.order)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> AugSpec:
        if not isinstance(data, dict):
            raise ValueError(f"Settings must be a JSON object of named fields, got {type(data).__name__}.")
        if "steps" in data:  # the pipeline-of-steps form
            from .ops.steps import parse_steps

            extra = sorted(map(str, set(data) - {"steps", "samples", "columns", "seed"}))
            if extra:
                raise ValueError(f"Unknown setting(s) beside steps: {', '.join(name[:40] for name in extra[:5])}. "
                                 "Known: steps, samples, columns, seed.")
            rest = {key: data[key] for key in ("samples", "columns", "seed") if key in data}
            return cls(steps=parse_steps(data["steps"]), **rest)
        known = {f.name for f in fields(cls)} - {"steps"}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            # Echo at most a few names, each cut short: the sentence goes back to whoever sent them.
            shown = ", ".join(name if len(name) <= 40 else name[:40] + "…" for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ValueError(f"Unknown setting(s): {shown}{more}. Known: {', '.join(sorted(known))}.")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes) -> AugSpec:
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("Settings are not valid JSON: nested too deeply.") from None
        except (ValueError, TypeError) as error:
            raise ValueError(f"Settings are not valid JSON: {error}.") from None
        return cls.from_dict(data)

    @property
    def color_enabled(self) -> bool:
        return any((self.brightness, self.contrast, self.saturation, self.hue))

    @property
    def active_stages(self) -> tuple[str, ...]:
        """The stages that do something, in pipeline order."""
        active = {
            "flip": bool(self.hflip_p or self.vflip_p),
            "color": self.color_enabled,
            "crop": self.crop_mode != "none",
        }
        return tuple(stage for stage in self.order if active[stage])



_NO_COLOR = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
_NO_FLIP = dict(hflip_p=0.0, vflip_p=0.0)
_NO_CROP = dict(crop_mode="none")

# The lesson's pipelines (see shared/docs/LESSON.md), one click each in the UI.
PRESETS: dict[str, AugSpec] = {
    "horizontal_flip": AugSpec(**_NO_COLOR, **_NO_CROP, hflip_p=0.5, vflip_p=0.0),
    "vertical_flip": AugSpec(**_NO_COLOR, **_NO_CROP, hflip_p=0.0, vflip_p=0.5),
    "shape_aug": AugSpec(**_NO_COLOR, **_NO_FLIP, crop_size=200, scale_min=0.1, scale_max=1.0, ratio_min=0.5, ratio_max=2.0),
    "brightness": AugSpec(**{**_NO_COLOR, "brightness": 0.5}, **_NO_FLIP, **_NO_CROP),
    "hue": AugSpec(**{**_NO_COLOR, "hue": 0.5}, **_NO_FLIP, **_NO_CROP),
    "contrast": AugSpec(**{**_NO_COLOR, "contrast": 0.5}, **_NO_FLIP, **_NO_CROP),
    "color_aug": AugSpec(**_NO_FLIP, **_NO_CROP, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5),
    "combined": AugSpec(),
    # The lesson's combined pipeline with crops of 60-100 % of the area: training's default. On the small
    # synthetic pictures the lesson's 10 % crops often cut the shape off (test acc 0.58 instead of 0.95).
    "combined_train": AugSpec(scale_min=0.6),
    "hotdog_train": AugSpec(
        **_NO_COLOR,
        hflip_p=0.5,
        vflip_p=0.0,
        crop_size=224,
        scale_min=0.08,
        scale_max=1.0,
        ratio_min=3 / 4,
        ratio_max=4 / 3,
        order=("crop", "flip", "color"),
    ),
    "hotdog_test": AugSpec(**_NO_COLOR, **_NO_FLIP, crop_mode="center", resize_size=256, crop_size=224),
}


def _steps(*steps: dict[str, Any]) -> AugSpec:
    from .ops.steps import parse_steps

    return AugSpec(steps=parse_steps(list(steps)))


# The learned and random policies at v2's defaults (issue 12): pipelines of steps, shown in Explore's step editor.
PRESETS.update(
    autoaugment_imagenet=_steps({"op": "AutoAugment", "policy": "imagenet"}),
    randaugment=_steps({"op": "RandAugment", "num_ops": 2, "magnitude": 9}),
    trivialaugment=_steps({"op": "TrivialAugmentWide"}),
    augmix=_steps({"op": "AugMix"}),
)
