"""Explore's step editor as plain values: a pipeline is the settings JSON's list of steps
(`[{"op": "RandomRotation", "degrees": 30, ...}, ...]`), and every edit the page makes is a function from
one such list to the next. The page keeps the list in a `gr.State`; these functions never touch Gradio,
so the editor's rules are tested without a browser.

A step's controls come from its op's params (augtune.ops.Param): `controls(op, values)` says which widget
shows which value, with its range. A `RandomApply` of one step is shown as that step with an
"apply with probability" slider; a `RandomApply` of several shows its steps inside it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from augtune.ops import OPS, RANDOM_APPLY, parse_steps
from augtune.ops.base import Param

Pipeline = list[dict[str, Any]]
Path = tuple[int, ...]  # indices from the top level down through RandomApply's "transforms"


def normalized(pipeline: Any) -> Pipeline:
    """Every step with all its params (defaults filled in, as the op checks them). Raises ValueError."""
    return [step.to_dict() for step in parse_steps(pipeline)]


def _mixing(step: dict[str, Any]) -> bool:
    op = OPS.get(step.get("op"))
    return op is not None and op.family == "mixing"


def with_step_added(pipeline: Pipeline, name: str) -> Pipeline:
    """`name` at its defaults, appended; before a last MixUp/CutMix, which must stay last. A second mixing
    op takes the place of the first (a batch is mixed once)."""
    if name not in OPS:
        raise ValueError(f"There is no op {name!r}.")
    steps = copy.deepcopy(pipeline)
    new = normalized([{"op": name}])[0]
    if steps and _mixing(steps[-1]):
        if _mixing(new):
            steps[-1] = new
        else:
            steps.insert(len(steps) - 1, new)
    else:
        steps.append(new)
    return normalized(steps)


def with_step_removed(pipeline: Pipeline, index: int) -> Pipeline:
    steps = copy.deepcopy(pipeline)
    if 0 <= index < len(steps):
        del steps[index]
    return steps


def with_step_moved(pipeline: Pipeline, index: int, offset: int) -> Pipeline:
    """The step at `index` moved up (-1) or down (+1); unchanged at the ends and where a MixUp/CutMix would
    stop being last."""
    steps = copy.deepcopy(pipeline)
    target = index + offset
    if not (0 <= index < len(steps) and 0 <= target < len(steps)):
        return steps
    steps[index], steps[target] = steps[target], steps[index]
    if any(_mixing(step) for step in steps[:-1]):
        return copy.deepcopy(pipeline)
    return steps


def with_apply_p(pipeline: Pipeline, index: int, p: float) -> Pipeline:
    """The step at `index` applied with probability `p`: wrapped in RandomApply below 1, unwrapped at 1."""
    steps = copy.deepcopy(pipeline)
    step = steps[index]
    inner = step["transforms"] if step["op"] == RANDOM_APPLY else [step]
    if p >= 1 and len(inner) == 1:
        steps[index] = inner[0]
    else:
        steps[index] = {"op": RANDOM_APPLY, "p": p, "transforms": inner}
    return normalized(steps)


def with_value(pipeline: Pipeline, path: Path, name: str, value: Any, part: int | None = None) -> Pipeline:
    """The param `name` of the step at `path` set to `value` (`part` 0 or 1: one end of a pair). The result is
    checked as a whole (raises ValueError with the op's sentence, e.g. "RandomRotation.degrees must ...")."""
    steps = copy.deepcopy(pipeline)
    step = _at(steps, path)
    if part is None:
        step[name] = value
    else:
        current = step.get(name)
        pair = list(current) if isinstance(current, list) else [current, current]
        pair[part] = value
        step[name] = pair
    return normalized(steps)


def _at(steps: Pipeline, path: Path) -> dict[str, Any]:
    step = steps[path[0]]
    for index in path[1:]:
        step = step["transforms"][index]
    return step


# ---------------------------------------------------------------------------- what the editor shows


@dataclass(frozen=True)
class Control:
    """One widget of a step: which param (and which end of a pair) it sets, and how it is drawn.
    kind: "slider", "number", "checkbox" or "dropdown"; `label` and `info` are i18n keys."""

    param: str
    kind: str
    value: Any
    label: str
    info: str | None = None
    part: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()


def controls(op_name: str, values: dict[str, Any]) -> list[Control]:
    """The widgets for one step's values, in the op's param order."""
    shown = []
    for param in OPS[op_name].params:
        value = values.get(param.name, param.default)
        key = f"op.{op_name}.{param.name}"
        shown += _param_controls(param, value, key)
    return shown


def _param_controls(param: Param, value: Any, key: str) -> list[Control]:
    info = f"{key}.help"
    if param.kind == "bool":
        return [Control(param.name, "checkbox", value, key, info)]
    if param.kind == "choice":
        return [Control(param.name, "dropdown", value, key, info, choices=param.choices)]
    if param.kind in ("float", "int") or (param.kind == "spread" and not isinstance(value, list)):
        low = max(param.low, 0.0) if param.kind == "spread" else param.low
        step = param.step or (1 if param.kind == "int" else (param.high - low) / 100)
        return [Control(param.name, "slider", value, key, info, minimum=low, maximum=param.high, step=step)]
    ends = ("x", "y") if param.kind == "pair" else ("low", "high")
    return [Control(param.name, "number", end_value, f"{key}.{end}", info if part == 0 else None, part,
                    param.low, param.high, param.step)
            for part, (end, end_value) in enumerate(zip(ends, value))]


@dataclass(frozen=True)
class Row:
    """One top-level step as the editor shows it. `apply_p`: the chance it runs (1 = always; None where a
    RandomApply cannot wrap it). `inner`: the steps with their paths (one, or a RandomApply's several)."""

    index: int
    apply_p: float | None
    inner: list[tuple[Path, dict[str, Any]]]


def rows(pipeline: Pipeline) -> list[Row]:
    shown = []
    for index, step in enumerate(pipeline):
        if step["op"] == RANDOM_APPLY:
            inner = [((index, position), child) for position, child in enumerate(step["transforms"])]
            shown.append(Row(index, step["p"], inner))
        else:
            shown.append(Row(index, None if _mixing(step) else 1.0, [((index,), step)]))
    return shown


def op_choices() -> list[tuple[str, str]]:
    """(i18n key of its label, op name) for the "add a step" list, family by family."""
    from augtune.ops import FAMILIES

    return [(f"op.{name}.choice", name) for family in FAMILIES for name, op in OPS.items() if op.family == family]
