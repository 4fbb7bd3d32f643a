"""The Gradio front end: layout and wiring around `augtune.service`. The only place gradio is imported."""
