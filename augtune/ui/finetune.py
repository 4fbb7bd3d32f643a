"""Fine-tune tab (placeholder until the tab is built)."""

import gradio as gr

STRINGS: dict[str, dict[str, str]] = {"en": {}, "zh-CN": {}}


def build_finetune_tab() -> None:
    with gr.Tab("Fine-tune"):
        gr.Markdown("Fine-tune")
