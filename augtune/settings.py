"""Numbers a host sets in the environment (AUGTUNE_*), read and checked in one place.

A bad value stops the server or the command at start with one sentence that names the variable.
"""

from __future__ import annotations

import os

__all__ = ["env_number"]


def env_number(name: str, default: float, kind=int):
    """The positive number in environment variable `name`, or `default` when it is unset or empty."""
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}.") from None
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {raw!r}.")
    return value
