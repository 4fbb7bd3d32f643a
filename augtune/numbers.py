"""Number checks, written once: settings, ops and training all say "x must be between a and b, got c."."""

from __future__ import annotations

import math
from typing import Any


def check_number(name: str, value: Any, low: float, high: float, integer: bool = False) -> float | int:
    """`value` as a number in [low, high] (an int when `integer`), or ValueError with one sentence that names
    the field, the value and the range: the one number check of the settings, the ops and the training."""
    value = _number(name, value, integer)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {format_number(low)} and {format_number(high)}, got {format_number(value)}.")
    return value


def _number(name: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.")
    if integer:
        if value != int(value):
            raise ValueError(f"{name} must be a whole number, got {value}.")
        return int(value)
    return float(value)


def format_number(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
