"""Explore tab (placeholder until the tab is built)."""

import gradio as gr

STRINGS: dict[str, dict[str, str]] = {"en": {}, "zh-CN": {}}


def build_explore_tab() -> None:
    with gr.Tab("Explore"):
        gr.Markdown("Explore")
