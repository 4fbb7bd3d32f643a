"""The op registry: torchvision's class name -> the op's declaration (augtune.ops.base.Op)."""

from __future__ import annotations

from .base import Op

OPS: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: one instance of the op, under its torchvision name."""
    if cls.name in OPS:
        raise ValueError(f"two ops are named {cls.name}")
    OPS[cls.name] = cls()
    return cls
