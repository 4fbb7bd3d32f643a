"""What the app does, without Gradio: text in both languages, the pictures and grids Explore shows, the
Fine-tune tab's configs and panels. `augtune.ui` lays out and wires Gradio around it; the core
(`augtune/*.py`) knows neither. tests/test_layout.py keeps it so."""
