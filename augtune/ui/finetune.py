"""Fine-tune tab: train ResNet-18 in the background and watch it learn, epoch by epoch.

Training runs in the server's JobManager (augtune.jobs), never in a request. The page keeps only a
session in the browser (`gr.BrowserState`: an owner token and the ids of its runs), so a closed and
reopened tab gets its run back. While a run is going, a `gr.Timer` polls the manager once a second;
each tick is cheap (a snapshot under a lock) and the plot, table and results are only rebuilt when
something new arrived, so a whole class can watch at once.

Text made on the server (the live panels, refusals) is said in the one language the page reports with
each event, the tick's included, read as Explore's events read it (`assets.locale_js`). When the visitor
switches language in Gradio's Settings, a watcher on the page (`assets.LANGUAGE_WATCH_JS`) asks the server
to say the panels again in the new one.

The layout and its wiring; the callbacks are in `finetune_events`, what they call in `augtune.service`.
"""

from __future__ import annotations

import functools

import gradio as gr

from augtune.jobs import JobManager
from augtune.service.finetune_html import augment_note, describe_data, model_note, recipe_fields, render_status
from augtune.service.finetune_logic import (
    AUGMENTS,
    BATCH_SIZES,
    DATA_KINDS,
    EXERCISES,
    IMAGE_SIZES,
    MODELS,
    POLL_RUNNING_S,
    data_folders,
    default_config,
    number_limits,
    pretrained_available,
    table_headers,
)

from . import assets
from . import finetune_events as events

_ = gr.I18n()  # only makes translation keys; ui/app.py gives launch() the tables (augtune.service.i18n)
FIRST = "en"  # the panels' words before the tab's first event says them in the page's language


def training_number(value: float, name: str, **options) -> gr.Number:
    """A number field bounded by TrainConfig's range for `name` (`number_limits`). The bounds reach the
    browser; a value outside them is left to TrainConfig's check, which the page says naming the field in
    its language, where Gradio's own check would say "Value 0 is less than minimum value 1." in English.
    (Not a gr.Number subclass: Gradio writes a .pyi stub beside the module of every component class.)"""
    number = gr.Number(value, **number_limits(name), **options)
    number.preprocess = lambda payload: None if payload is None else number.round_to_precision(payload, number.precision)
    return number


def build_finetune_tab(jobs: JobManager | None = None, explore_widgets: list | None = None) -> JobManager:
    """The Fine-tune tab and its HTTP API. `explore_widgets` are the Explore tab's controls in
    `augtune.service.explore_form.FIELDS` order (their values make the Explore spec); `jobs` defaults to a new
    JobManager configured from the environment. Returns the manager."""
    jobs = jobs or JobManager()
    explore_widgets = list(explore_widgets or [])
    connected = bool(explore_widgets)

    defaults = default_config()
    default_model = "pretrained" if pretrained_available() else "builtin"

    with gr.Tab(_("ft.tab"), id="finetune") as tab:
        session = gr.BrowserState(None, storage_key="augtune-finetune-session")
        seen = gr.State({})
        locale = gr.Textbox(visible=False)
        timer = gr.Timer(POLL_RUNNING_S, active=False)
        gr.Markdown(_("ft.intro"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                with gr.Accordion(_("ft.step.data"), open=True):
                    kind = gr.Radio([(_(f"ft.data.{name}"), name) for name in DATA_KINDS], value="synthetic",
                                    label=_("ft.data"), elem_id="ft-data")
                    folder = gr.Dropdown(data_folders(), value=None, label=_("ft.folder"), info=_("ft.folder.info"),
                                         visible=False, elem_id="ft-folder")
                    zip_file = gr.File(label=_("ft.zip"), file_types=[".zip"], type="filepath", visible=False,
                                       height=100, elem_id="ft-zip")
                    data_info = gr.HTML(describe_data(FIRST, "synthetic"), elem_id="ft-data-info")
                with gr.Accordion(_("ft.step.model"), open=True):
                    model = gr.Radio([(_(f"ft.model.{name}"), name) for name in MODELS], value=default_model,
                                     label=_("ft.model"), elem_id="ft-model")
                    weights_file = gr.File(label=_("ft.weights"), file_types=[".pt", ".pth"], type="filepath",
                                           visible=False, height=100, elem_id="ft-weights")
                    model_info = gr.HTML(model_note(FIRST), elem_id="ft-model-info")
                with gr.Accordion(_("ft.step.recipe"), open=True):
                    with gr.Row():
                        epochs = training_number(defaults.epochs, "epochs", precision=0, label=_("ft.epochs"),
                                                 elem_id="ft-epochs", min_width=100)
                        batch_size = gr.Dropdown(BATCH_SIZES, value=defaults.batch_size, label=_("ft.batch"),
                                                 elem_id="ft-batch", min_width=100)
                        image_size = gr.Dropdown(IMAGE_SIZES, value=defaults.image_size, label=_("ft.size"),
                                                 info=_("ft.size.info"), elem_id="ft-size", min_width=100)
                    default_lr, default_head, default_optimizer, default_wd, default_recipe = recipe_fields(FIRST, default_model)
                    recipe_info = gr.HTML(default_recipe, elem_id="ft-recipe-info")
                    with gr.Row():
                        lr = training_number(default_lr, "lr", label=_("ft.lr"), elem_id="ft-lr", min_width=100)
                        head_lr_mult = training_number(default_head, "head_lr_mult", label=_("ft.head"),
                                                       info=_("ft.head.info"), elem_id="ft-head", min_width=100)
                    with gr.Row():
                        optimizer = gr.Radio([("SGD", "sgd"), ("Adam", "adam")], value=default_optimizer,
                                             label=_("ft.optimizer"), elem_id="ft-optimizer", min_width=100)
                        weight_decay = training_number(default_wd, "weight_decay", label=_("ft.wd"), elem_id="ft-wd",
                                                       min_width=100)
                    augment = gr.Radio([(_(f"ft.augment.{name}"), name) for name in AUGMENTS], value="combined_train",
                                       label=_("ft.augment"), elem_id="ft-augment")
                    augment_info = gr.HTML(augment_note(FIRST, "combined_train", None, connected), elem_id="ft-augment-info")
            with gr.Column(scale=3):
                with gr.Row(equal_height=True):
                    start = gr.Button(_("ft.start"), variant="primary", size="lg", elem_id="ft-start", scale=2)
                    cancel = gr.Button(_("ft.cancel"), variant="stop", size="lg", elem_id="ft-cancel", scale=1)
                    compare = gr.Button(_("ft.compare"), variant="secondary", size="lg", elem_id="ft-compare", scale=2)
                gr.Markdown(_("ft.compare.info"), elem_classes="ft-small")
                with gr.Accordion(_("ft.exercises"), open=False, elem_id="ft-exercises"):
                    gr.Markdown(_("ft.exercises.info"), elem_classes="ft-small")
                    with gr.Row():
                        exercise_buttons = {name: gr.Button(_(f"ft.exercise.{name}"), size="sm", min_width=120,
                                                            elem_id=f"ft-exercise-{name}") for name in EXERCISES}
                status = gr.HTML(render_status(FIRST, []), elem_id="ft-status", padding=True, container=True)
                plot = gr.Plot(label=_("ft.plot"), show_label=False, format="png", elem_id="ft-plot")
                table = gr.Dataframe(headers=table_headers(FIRST), value=None, label=_("ft.table"), interactive=False,
                                     elem_id="ft-table", max_height=320, wrap=True,
                                     column_widths=["28%", "10%", "12%", "12%", "12%", "12%", "14%"])
                log = gr.Textbox(label=_("ft.log"), lines=4, max_lines=12, interactive=False, elem_id="ft-log",
                                 buttons=["copy"])
        with gr.Accordion(_("ft.results"), open=False, elem_id="ft-results-panel") as results_panel:
            results = gr.HTML("", elem_id="ft-results")
            # Explicit heights: an image first shown inside a just-opened accordion otherwise collapses to 0 px.
            with gr.Row(equal_height=False):
                confusion = gr.Image(label=_("ft.confusion"), type="filepath", interactive=False, format="png",
                                     height=340, scale=1, elem_id="ft-confusion")
                misclassified = gr.Image(label=_("ft.misclassified"), type="filepath", interactive=False,
                                         format="png", height=340, scale=2, elem_id="ft-misclassified")
            files = gr.File(label=_("ft.downloads"), file_count="multiple", interactive=False, elem_id="ft-downloads")
        # Empty and out of sight: its script clicks it when the page's language changes.
        language = gr.HTML("", elem_id="ft-language", js_on_load=assets.LANGUAGE_WATCH_JS)

    handle = events.handlers(jobs, connected)
    shown = [status, plot, table, log, results, confusion, misclassified, files, results_panel]  # events.SHOWN
    # ----- events: each sends the page's locale first (assets.locale_js) ----------------------------------
    recipe = [kind, folder, zip_file, model, weights_file, epochs, batch_size, image_size, lr, head_lr_mult,
              optimizer, weight_decay, augment]
    run_outputs = [session, seen, timer, *shown]
    ui_only = dict(api_visibility="private")

    def listen(trigger, fn, inputs, outputs, **options):
        trigger(fn, [locale, *inputs], outputs, js=assets.locale_js(len(inputs) + 1), **ui_only, **options)

    submit = [session, *recipe, *explore_widgets]
    listen(start.click, handle.on_start, submit, run_outputs, concurrency_id="finetune-submit", concurrency_limit=4)
    listen(compare.click, handle.on_compare, submit, run_outputs, concurrency_id="finetune-submit")
    for name, button in exercise_buttons.items():
        listen(button.click, functools.partial(handle.on_exercise, name), submit, run_outputs,
               concurrency_id="finetune-submit")
    listen(cancel.click, handle.on_cancel, [session], [status], concurrency_limit=None)
    # A tick reads a snapshot, and draws a plot only when an epoch ended: a class can poll at once.
    poll_options = dict(show_progress="hidden", concurrency_id="finetune-poll", concurrency_limit=4)
    listen(timer.tick, handle.on_poll, [session, seen], run_outputs, **poll_options)
    # Opening the tab (also after a reload) gets a running run back and restarts the ticks, and says every
    # panel in the page's language (they were made in English when the app was built).
    listen(tab.select, handle.on_poll, [session, seen], run_outputs, **poll_options)
    for trigger in (kind.input, folder.input, zip_file.change):
        listen(trigger, events.on_data, [kind, folder, zip_file, image_size], [folder, zip_file, data_info, image_size])
    model_outputs = [model_info, lr, head_lr_mult, optimizer, weight_decay, recipe_info]
    listen(model.input, events.on_model, [model], [weights_file, *model_outputs])
    listen(augment.input, handle.on_augment, [augment, *explore_widgets], [augment_info])
    listen(tab.select, handle.on_augment, [augment, *explore_widgets], [augment_info])
    listen(tab.select, events.model_on_open, [model], [model, *model_outputs])
    listen(tab.select, events.data_note, [kind, folder, zip_file], [data_info])
    listen(language.click, handle.on_language, [session, kind, folder, zip_file, model, augment, *explore_widgets],
           [status, results, data_info, model_info, recipe_info, augment_info, table], show_progress="hidden",
           concurrency_id="finetune-poll")
    with tab:  # gr.Tabs may hold only tabs, so the API endpoints live in ours
        gr.api(handle.start_api, api_name="finetune_start", concurrency_id="finetune-submit")
        gr.api(handle.compare_api, api_name="finetune_compare", concurrency_id="finetune-submit")
        gr.api(handle.experiment_api, api_name="finetune_experiment", concurrency_id="finetune-submit")
        gr.api(handle.status_api, api_name="finetune_status", concurrency_id="finetune-poll")
        gr.api(handle.cancel_api, api_name="finetune_cancel", concurrency_limit=None)
        gr.api(handle.data_api, api_name="finetune_data", concurrency_id="finetune-data", concurrency_limit=1)
    return jobs
