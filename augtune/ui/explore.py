"""Explore tab: move a control, see what the lesson's augmentation pipeline samples.

The layout and its wiring; the callbacks are in `explore_events`, everything they call in
`augtune.service` (plain functions of widget values, tested without a browser). Text shown by callbacks
(captions, messages) is translated on the server: every event sends the page's current locale, read in
the browser from a hidden Markdown whose value is the i18n key "locale" (so it follows Gradio's own
language switch in the footer's Settings).
"""

from __future__ import annotations

import gradio as gr

from augtune import PRESETS, AugSpec, spec_to_code
from augtune.service.explore_form import FIELDS, ORDERS, crop_widgets_shown
from augtune.service.grids import FIRST_GRID_OUTPUTS
from augtune.service.pictures import DEFAULT_IMAGE, EXAMPLE_THUMBNAILS
from augtune.spec import RANGES

from . import assets
from . import explore_events as events
from .steps_editor import build_steps_editor

# Components whose values are the plain JSON values the browser sends and shows: Gradio's pre- and
# postprocessing of them only checks bounds and choices, which the spec checks too, in its own sentences.
PLAIN_INPUTS = (gr.Slider, gr.Number, gr.Dropdown, gr.Radio, gr.Textbox, gr.State)
PLAIN_OUTPUTS = (*PLAIN_INPUTS, gr.HTML, gr.Markdown, gr.Code)
GRID_EVENTS = "augtune-grid"  # the concurrency id of Explore's events that draw a grid

_ = gr.I18n()  # only makes translation keys; ui/app.py gives launch() the tables (augtune.service.i18n)


def build_explore_tab() -> list[gr.components.Component]:
    """The Explore tab, its events, and the `/augment` API endpoint. Returns the controls in FIELDS
    order, then the step editor's pipeline (a gr.State), for other tabs that train with the spec they make (see
    `augtune.service.explore_form.spec_from_widgets`)."""
    defaults = AugSpec()
    # The page carries the default grid, in the visitor's language (see grids.FIRST_GRID_OUTPUTS): a page shows a grid
    # as soon as it is on screen, not after a load event's round trip through the queue (3 s of a 3.5-s first grid
    # under a class's load).
    first = {name: _(f"first.{name}") for name in FIRST_GRID_OUTPUTS}
    shown = crop_widgets_shown(defaults.crop_mode)

    def slider(name: str, step: float) -> gr.Slider:
        low, high = RANGES[name]
        return gr.Slider(low, high, value=getattr(defaults, name), step=step, label=_(f"{name}.label"),
                         info=_(f"{name}.info"), visible=shown.get(name, True), elem_id=f"augtune-{name}")

    with gr.Tab(_("explore.tab"), id="explore"):
        gr.Markdown(_("locale"), visible="hidden", elem_id=assets.LOCALE_ELEMENT)
        locale = gr.Textbox(visible=False)
        image_path = gr.State(str(DEFAULT_IMAGE))
        pipeline = gr.State(None)  # the step editor's steps; None while the lesson's sliders make the pipeline
        editor = gr.State({"version": 0, "steps": None})  # what the editor draws: see ui/steps_editor.py

        gr.Markdown(_("explore.intro"))
        with gr.Row(elem_classes="augtune-presets"):
            preset_buttons = {
                name: gr.Button(_(f"preset.{name}"), size="md", min_width=110, elem_id=f"augtune-preset-{name}")
                for name in PRESETS
            }
        mode = gr.Radio([(_("mode.lesson"), "lesson"), (_("mode.steps"), "steps")], value="lesson",
                        label=_("mode.label"), info=_("mode.info"), elem_id="augtune-mode")
        status = gr.Markdown(first["status"], elem_id="augtune-status")
        gr.HTML(elem_id=assets.BUSY_ELEMENT, padding=False)  # filled by busy_js() while this page's grid waits
        # Empty and out of sight: its script clicks it when the page's language changes, and the grid's captions,
        # legend and status are said again in the new language.
        language = gr.HTML("", elem_id="augtune-language", js_on_load=assets.LANGUAGE_WATCH_JS, padding=False)

        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                original = gr.HTML(first["original"], label=_("original.label"), show_label=True, container=True,
                                   elem_id="augtune-original", js_on_load=assets.FULL_SCREEN_JS)
                upload = gr.File(label=_("image.label"), file_types=["image"], type="filepath", height=130,
                                 elem_id="augtune-upload")
                examples = gr.Gallery(
                    value=[str(path) for path in EXAMPLE_THUMBNAILS], label=_("examples.label"), columns=4, rows=1,
                    height=120, allow_preview=False, object_fit="cover", interactive=False, buttons=[],
                    elem_id="augtune-examples",
                )
            with gr.Column(scale=5):
                grid = gr.HTML(first["grid"], label=_("grid.label"), show_label=True, container=True, elem_id="augtune-grid",
                               js_on_load=assets.OPEN_TILE_JS)
                legend = gr.HTML(first["legend"], elem_id="augtune-legend", padding=False)

        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                with gr.Group() as flip_group:
                    gr.Markdown(_("group.flip"), elem_classes="augtune-group-title")
                    hflip_p, vflip_p = slider("hflip_p", 0.05), slider("vflip_p", 0.05)
                with gr.Group():
                    gr.Markdown(_("group.sampling"), elem_classes="augtune-group-title")
                    order = gr.Dropdown([(_(f"order.{value}"), value) for value in ORDERS], value=ORDERS[0],
                                        label=_("order.label"), info=_("order.info"), elem_id="augtune-order")
                    samples, columns = slider("samples", 1), slider("columns", 1)
                    with gr.Row(equal_height=True):
                        seed = gr.Number(defaults.seed, precision=0, label=_("seed.label"), info=_("seed.info"),
                                         min_width=160, scale=2, elem_id="augtune-seed")
                        resample = gr.Button(_("resample"), variant="primary", min_width=120, scale=1,
                                             elem_id="augtune-resample")
            with gr.Column(min_width=300) as colour_column:
                with gr.Group():
                    gr.Markdown(_("group.color"), elem_classes="augtune-group-title")
                    brightness, contrast = slider("brightness", 0.05), slider("contrast", 0.05)
                    saturation, hue = slider("saturation", 0.05), slider("hue", 0.01)
            with gr.Column(min_width=300) as crop_column:
                with gr.Group():
                    gr.Markdown(_("group.crop"), elem_classes="augtune-group-title")
                    crop_mode = gr.Radio(
                        [(_(f"crop_mode.{mode}"), mode) for mode in ("random", "center", "none")],
                        value=defaults.crop_mode, label=_("crop_mode.label"), info=_("crop_mode.info"),
                        elem_id="augtune-crop_mode",
                    )
                    crop_size, resize_size = slider("crop_size", 1), slider("resize_size", 1)
                    scale_min, scale_max = slider("scale_min", 0.01), slider("scale_max", 0.01)
                    with gr.Row():
                        ratio_min, ratio_max = (
                            gr.Number(getattr(defaults, name), label=_(f"{name}.label"), info=_(f"{name}.info"),
                                      step=0.05, min_width=140, visible=shown[name], elem_id=f"augtune-{name}")
                            for name in ("ratio_min", "ratio_max")
                        )

            with gr.Column(scale=2, min_width=340, visible=False, elem_id="augtune-steps") as steps_panel:
                gr.Markdown(_("steps.title"), elem_classes="augtune-group-title")
                # The editor's events need components declared further down: they are connected once those exist
                # (`connect` below); the ones its @gr.render makes later, at once.
                connect, waiting = {}, []
                build_steps_editor(editor, lambda *event: connect["now"](*event) if connect else waiting.append(event))

        with gr.Accordion(_("distributions.label"), open=False) as distributions_panel:
            gr.Markdown(_("distributions.note"))
            draw_histograms = gr.Button(_("distributions.button"), elem_id="augtune-draw-histograms")
            histograms = gr.Image(label=_("distributions.plot"), format="png", type="pil", interactive=False,
                                  elem_id="augtune-histograms", buttons=["fullscreen"])
        with gr.Accordion(_("code.label"), open=True):
            code = gr.Code(spec_to_code(defaults), language="python", interactive=False, label=_("code.code"),
                           elem_id="augtune-code")
            with gr.Row():
                download = gr.HTML(first["download"], elem_id="augtune-download", js_on_load=None,
                                   padding=False)
                upload_settings = gr.UploadButton(_("code.upload"), file_types=[".json"], type="filepath",
                                                  elem_id="augtune-load-settings")

        sliders = [hflip_p, vflip_p, brightness, contrast, saturation, hue, crop_mode, crop_size, resize_size,
                   scale_min, scale_max, ratio_min, ratio_max, order, samples, columns, seed]
        widgets = sliders + [pipeline]
        crop_widgets = [sliders[FIELDS.index(name)] for name in crop_widgets_shown("random")]
        shown_outputs = [grid, original, legend, code, download, status]
        base = [locale, image_path]

        def listen(trigger, fn, inputs, outputs, **options):
            # Values as the browser sends them where every input and output is a plain value: Gradio 6.31 pre- and
            # postprocesses each one in a thread of its pool, one hand-over each (25 for a slider's release), half of
            # the server process's busy time under a class's load (py-spy). The spec checks the raw values itself.
            plain = (all(isinstance(block, PLAIN_INPUTS) for block in inputs)
                     and all(isinstance(block, PLAIN_OUTPUTS) for block in outputs))
            options = {"concurrency_id": GRID_EVENTS, "trigger_mode": "always_last", "preprocess": not plain,
                       "postprocess": not plain, **options}
            options = {"show_progress": "minimal", **options}
            trigger(fn, inputs, outputs, js=assets.locale_js(len(inputs)), api_visibility="private", **options)

        for widget in widgets:
            if isinstance(widget, gr.Slider):
                listen(widget.release, events.on_change, base + widgets, shown_outputs)
            elif isinstance(widget, gr.Number):
                listen(widget.submit, events.on_change, base + widgets, shown_outputs)
                listen(widget.blur, events.on_change, base + widgets, shown_outputs)
        listen(order.input, events.on_change, base + widgets, shown_outputs)
        listen(crop_mode.input, events.on_crop_mode, base + widgets, crop_widgets + shown_outputs)
        listen(resample.click, events.on_resample, base + widgets, [seed] + shown_outputs)
        for name, button in preset_buttons.items():
            listen(button.click, events.preset_handler(name), base, widgets + [mode, editor] + shown_outputs)
        listen(language.click, events.on_change, base + widgets, shown_outputs, show_progress="hidden")  # words only
        listen(mode.input, events.on_mode, base + [mode] + widgets, [pipeline, editor] + shown_outputs)
        mode.change(lambda chosen: [gr.update(visible=chosen == "lesson")] * 4 + [gr.update(visible=chosen == "steps")],
                    [mode], [flip_group, order, colour_column, crop_column, steps_panel], queue=False,
                    api_visibility="private", show_progress="hidden")

        def wire(trigger, fn, extra_inputs, redraw):  # the step editor's events (ui/steps_editor.py)
            listen(trigger, fn, base + extra_inputs + widgets, [pipeline] + ([editor] if redraw else []) + shown_outputs)

        connect["now"] = wire
        for event in waiting:
            wire(*event)
        listen(upload.upload, events.on_image_upload, base + [upload] + widgets, [image_path, upload] + shown_outputs)
        listen(examples.select, events.on_example, base + widgets, [image_path] + shown_outputs)
        listen(upload_settings.upload, events.on_settings_upload, base + [upload_settings],
               widgets + [mode, editor] + shown_outputs)
        for trigger in (draw_histograms.click, distributions_panel.expand):
            listen(trigger, events.on_distributions, base + widgets, [histograms, status],
                   concurrency_id="augtune-histograms", concurrency_limit=1)

        # The HTTP API: its own invisible components, so its signature is (image, spec, n, seed).
        with gr.Row(visible=False):
            api_image = gr.File(label="image", type="filepath")
            api_spec = gr.Textbox(label="spec_json")
            # precision=None: Gradio's own int() would fail on NaN before the spec could explain it.
            api_n = gr.Number(label="n", precision=None)
            api_seed = gr.Number(label="seed", precision=None)
            api_tiles = gr.Gallery(label="tiles", format="jpeg")
            api_params = gr.JSON(label="params")
            api_button = gr.Button()
        api_button.click(events.augment, [api_image, api_spec, api_n, api_seed], [api_tiles, api_params],
                         api_name="augment", concurrency_id="augtune-grid")
    return widgets
