"""Hugging Face Spaces entry point: build the UI and serve it."""

from augtune.ui.app import build_app, launch

demo = build_app()

if __name__ == "__main__":
    launch(demo)
