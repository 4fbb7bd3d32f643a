"""Explore's sentences made on the server: what each tile sampled, and the core's error sentences in the
page's words and language."""

from __future__ import annotations

import re
from typing import Any

from augtune.ops import steps_caption

from .explore_form import FIELDS
from .i18n import number_sentence, text


def tile_caption(number: int, params: dict[str, Any], locale: str = "en") -> str:
    """What was sampled for tile `number`, in pipeline order, short enough for a gallery caption."""
    if "steps" in params:  # a pipeline of steps: each op says what was drawn for it
        parts = [steps_caption(params["steps"], locale)]
        for entry in params["steps"]:
            if "partner" in entry and "lambda" in entry:  # MixUp/CutMix: the label is mixed as the pixels are
                parts.append(text(locale, "caption.mixed", partner=entry["partner"], share=f"{entry['lambda']:.2f}",
                                  rest=f"{1 - entry['lambda']:.2f}"))
        return f"#{number} · " + (" · ".join(part for part in parts if part) or text(locale, "caption.unchanged"))
    parts: list[str] = []
    for key in params:
        if key in ("hflip", "vflip"):
            parts.append(text(locale, f"caption.{key}.{'yes' if params[key] else 'no'}"))
        elif key == "jitter_order":
            parts.append(" → ".join(_jitter_part(locale, name, params[name]) for name in params[key]))
        elif key == "crop_scale":
            x0, y0, x1, y1 = params["crop_box"]
            parts.append(text(locale, "caption.crop", x0=x0, y0=y0, x1=x1, y1=y1,
                              scale=f"{params['crop_scale']:.2f}", ratio=f"{params['crop_ratio']:.2f}"))
        elif key == "resize":
            x0, y0, x1, y1 = params["crop_box"]
            height, width = params["resize"]
            parts.append(text(locale, "caption.center", width=width, height=height, x0=x0, y0=y0, x1=x1, y1=y1))
    return f"#{number} · " + (" · ".join(parts) if parts else text(locale, "caption.unchanged"))


def _jitter_part(locale: str, name: str, value: float) -> str:
    shown = f"{value:+.2f}" if name == "hue" else f"{value:.2f}"
    return text(locale, f"caption.{name}", value=shown)


# Sentences of augtune's core (spec.py, imageio.py) and how to say them in the UI's words and language (the
# number checks' through `i18n.number_sentence`).
# tests/test_app_explore.py raises each of them for real, so a reworded core message is caught there.
_ERROR_PATTERNS = [
    (re.compile(r"^(?P<low_field>\w+) \((?P<low>[^)]+)\) must not be larger than (?P<high_field>\w+) \((?P<high>[^)]+)\)\.$"), "error.min_max"),
    (re.compile(r"^resize_size \((?P<resize>\d+)\) must be at least crop_size \((?P<crop>\d+)\) for a centre crop\.$"), "error.center"),
    (re.compile(r"^Settings are not valid JSON: (?P<detail>.*)\.$", re.S), "error.json"),
    (re.compile(r"^Unknown setting\(s\): (?P<names>.*?)\. Known: .*$", re.S), "error.unknown"),
    (re.compile(r"^Settings must be a JSON object"), "error.not_object"),
    (re.compile(r"^The file is empty\.$"), "error.empty"),
    (re.compile(r"^This file is not an image augtune can read"), "error.not_image"),
    (re.compile(r"^(?P<kind>\w+) images are not supported"), "error.unsupported"),
    (re.compile(r"^The image is too large.*at most (?P<limit>[\d.]+) megapixels"), "error.too_large"),
    (re.compile(r"^The image file is incomplete"), "error.truncated"),
    (re.compile(r"^The image file is damaged"), "error.damaged"),
    (re.compile(r"^No image file at "), "error.gone"),
    # Pipelines of steps (augtune.ops): an op's name and params are torchvision's in both languages.
    (re.compile(r"^(?P<op>\w+) would make a picture of (?P<width>\d+) x (?P<height>\d+) pixels, more than the "
                r"(?P<limit>[\d.]+) megapixels allowed"), "error.step_too_large"),
    (re.compile(r"^(?P<op>\w+) cannot run on a picture of (?P<width>\d+) x (?P<height>\d+) pixels: (?P<reason>.*)\.$",
                re.S), "error.step_cannot_run"),
    (re.compile(r"^MixUp and CutMix mix a batch, so they can only be the last step\.$"), "error.mix_last"),
    (re.compile(r"^GaussianBlur\.kernel_size must be odd, got (?P<value>\d+)\.$"), "error.kernel_odd"),
    (re.compile(r"^RandAugment\.magnitude must be below num_magnitude_bins \((?P<bins>\d+)\), got (?P<value>\d+)\.$"),
     "error.magnitude_bins"),
    (re.compile(r"^AugMix\.chain_depth must be -1"), "error.chain_depth"),
    (re.compile(r"^(?P<where>.+?): there is no op (?P<name>.+?); the ops are (?P<ops>.+)\.$", re.S), "error.no_op"),
    (re.compile(r"^(?P<where>.+?) has (?P<count>\d+) steps; at most (?P<limit>\d+) are allowed\.$"), "error.too_many_steps"),
]
_LABEL_KEYS = {name: f"{name}.label" for name in FIELDS}


def localize_error(message: str, locale: str = "en") -> str:
    """A core error sentence in the UI's language, naming fields by their widget labels."""
    said = number_sentence(locale, message, _LABEL_KEYS)
    if said is not None:
        return said
    for pattern, key in _ERROR_PATTERNS:
        match = pattern.match(message)
        if match:
            values = match.groupdict()
            for name in ("low_field", "high_field"):
                if values.get(name) in _LABEL_KEYS:
                    values[name] = text(locale, _LABEL_KEYS[values[name]])
            if "where" in values:  # augtune.ops.parse_steps names the step it refuses: "step 2", "steps"
                number = re.fullmatch(r"step (\d+)", values["where"])
                if number or values["where"] == "steps":
                    values["where"] = text(locale, "where.step", number=number.group(1)) if number else text(locale, "where.steps")
            if key == "error.center":
                values["resize_field"] = text(locale, "resize_size.label")
                values["crop_field"] = text(locale, "crop_size.label")
            return text(locale, key, **values)
    return message
