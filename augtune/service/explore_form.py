"""Explore's controls as plain values: which fields they set, in which order, and which matter when."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from augtune.spec import STAGES, AugSpec

FIELDS = [field.name for field in dataclasses.fields(AugSpec) if field.name != "steps"]  # the sliders: the flat form
ORDERS = [",".join(order) for order in itertools.permutations(STAGES)]
HISTOGRAM_DRAWS = 2000
# ElasticTransform draws a displacement field the size of the picture: its draws are held to this many pixels.
HISTOGRAM_PIXELS_FOR_FIELDS = 20_000_000


def spec_from_widgets(values: list[Any] | tuple[Any, ...]) -> AugSpec:
    """The spec for the widgets' values, given in FIELDS order, then optionally the step editor's pipeline
    (a list of steps, or None while the lesson's sliders are in use). Raises ValueError (one sentence)."""
    values = list(values)
    pipeline = values.pop() if len(values) == len(FIELDS) + 1 else None
    settings = dict(zip(FIELDS, values, strict=True))
    order = settings["order"]
    settings["order"] = tuple(order.split(",")) if isinstance(order, str) else order
    if pipeline is not None:  # the sliders' samples, columns and seed; the steps instead of the three stages
        return AugSpec.from_dict({"steps": pipeline, **{name: settings[name] for name in ("samples", "columns", "seed")}})
    return AugSpec(**settings)


def widgets_from_spec(spec: AugSpec) -> list[Any]:
    """The sliders' values for `spec`, in FIELDS order (with `pipeline_of`, the inverse of spec_from_widgets).
    A spec of steps leaves them at the lesson's defaults, with its own samples, columns and seed."""
    flat = AugSpec(samples=spec.samples, columns=spec.columns, seed=spec.seed) if spec.steps is not None else spec
    values = flat.to_dict()
    values["order"] = ",".join(flat.order)
    return [values[name] for name in FIELDS]


def pipeline_of(spec: AugSpec) -> list[dict[str, Any]] | None:
    """The step editor's pipeline for `spec`: its steps, or None for the lesson's flat form."""
    return spec.to_dict()["steps"] if spec.steps is not None else None


def histogram_draws(spec: AugSpec, size: tuple[int, int]) -> int:
    """How many samples the histograms draw: HISTOGRAM_DRAWS, fewer where an op draws per pixel."""
    from augtune.ops.steps import _flat

    if spec.steps is None or not any(step.op == "ElasticTransform" for step in _flat(spec.steps)):
        return HISTOGRAM_DRAWS
    return max(4, min(HISTOGRAM_DRAWS, HISTOGRAM_PIXELS_FOR_FIELDS // (size[0] * size[1])))


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
