"""Explore's step editor: a pipeline of any torchvision v2 ops, one group of controls per step.

The pipeline itself lives in a `gr.State` (the list of steps, as in the settings JSON); the editor's
controls are drawn by `@gr.render` from a second state, `editor`, whose version changes only when the
steps' structure does (added, moved, removed, wrapped in RandomApply). Moving a slider therefore updates
the pipeline and the grid without redrawing the controls under the student's hand. What each control is
comes from its op's params (augtune.service.steps_form.controls); the callbacks are in `explore_events`.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from augtune.service import steps_form

from . import explore_events as events

_ = gr.I18n()


def _widget(control: steps_form.Control) -> tuple[gr.components.Component, list[Callable]]:
    """The Gradio component for one control, and the events that report a finished edit."""
    common = dict(label=_(control.label), info=_(control.info) if control.info else None, min_width=160,
                  interactive=True)
    if control.kind == "checkbox":
        widget = gr.Checkbox(control.value, **common)
        return widget, [widget.input]
    if control.kind == "dropdown":
        widget = gr.Dropdown([(str(choice), choice) for choice in control.choices], value=control.value, **common)
        return widget, [widget.input]
    if control.kind == "slider":
        widget = gr.Slider(control.minimum, control.maximum, value=control.value, step=control.step, **common)
        return widget, [widget.release]
    widget = gr.Number(control.value, minimum=control.minimum, maximum=control.maximum, step=control.step, **common)
    return widget, [widget.submit, widget.blur]  # as Explore's own number boxes


def build_steps_editor(editor: gr.State, wire: Callable) -> gr.Dropdown:
    """The editor's panel, inside the caller's layout. `wire(trigger, fn, extra_inputs, redraw)` connects an
    event to the grid: `fn` gets the extra inputs' values, then every Explore widget's, and returns the
    pipeline, (the editor's new layout where `redraw`,) and what the grid shows."""
    gr.Markdown(_("steps.intro"))

    @gr.render(inputs=[editor], triggers=[editor.change], show_progress="hidden")
    def show_steps(layout):
        steps = (layout or {}).get("steps")
        if steps is None:
            return
        if not steps:
            gr.Markdown(_("steps.empty"), elem_classes="augtune-steps-empty")
        for row in steps_form.rows(steps):
            with gr.Group(elem_classes="augtune-step"):
                with gr.Row(equal_height=True, elem_classes="augtune-step-head"):
                    title = " + ".join(step["op"] for _path, step in row.inner)
                    gr.Markdown(f"**{row.index + 1}. {title}**", elem_classes="augtune-step-title")
                    for action, symbol in (("up", "↑"), ("down", "↓"), ("remove", "✕")):
                        button = gr.Button(symbol, size="sm", min_width=44, scale=0, elem_classes=f"augtune-step-{action}")
                        wire(button.click, events.structure_handler(row.index, action), [], True)
                if row.apply_p is not None:
                    apply_p = gr.Slider(0, 1, value=row.apply_p, step=0.05, label=_("steps.apply_p"), interactive=True,
                                        info=_("steps.apply_p.help"), elem_classes="augtune-step-apply")
                    wire(apply_p.release, events.apply_p_handler(row.index), [apply_p], True)
                for path, step in row.inner:
                    gr.Markdown(_(f"op.{step['op']}.help"), elem_classes="augtune-step-help")
                    with gr.Row(elem_classes="augtune-step-controls"):
                        for control in steps_form.controls(step["op"], step):
                            widget, finished = _widget(control)
                            for trigger in finished:
                                wire(trigger, events.value_handler(path, control.param, control.part), [widget], False)

    with gr.Row(equal_height=True):
        choice = gr.Dropdown([(_(key), name) for key, name in steps_form.op_choices()], value="RandomRotation",
                             label=_("steps.add_choice"), scale=3, elem_id="augtune-step-choice")
        add = gr.Button(_("steps.add"), variant="primary", scale=1, min_width=120, elem_id="augtune-step-add")
    wire(add.click, events.on_add_step, [choice], True)
    return choice
