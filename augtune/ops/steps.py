"""A pipeline as an ordered list of steps: parsed, built, drawn per sample, rendered, and written as code.

A step is `{"op": <torchvision class name>, <constructor keyword>: <value>, ...}`; `RandomApply` wraps steps:
`{"op": "RandomApply", "p": 0.5, "transforms": [<steps>]}`, as `v2.RandomApply([...], p=0.5)` does. Drawing
follows v2's `Compose.forward`: each step draws for the size its input has, in order, so that
`torch.manual_seed(seed)` and the built pipeline replay every sample.
"""

from __future__ import annotations

import contextlib
import json
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ..imageio import MAX_PIXELS
from ..numbers import check_number
from .base import Drawn, _shown as _brief
from .registry import OPS

RANDOM_APPLY = "RandomApply"
MAX_STEPS = 32

# Torch's global RNG is process-wide: two requests seeding it at once would interleave their draws.
rng_lock = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int):
    """Torch's global RNG as after `torch.manual_seed(seed)` (v2's transforms draw from it) for the block only,
    one block at a time. Only the CPU generator is seeded: torch.manual_seed also queues a seed for every GPU
    backend, formatting the stack each time (0.13 ms; more in the server's deep stacks), and would move a GPU's
    generator, which fork_rng(devices=[]) does not put back."""
    with rng_lock, torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


class _InThisThread(Executor):
    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks for the result, as a pool does
            future.set_exception(error)
        return future


_tile_pool: Executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="augtune-tiles")


def tile_pool() -> Executor:
    """Where a grid's tiles are rendered: two threads (the pixel kernels let go of the GIL), or this thread."""
    return _tile_pool


def render_tiles_in_this_thread() -> None:
    """For a process whose siblings already keep every core busy (the grid workers): tile threads only take
    turns there, and cost a grid 10-15 % more CPU (35 -> 40-42 ms for bench/load.py's grids of a 1600-px
    photo, in one process; 0.055 -> 0.050 s a grid in bench/load.py)."""
    global _tile_pool
    _tile_pool = _InThisThread()


@dataclass(frozen=True)
class Step:
    op: str
    values: dict[str, Any] = field(default_factory=dict)
    children: tuple[Step, ...] = ()  # RandomApply's steps

    @classmethod
    def from_dict(cls, data: Any, where: str = "step") -> Step:
        if not isinstance(data, dict) or not isinstance(data.get("op"), str):
            raise ValueError(f"{where} must be an object with an \"op\" (a torchvision transform's name), got {_brief(data)}.")
        values = {key: value for key, value in data.items() if key != "op"}
        name = data["op"]
        if name == RANDOM_APPLY:
            unknown = sorted(set(values) - {"p", "transforms"})
            if unknown:
                raise ValueError(f"{where} (RandomApply) has no parameter {', '.join(map(str, unknown[:3]))}; its parameters: p, transforms.")
            p = check_number("RandomApply.p", values.get("p", 0.5), 0.0, 1.0)
            children = parse_steps(values.get("transforms"), f"{where} (RandomApply)", nested=True)
            return cls(RANDOM_APPLY, {"p": p}, children)
        op = OPS.get(name)
        if op is None:
            raise ValueError(f"{where}: there is no op {_brief(name)}; the ops are {', '.join(sorted([*OPS, RANDOM_APPLY]))}.")
        return cls(name, op.check(values))

    def __hash__(self) -> int:  # the values are a dict: hashed by their JSON, as AugSpec's hash needs
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    def to_dict(self) -> dict[str, Any]:
        if self.op == RANDOM_APPLY:
            return {"op": RANDOM_APPLY, "p": self.values["p"], "transforms": [child.to_dict() for child in self.children]}
        return {"op": self.op, **self.values}

    def build(self) -> v2.Transform:
        if self.op == RANDOM_APPLY:
            return v2.RandomApply([child.build() for child in self.children], p=self.values["p"])
        return OPS[self.op].build(self.values)

    def code(self) -> str:
        if self.op == RANDOM_APPLY:
            inner = ", ".join(child.code() for child in self.children)
            return f"v2.RandomApply([{inner}], p={self.values['p']!r})"
        return OPS[self.op].code(self.values)


def parse_steps(data: Any, where: str = "steps", nested: bool = False) -> tuple[Step, ...]:
    if not isinstance(data, list):
        raise ValueError(f"{where} must be a list of steps, got {_brief(data)}.")
    if len(data) > MAX_STEPS:
        raise ValueError(f"{where} has {len(data)} steps; at most {MAX_STEPS} are allowed.")
    steps = tuple(Step.from_dict(item, f"{where}, step {index}" if nested else f"step {index}")
                  for index, item in enumerate(data, 1))
    if not nested and any(OPS[step.op].family == "mixing" for step in steps[:-1] if step.op in OPS):
        raise ValueError("MixUp and CutMix mix a batch, so they can only be the last step.")
    return steps


def build_steps(steps: tuple[Step, ...]) -> v2.Compose:
    return v2.Compose([step.build() for step in steps] or [v2.Identity()])


def steps_code(steps: tuple[Step, ...], seed: int, samples: int) -> str:
    lines = ["import torch", "from torchvision.transforms import v2", "", "augment = v2.Compose(["]
    lines += [f"    {step.code()}," for step in steps] or ["    v2.Identity(),"]
    lines += ["])", "", "# Replay the grid the app showed (same image, same seed, same order of samples):",
              f"# torch.manual_seed({seed})", f"# samples = [augment(image) for _ in range({samples})]", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- one sample


@dataclass
class Sample:
    """What was drawn for one sample: one entry per op that ran or was skipped, in order."""

    drawn: list[tuple[Step, v2.Transform, Drawn]]
    size: tuple[int, int]  # (width, height) of the pipeline's output
    steps: tuple[Step, ...]  # the pipeline it was drawn from


def draw_sample(steps: tuple[Step, ...], transforms: list[v2.Transform], size: tuple[int, int]) -> Sample:
    """One sample's params, consuming torch's RNG as `Compose(transforms)(image of size)` does."""
    drawn: list[tuple[Step, v2.Transform, Drawn]] = []
    size, _ = _walk(drawn, steps, transforms, size)
    return Sample(drawn, size, steps)


def _walk(drawn, steps, transforms, size, image=None, partner=None):
    """Draws each step in v2's order (and renders it at once when given the picture): (size, picture)."""
    for step, transform in zip(steps, transforms):
        if step.op == RANDOM_APPLY:
            applied = not bool(torch.rand(1) >= transform.p)  # v2.RandomApply.forward's coin
            drawn.append((step, transform, Drawn(RANDOM_APPLY, {} if applied else None, {"applied": applied})))
            if applied:
                size, image = _walk(drawn, step.children, list(transform.transforms), size, image, partner)
            continue
        op = OPS[step.op]
        try:
            result = op.draw(transform, size)
            drawn.append((step, transform, result))
            size = op.output_size(transform, result, size)
        except (ValueError, TypeError, RuntimeError) as error:  # v2's own refusal, e.g. a crop larger than the picture
            raise _cannot_run(op, size, error) from None
        if size[0] * size[1] > MAX_PIXELS:
            raise ValueError(f"{step.op} would make a picture of {size[0]} x {size[1]} pixels, more than the "
                             f"{MAX_PIXELS / 1e6:g} megapixels allowed; put a crop or resize before it, or make it smaller.")
        if image is not None:
            image = _render_one(op, transform, image, result, partner)
    return size, image


def _render_one(op, transform, image, result, partner):
    try:
        if op.family == "mixing":
            return op.render(transform, image, result, partner=_like(partner, image))
        return op.render(transform, image, result)
    except (ValueError, TypeError, RuntimeError) as error:
        size = image.size if isinstance(image, Image.Image) else (image.shape[-1], image.shape[-2])
        raise _cannot_run(op, size, error) from None


def _cannot_run(op, size: tuple[int, int], error: Exception) -> ValueError:
    reason = str(error).strip().rstrip(".") or type(error).__name__
    return ValueError(f"{op.name} cannot run on a picture of {size[0]} x {size[1]} pixels: {reason}.")


def render_sample(image: Image.Image, sample: Sample, partner: Image.Image | None = None) -> Image.Image:
    """The sample's picture, step by step with v2's kernels (and the ops' own where v2 draws elsewhere)."""
    for step, transform, result in sample.drawn:
        if step.op != RANDOM_APPLY:
            image = _render_one(OPS[step.op], transform, image, result, partner)
    return _picture(image)


def _picture(image) -> Image.Image:
    return image if isinstance(image, Image.Image) else F.to_pil_image(image)


def _like(partner: Image.Image | None, image) -> Image.Image | None:
    if partner is None:
        return None
    height, width = (image.height, image.width) if isinstance(image, Image.Image) else image.shape[-2:]
    return partner.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)


def sample_steps(image: Image.Image, steps: tuple[Step, ...], n: int, seed: int,
                 partner: Image.Image | None = None) -> list[tuple[Image.Image, Sample]]:
    """`n` samples of build_steps(steps) on `image`, as after torch.manual_seed(seed): (picture, what was drawn)."""
    transforms = list(build_steps(steps).transforms)
    with seeded(seed):
        if any(OPS[step.op].draws_in_kernel for step in _flat(steps) if step.op in OPS):
            # Some kernel draws as it runs: each step is rendered as soon as it is drawn, as in v2.
            tiles = []
            for _ in range(n):
                drawn: list = []
                size, picture = _walk(drawn, steps, transforms, image.size, image, partner)
                tiles.append((_picture(picture), Sample(drawn, size, steps)))
            return tiles
        samples = [draw_sample(steps, transforms, image.size) for _ in range(n)]
    # Drawn: the pixel work needs no lock, and the kernels (Pillow, torch) let go of the GIL.
    return list(tile_pool().map(lambda sample: (render_sample(image, sample, partner), sample), samples))


def _flat(steps: tuple[Step, ...]):
    for step in steps:
        yield step
        yield from _flat(step.children)


def sample_values(steps: tuple[Step, ...], size: tuple[int, int], n: int, seed: int) -> list[Sample]:
    """Only the params of `n` samples (no pixels): for the histograms."""
    transforms = list(build_steps(steps).transforms)
    with seeded(seed):
        return [draw_sample(steps, transforms, size) for _ in range(n)]


def steps_params(sample: Sample) -> list[dict[str, Any]]:
    """What a tile shows: per op that ran or was skipped, its name and drawn values."""
    return [{"op": result.op, **result.shown} for _, _, result in sample.drawn]


def step_names(steps: tuple[Step, ...]) -> dict[int, str]:
    """id(step) -> the step's name in histogram keys: "Op", "Op#2" for the op's second step (nested ones counted,
    in order), fixed by the pipeline whatever a sample's coins skipped."""
    names: dict[int, str] = {}
    counts: dict[str, int] = {}
    for step in _flat(steps):
        counts[step.op] = counts.get(step.op, 0) + 1
        names[id(step)] = step.op if counts[step.op] == 1 else f"{step.op}#{counts[step.op]}"
    return names


def steps_values(sample: Sample) -> dict[str, Any]:
    """One sample's drawn values flat, for histograms: "<step name>.<value>" (see step_names)."""
    names = step_names(sample.steps)
    return {f"{names[id(step)]}.{key}": value for step, _, result in sample.drawn for key, value in result.shown.items()}


def steps_caption(entries: list[dict[str, Any]], locale: str = "en") -> str:
    """A tile's caption from its `params["steps"]` (plain values, as they cross processes and the API): each op
    with what was drawn for it, "no" for one whose coin said no; RandomApply's own coin shows in its ops."""
    parts = []
    for entry in entries:
        op = OPS.get(entry.get("op"))
        if op is not None:
            shown = {key: value for key, value in entry.items() if key != "op"}
            applied = shown.get("applied", True)
            parts.append(op.caption(Drawn(op.name, {} if applied else None, shown), locale))
    return " · ".join(parts)
