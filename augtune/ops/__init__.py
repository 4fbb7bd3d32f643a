"""Every torchvision v2 augmentation as one registry entry (augtune.ops.base.Op), and pipelines of them.

A new op is one class with `@register` in one of the family modules (or a new module imported here) and
one entry in tests/test_ops.py's EXAMPLES: the registry's tests then cover it.
"""

from . import colour, degradation, geometry, mixing, policies  # noqa: F401 - each registers its ops
from .base import FAMILIES, Drawn, Op, Param
from .registry import OPS, register
from .steps import (RANDOM_APPLY, Sample, Step, build_steps, draw_sample, parse_steps, render_sample, sample_steps,
                    sample_values, steps_caption, steps_code)

__all__ = ["FAMILIES", "OPS", "RANDOM_APPLY", "Drawn", "Op", "Param", "Sample", "Step", "build_steps", "draw_sample",
           "parse_steps", "register", "render_sample", "sample_steps", "sample_values", "steps_caption", "steps_code"]
