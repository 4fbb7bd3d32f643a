"""Explore's controls as plain values: which fields they set, in which order, and which matter when."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from augtune.spec import STAGES, AugSpec

FIELDS = [field.name for field in dataclasses.fields(AugSpec) if field.name != "steps"]  # the sliders: the flat form
ORDERS = [",".join(order) for order in itertools.permutations(STAGES)]
HISTOGRAM_DRAWS = 2000


def spec_from_widgets(values: list[Any] | tuple[Any, ...]) -> AugSpec:
    """The spec for the widgets' values, given in FIELDS order. Raises ValueError (one sentence)."""
    settings = dict(zip(FIELDS, values, strict=True))
    order = settings["order"]
    settings["order"] = tuple(order.split(",")) if isinstance(order, str) else order
    return AugSpec(**settings)


def widgets_from_spec(spec: AugSpec) -> list[Any]:
    """The widgets' values for `spec`, in FIELDS order (inverse of spec_from_widgets)."""
    values = spec.to_dict()
    values["order"] = ",".join(spec.order)
    return [values[name] for name in FIELDS]


def crop_widgets_shown(crop_mode: str) -> dict[str, bool]:
    """Which crop controls matter for a crop mode; the others are hidden to keep the panel short."""
    return {
        "crop_size": crop_mode != "none",
        "resize_size": crop_mode == "center",
        "scale_min": crop_mode == "random",
        "scale_max": crop_mode == "random",
        "ratio_min": crop_mode == "random",
        "ratio_max": crop_mode == "random",
    }
