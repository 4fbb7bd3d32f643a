"""The Gradio front end: thin callbacks from widgets to the augtune core. The only place gradio is imported."""
