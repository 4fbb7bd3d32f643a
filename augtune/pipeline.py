"""From an AugSpec to torchvision.transforms.v2: the live pipeline and the Python code that builds it.

Both come from one list of (transform name, keyword arguments), so the code a student copies is the
pipeline the app ran, by construction.
"""

from __future__ import annotations

from typing import Any

from torchvision.transforms import v2

from .ops import build_steps, steps_code
from .spec import AugSpec


def pipeline_steps(spec: AugSpec) -> list[tuple[str, dict[str, Any]]]:
    """The v2 transforms the spec stands for, in order, as (class name, kwargs)."""
    steps: list[tuple[str, dict[str, Any]]] = []
    for stage in spec.active_stages:
        if stage == "flip":
            if spec.hflip_p:
                steps.append(("RandomHorizontalFlip", {"p": spec.hflip_p}))
            if spec.vflip_p:
                steps.append(("RandomVerticalFlip", {"p": spec.vflip_p}))
        elif stage == "color":
            jitter = {
                name: getattr(spec, name)
                for name in ("brightness", "contrast", "saturation", "hue")
                if getattr(spec, name)
            }
            steps.append(("ColorJitter", jitter))
        elif spec.crop_mode == "random":
            steps.append(
                (
                    "RandomResizedCrop",
                    {
                        "size": spec.crop_size,
                        "scale": (spec.scale_min, spec.scale_max),
                        "ratio": (spec.ratio_min, spec.ratio_max),
                        "antialias": True,
                    },
                )
            )
        else:
            steps.append(("Resize", {"size": spec.resize_size, "antialias": True}))
            steps.append(("CenterCrop", {"size": spec.crop_size}))
    return steps or [("Identity", {})]


def as_steps(spec: AugSpec) -> AugSpec:
    """The same pipeline as a spec of steps (the form any op can join): what Explore's step editor starts
    from when a class leaves the lesson's sliders, so the grid stays the same tile for tile."""
    if spec.steps is not None:
        return spec
    from .ops import parse_steps

    steps = [{"op": name, **{key: list(value) if isinstance(value, tuple) else value for key, value in kwargs.items()}}
             for name, kwargs in pipeline_steps(spec) if name != "Identity"]
    return AugSpec(steps=parse_steps(steps), samples=spec.samples, columns=spec.columns, seed=spec.seed)


def build_pipeline(spec: AugSpec) -> v2.Compose:
    if spec.steps is not None:
        return build_steps(spec.steps)
    return v2.Compose([getattr(v2, name)(**kwargs) for name, kwargs in pipeline_steps(spec)])


def spec_to_code(spec: AugSpec) -> str:
    """Python source that defines `augment` as exactly build_pipeline(spec)."""
    if spec.steps is not None:
        return steps_code(spec.steps, spec.seed, spec.samples)
    lines = [
        "import torch",
        "from torchvision.transforms import v2",
        "",
        "augment = v2.Compose([",
    ]
    for name, kwargs in pipeline_steps(spec):
        arguments = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
        lines.append(f"    v2.{name}({arguments}),")
    lines += [
        "])",
        "",
        "# Replay the grid the app showed (same image, same seed, same order of samples):",
        f"# torch.manual_seed({spec.seed})",
        f"# samples = [augment(image) for _ in range({spec.samples})]",
        "",
    ]
    return "\n".join(lines)
