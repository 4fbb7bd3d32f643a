"""The whole app's layout in one place: two tabs, one translation table, the launch settings."""

from __future__ import annotations

import os

import gradio as gr

from . import explore, finetune

MAX_FILE_SIZE = os.environ.get("AUGTUNE_MAX_UPLOAD", "20mb")
# Every 30 min, delete Gradio's temp files (uploads, gallery tiles) older than 2 h: a lesson's uploads
# survive the lesson, and a day of classes does not fill the disk.
DELETE_CACHE = (1800, 7200)
# Two cores: two grids at once keep both busy; more would only make every student wait longer.
CONCURRENCY = int(os.environ.get("AUGTUNE_CONCURRENCY", 2))


def translations() -> gr.I18n:
    merged: dict[str, dict[str, str]] = {}
    for strings in (explore.STRINGS, finetune.STRINGS):
        for locale, table in strings.items():
            merged.setdefault(locale, {}).update(table)
    return gr.I18n(**merged)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="augtune", delete_cache=DELETE_CACHE) as demo:
        with gr.Tabs():
            explore_widgets = explore.build_explore_tab(demo)
            finetune.build_finetune_tab(explore_widgets=explore_widgets)
    demo.queue(default_concurrency_limit=CONCURRENCY)
    return demo


def launch(demo: gr.Blocks, **overrides) -> None:
    settings = dict(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        max_file_size=MAX_FILE_SIZE,
        i18n=translations(),
        theme=gr.themes.Soft(text_size="lg"),  # read from the back of a classroom
        css=explore.CSS + getattr(finetune, "CSS", ""),
    )
    settings.update(overrides)
    demo.launch(**settings)
