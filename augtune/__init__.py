"""augtune: see what image augmentation does, then fine-tune with it. Importable without Gradio."""

from .imageio import load_image
from .pipeline import build_pipeline, spec_to_code
from .sampling import Tile, sample_grid, sample_params
from .spec import PRESETS, AugSpec

__all__ = ["AugSpec", "PRESETS", "Tile", "build_pipeline", "load_image", "sample_grid", "sample_params", "spec_to_code"]
