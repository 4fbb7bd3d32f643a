"""The Fine-tune tab's callbacks and HTTP API. The work is in `augtune.service`; these read the page's
session, ask the job manager, and turn a `Refusal` into the gr.Error the page shows.

Every page callback takes the page's locale first (the browser reads it as Explore's events do,
`assets.locale_js`) and says everything in that one language; the HTTP API speaks English."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import gradio as gr

from augtune.jobs import FINISHED, JobError, JobManager
from augtune.service import finetune_logic as logic
from augtune.service.explore_form import spec_from_widgets
from augtune.service.explore_text import localize_error
from augtune.service.finetune_html import augment_note, describe_data, model_note, recipe_fields, render_status, results_html
from augtune.service.finetune_logic import EXERCISES, POLL_QUEUED_S, POLL_RUNNING_S, Refusal
from augtune.service.finetune_text import refusal_message, say
from augtune.service.i18n import pick_locale, text
from augtune.spec import AugSpec

# What a tick or a new run updates, in this order: status, plot, table, log, results, confusion,
# misclassified, files, results panel.
SHOWN = 9


@contextlib.contextmanager
def refusals_shown():
    """A Refusal raised inside reaches the page (or the API client) as gr.Error, its sentence as it is."""
    try:
        yield
    except Refusal as error:
        raise gr.Error(str(error)) from None


def poll_timer(snaps: list[dict]) -> gr.Timer:
    statuses = {snap["status"] for snap in snaps}
    if statuses & {"running", "cancelling"}:
        return gr.Timer(POLL_RUNNING_S, active=True)
    return gr.Timer(POLL_QUEUED_S, active="queued" in statuses)


def epoch_table(locale: str, snaps: list[dict]) -> gr.Dataframe:
    """The rows with their column names in the page's language (Gradio takes new headers only with a value)."""
    return gr.Dataframe(value=logic.epoch_table(snaps, locale), headers=logic.table_headers(locale))


def model_on_open(locale: str, model: str) -> tuple:
    """When the tab opens: the ImageNet weights' state now, and the built-in backbone instead of ImageNet when
    they cannot be had, so that nobody presses Start to learn it. Other choices and edits stay; the recipe's
    line is said again in the page's language."""
    locale = pick_locale(locale)
    if model == "pretrained" and not logic.pretrained_available():
        return "builtin", model_note(locale), *recipe_fields(locale, "builtin")
    return gr.skip(), model_note(locale), *(gr.skip() for _ in range(4)), recipe_fields(locale, model)[4]


def on_data(locale, kind_value, folder_value, zip_value, size_value):
    return (
        gr.Dropdown(visible=True, choices=logic.data_folders()) if kind_value == "folder" else gr.Dropdown(visible=False),
        gr.File(visible=kind_value == "zip"),
        describe_data(pick_locale(locale), kind_value, folder_value, zip_value),
        logic.NATURAL_SIZE.get(kind_value, size_value),
    )


def data_note(locale, kind_value, folder_value, zip_value) -> str:
    return describe_data(pick_locale(locale), kind_value, folder_value, zip_value)


def on_model(locale, model_value):
    locale = pick_locale(locale)
    return gr.File(visible=model_value == "file"), model_note(locale), *recipe_fields(locale, model_value)


def handlers(jobs: JobManager, connected: bool) -> SimpleNamespace:
    """The tab's callbacks and API functions around `jobs`; `connected`: whether the Explore tab's controls
    are the last inputs of the events that train (their values make the Explore spec)."""

    def explore_spec(values) -> AugSpec | None:
        """The Explore tab's current spec; ValueError (its sentence) when its controls do not make one."""
        if not connected:
            return None
        try:
            return spec_from_widgets(list(values))
        except TypeError as error:
            raise ValueError(str(error)) from None

    def cleared(locale_value, session_value: dict, snaps: list[dict]) -> list:
        return [session_value, {}, poll_timer(snaps), render_status(locale_value, snaps), None, None, "", "", None,
                None, None, gr.Accordion(open=False)]

    def queue_runs(locale_value, session_value, configs) -> list:
        current = logic.fresh_session(session_value)
        try:
            ids = jobs.submit_group(configs, current["owner"])
        except JobError as error:
            raise gr.Error(refusal_message(locale_value, error)) from None
        current["jobs"] = ids
        return cleared(locale_value, current, logic.snapshots(jobs, current)[0])

    def config_from_widgets(locale_value, values):
        try:
            spec = explore_spec(values[13:]) if values[12] == "explore" else None
        except ValueError as error:
            raise gr.Error(text(locale_value, "ft.error.explore", error=localize_error(str(error), locale_value))) from None
        with refusals_shown():
            return logic.make_config(locale_value, *values[:13], spec)

    def on_start(locale_value, session_value, *values):
        locale_value = pick_locale(locale_value)
        return queue_runs(locale_value, session_value, [config_from_widgets(locale_value, values)])

    def on_compare(locale_value, session_value, *values):
        locale_value = pick_locale(locale_value)
        return queue_runs(locale_value, session_value, logic.comparison_configs(config_from_widgets(locale_value, values)))

    def on_exercise(name, locale_value, session_value, *values):
        locale_value = pick_locale(locale_value)
        base = config_from_widgets(locale_value, values)
        with refusals_shown():
            configs = logic.exercise_configs(name, base, locale_value)
        return queue_runs(locale_value, session_value, configs)

    def on_cancel(locale_value, session_value):
        current = logic.fresh_session(session_value)
        try:
            jobs.cancel_group(current["jobs"], current["owner"])
        except JobError:
            pass  # gone already: the next tick says so
        return render_status(pick_locale(locale_value), *logic.snapshots(jobs, current))

    def on_poll(locale_value, session_value, seen_value):
        """One tick: the status always; plot, table and log when rows arrived; results once per finish."""
        locale_value = pick_locale(locale_value)
        current = logic.fresh_session(session_value)
        snaps, lost = logic.snapshots(jobs, current)
        seen_value = dict(seen_value or {})
        updates: list[Any] = [gr.skip()] * SHOWN
        updates[0] = render_status(locale_value, snaps, lost)
        rows_key = [[snap["id"], len(snap["rows"])] for snap in snaps]
        if rows_key != seen_value.get("rows"):
            seen_value["rows"] = rows_key
            updates[1], updates[2], updates[3] = logic.curves(snaps), epoch_table(locale_value, snaps), logic.log_text(snaps)
        finished_key = [snap["id"] for snap in snaps if snap["status"] in FINISHED]
        if finished_key != seen_value.get("finished"):
            seen_value["finished"] = finished_key
            done = [snap for snap in snaps if snap["status"] == "done"]
            updates[4] = results_html(locale_value, snaps)
            updates[5] = done[0]["files"].get("confusion.png") if done else None
            updates[6] = done[0]["files"].get("misclassified.png") if done else None
            updates[7] = logic.downloads(done) or None
            updates[8] = gr.Accordion(open=bool(done))
        if lost:
            current["jobs"] = [snap["id"] for snap in snaps]
        return [current if lost or current != session_value else gr.skip(), seen_value, poll_timer(snaps), *updates]

    def on_augment(locale_value, choice, *values):
        locale_value = pick_locale(locale_value)
        try:
            spec = explore_spec(values) if choice == "explore" else None
        except ValueError as error:
            why = localize_error(str(error), locale_value)
            return f'<span class="ft-error">{say(locale_value, "ft.error.explore", error=why)}</span>'
        return augment_note(locale_value, choice, spec, connected)

    def on_language(locale_value, session_value, kind_value, folder_value, zip_value, model_value, augment_value,
                    *values):
        """The page's language changed: every panel the server wrote, said again in the new one (no run is
        touched, no figure redrawn). Outputs: status, results, data, model, recipe and augmentation notes, the
        epoch table."""
        locale_value = pick_locale(locale_value)
        snaps, lost = logic.snapshots(jobs, logic.fresh_session(session_value))
        return (render_status(locale_value, snaps, lost), results_html(locale_value, snaps),
                describe_data(locale_value, kind_value, folder_value, zip_value), model_note(locale_value),
                recipe_fields(locale_value, model_value)[4], on_augment(locale_value, augment_value, *values),
                epoch_table(locale_value, snaps))

    # ----- the HTTP API: plain JSON in and out ---------------------------------------------------------
    def start_api(session: dict | None, config: dict) -> dict:
        """Queue one training run. `config` holds TrainConfig fields (data, pretrained, epochs, batch_size,
        image_size, lr, head_lr_mult, optimizer, weight_decay, augment, seed, label); missing ones take the
        lesson's defaults; `augment` is a preset name, AugSpec fields, or null for none. Returns the session
        {"owner", "jobs"} to pass to /finetune_status and /finetune_cancel (null starts a new session)."""
        with refusals_shown():
            configs = [logic.api_config(config)]
        return submit_api(session, configs)

    def compare_api(session: dict | None, config: dict) -> dict:
        """Queue the lesson's comparison around `config` (as for /finetune_start); returns the session."""
        with refusals_shown():
            configs = logic.comparison_configs(logic.api_config(config))
        return submit_api(session, configs)

    def experiment_api(session: dict | None, experiment: str, config: dict) -> dict:
        """Queue one of the chapters' exercises (EXERCISES: no-augmentation, stronger-augmentation, raised-lr,
        frozen-backbone, hotdog-head) around `config` (as for /finetune_start); returns the session."""
        if experiment not in EXERCISES:
            raise gr.Error(f"experiment must be one of {', '.join(EXERCISES)}, got {experiment!r}.")
        with refusals_shown():
            configs = logic.exercise_configs(experiment, logic.api_config(config), "en")
        return submit_api(session, configs)

    def submit_api(session_value, configs) -> dict:
        current = logic.fresh_session(session_value)
        try:
            current["jobs"] = jobs.submit_group(configs, current["owner"])
        except JobError as error:
            raise gr.Error(str(error)) from None
        return current

    def status_api(session: dict | None) -> list[dict]:
        """Every run of the session as plain data: status, queue position, rows, log lines, progress,
        device, data summary, error, result, and the names of its files."""
        return [logic.public(snap) for snap in logic.snapshots(jobs, logic.fresh_session(session))[0]]

    def cancel_api(session: dict | None) -> list[dict]:
        """Cancel the session's runs (queued ones at once, running ones at their next batch)."""
        current = logic.fresh_session(session)
        try:
            return [logic.public(snap) for snap in jobs.cancel_group(current["jobs"], current["owner"])]
        except JobError as error:
            raise gr.Error(str(error)) from None

    def data_api(data: str) -> dict:
        """Classes and image counts of a data set (synthetic, hotdog, cifar10, or a folder or .zip in the
        server's data folder) without training on it."""
        from augtune import data as data_module

        try:
            return data_module.describe(str(data))
        except (data_module.TrainError, ValueError, OSError) as error:
            raise gr.Error(str(error)) from None

    return SimpleNamespace(
        on_start=on_start, on_compare=on_compare, on_exercise=on_exercise, on_cancel=on_cancel, on_poll=on_poll,
        on_augment=on_augment, on_language=on_language, start_api=start_api, compare_api=compare_api, experiment_api=experiment_api,
        status_api=status_api, cancel_api=cancel_api, data_api=data_api,
    )
