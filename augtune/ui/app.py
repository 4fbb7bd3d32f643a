"""The whole app's layout in one place: two tabs, one translation table, the launch settings."""

from __future__ import annotations

import os

import gradio as gr

from . import explore, finetune

MAX_FILE_SIZE = os.environ.get("AUGTUNE_MAX_UPLOAD", "20mb")


def translations() -> gr.I18n:
    merged: dict[str, dict[str, str]] = {}
    for strings in (explore.STRINGS, finetune.STRINGS):
        for locale, table in strings.items():
            merged.setdefault(locale, {}).update(table)
    return gr.I18n(**merged)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="augtune") as demo:
        with gr.Tabs():
            explore.build_explore_tab()
            finetune.build_finetune_tab()
    return demo


def launch(demo: gr.Blocks, **overrides) -> None:
    settings = dict(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        max_file_size=MAX_FILE_SIZE,
        i18n=translations(),
    )
    settings.update(overrides)
    demo.launch(**settings)
