"""Explore's callbacks: widget values in, widget values out. The work is in `augtune.service`; these only
pick the page's locale, turn a failure into its sentence, and say what the widgets show."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import gradio as gr

from augtune import PRESETS, AugSpec, sample_grid, sample_params
from augtune.figures import distributions_figure, figure_to_image
from augtune.pipeline import as_steps
from augtune.service import steps_form
from augtune.service.explore_form import (FIELDS, crop_widgets_shown, histogram_draws, pipeline_of, spec_from_widgets,
                                          widgets_from_spec)
from augtune.service.explore_html import mixed_grid
from augtune.service.explore_text import localize_error, tile_caption
from augtune.service.grids import latest, recent_grids
from augtune.service.i18n import pick_locale, text
from augtune.service.pictures import DEFAULT_IMAGE, EXAMPLES, images, save_api_tiles


# Handlers take `request` (and `event`) before `*values`: Gradio only injects positional parameters.
def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def _show(image_path: str | None, locale: str, values: tuple[Any, ...], request: gr.Request | None) -> list[Any]:
    """[grid, original, legend, code, download, status] for the widget values, or the status alone
    on error (the grid keeps its last good result)."""
    session = _session(request)
    ticket = latest.start(session)
    try:
        spec = spec_from_widgets(values)
        shown = recent_grids.render(images.get(image_path or DEFAULT_IMAGE), spec, locale)
    except ValueError as error:
        return [gr.skip()] * 5 + [_warning(localize_error(str(error), locale))]
    if not latest.is_latest(session, ticket):
        return [gr.skip()] * 6
    return [shown["grid"], shown["original"], shown["legend"], shown["code"], shown["download"], shown["status"]]


def _warning(message: str) -> str:
    return f"⚠ {message}"


def _widget_updates(spec: AugSpec) -> list[Any]:
    """[*sliders, pipeline, mode, editor] showing `spec`: a spec of steps opens the step editor."""
    flat = spec if spec.steps is None else AugSpec()
    shown = crop_widgets_shown(flat.crop_mode)
    values = zip(FIELDS, widgets_from_spec(spec))
    pipeline = pipeline_of(spec)
    return ([gr.update(value=value, visible=shown.get(name, True)) for name, value in values]
            + [pipeline, "lesson" if pipeline is None else "steps", _editor(pipeline)])


_layouts = itertools.count(1)


def _editor(pipeline: list | None) -> dict[str, Any]:
    """The step editor's layout state: a new version redraws its controls (a value edit does not)."""
    return {"version": next(_layouts), "steps": pipeline}


def on_change(locale: str, image_path: str | None, request: gr.Request, *values: Any):
    return _show(image_path, pick_locale(locale), values, request)


def on_crop_mode(locale: str, image_path: str | None, request: gr.Request, *values: Any):
    shown = crop_widgets_shown(values[FIELDS.index("crop_mode")])
    visibility = [gr.update(visible=shown[name]) for name in shown]
    return visibility + _show(image_path, pick_locale(locale), values, request)


def on_resample(locale: str, image_path: str | None, request: gr.Request, *values: Any):
    values = list(values)
    values[FIELDS.index("seed")] = random.randrange(100_000)
    return [values[FIELDS.index("seed")]] + _show(image_path, pick_locale(locale), tuple(values), request)


def preset_handler(name: str):
    def on_preset(locale: str, image_path: str | None, request: gr.Request):
        spec = PRESETS[name]
        values = (*widgets_from_spec(spec), pipeline_of(spec))
        return _widget_updates(spec) + _show(image_path, pick_locale(locale), values, request)

    return on_preset


def on_settings_upload(locale: str, image_path: str | None, upload: str | None, request: gr.Request):
    locale = pick_locale(locale)
    try:
        if not upload:
            raise ValueError(text(locale, "error.settings_file"))
        spec = AugSpec.from_json(Path(upload).read_bytes())
    except ValueError as error:
        return [gr.skip()] * (len(FIELDS) + 8) + [_warning(localize_error(str(error), locale))]
    outputs = _widget_updates(spec) + _show(image_path, locale, (*widgets_from_spec(spec), pipeline_of(spec)), request)
    if isinstance(outputs[-1], str) and not outputs[-1].startswith("⚠"):
        outputs[-1] = text(locale, "status.loaded") + " " + outputs[-1]
    return outputs


def on_image_upload(locale: str, image_path: str | None, upload: str | None, request: gr.Request, *values: Any):
    """[image path, upload box, *shown]. The box is emptied every time, so it is a drop zone again:
    the picture itself is on show as the original."""
    locale = pick_locale(locale)
    if not upload:
        return [gr.skip(), gr.skip()] + _show(image_path, locale, values, request)
    try:
        images.get(upload)
    except ValueError as error:
        return [gr.skip(), None] + [gr.skip()] * 5 + [_warning(localize_error(str(error), locale))]
    return [upload, None] + _show(upload, locale, values, request)


def on_example(locale: str, image_path: str | None, event: gr.SelectData, request: gr.Request, *values: Any):
    path = str(EXAMPLES[event.index])
    return [path] + _show(path, pick_locale(locale), values, request)


def on_distributions(locale: str, image_path: str | None, *values: Any):
    locale = pick_locale(locale)
    try:
        spec = spec_from_widgets(values)
        size = images.get(image_path or DEFAULT_IMAGE).size
    except ValueError as error:
        return gr.skip(), _warning(localize_error(str(error), locale))
    figure = distributions_figure(sample_params(size, spec, histogram_draws(spec, size), spec.seed), spec)
    return figure_to_image(figure, dpi=90), gr.skip()


# ---------------------------------------------------------------------------- the step editor
# Each returns [pipeline, (editor,) *shown]: the new pipeline and the grid drawn from it. An edit the core refuses
# changes nothing and says why; a change of structure (add, move, remove, wrap) also redraws the editor.


def _pipeline_shown(image_path, locale, request, values, change, redraw: bool) -> list[Any]:
    locale = pick_locale(locale)
    try:
        pipeline = change(values[-1] or [])
    except ValueError as error:
        return [gr.skip()] * (7 if redraw else 6) + [_warning(localize_error(str(error), locale))]
    shown = _show(image_path, locale, (*values[:-1], pipeline), request)
    return [pipeline] + ([_editor(pipeline)] if redraw else []) + shown


def value_handler(path: tuple[int, ...], name: str, part: int | None):
    def on_step_value(locale: str, image_path: str | None, request: gr.Request, value: Any, *values: Any):
        return _pipeline_shown(image_path, locale, request, values,
                               lambda pipeline: steps_form.with_value(pipeline, path, name, value, part), redraw=False)

    return on_step_value


def apply_p_handler(index: int):
    def on_apply_p(locale: str, image_path: str | None, request: gr.Request, p: float, *values: Any):
        return _pipeline_shown(image_path, locale, request, values,
                               lambda pipeline: steps_form.with_apply_p(pipeline, index, p), redraw=True)

    return on_apply_p


def structure_handler(index: int, action: str):
    """"up", "down" or "remove" for the step at `index`."""
    def on_structure(locale: str, image_path: str | None, request: gr.Request, *values: Any):
        def change(pipeline):
            if action == "remove":
                return steps_form.with_step_removed(pipeline, index)
            return steps_form.with_step_moved(pipeline, index, -1 if action == "up" else 1)

        return _pipeline_shown(image_path, locale, request, values, change, redraw=True)

    return on_structure


def on_add_step(locale: str, image_path: str | None, request: gr.Request, name: str | None, *values: Any):
    if not name:
        return [gr.skip()] * 8
    return _pipeline_shown(image_path, locale, request, values,
                           lambda pipeline: steps_form.with_step_added(pipeline, name), redraw=True)


def on_mode(locale: str, image_path: str | None, request: gr.Request, mode: str, *values: Any):
    """The lesson's sliders or the step editor: the editor starts from the sliders' pipeline as steps, so the
    grid stays the same tile for tile."""
    locale = pick_locale(locale)
    if mode == "lesson":
        flat = (*values[:-1], None)
        return [None, _editor(None)] + _show(image_path, locale, flat, request)
    try:
        pipeline = values[-1] if values[-1] is not None else pipeline_of(as_steps(spec_from_widgets(values[:-1])))
    except ValueError as error:
        return [gr.skip()] * 7 + [_warning(localize_error(str(error), locale))]
    return [pipeline, _editor(pipeline)] + _show(image_path, locale, (*values[:-1], pipeline), request)


def augment(image: str | None, spec_json: str | None, n: float | None, seed: float | None):
    """HTTP API `/augment`: `n` samples of the spec (JSON; empty = the lesson's combined pipeline) on
    the image (empty = the bundled cat), as after `torch.manual_seed(seed)`. Returns the tiles with
    captions, and the sampled parameters of each tile."""
    try:
        spec = AugSpec.from_json(spec_json) if spec_json and spec_json.strip() else AugSpec()
        picture = images.get(image or DEFAULT_IMAGE)
        # Through the spec, so that NaN, 2.5 or 10**30 get the spec's own sentence.
        spec = spec.replace(**{k: v for k, v in (("samples", n), ("seed", seed)) if v is not None})
        tiles = mixed_grid(picture, spec, source_size=picture.info.get("original_size"))
    except ValueError as error:  # the core's own sentence: API callers think in field names
        raise gr.Error(str(error), print_exception=False) from None
    paths = save_api_tiles([tile.image for tile in tiles])
    gallery = [(path, tile_caption(number, tile.params)) for number, (path, tile) in enumerate(zip(paths, tiles), 1)]
    return gallery, [tile.params for tile in tiles]
