"""Where finished images go: PNG files that carry their generation parameters."""

from __future__ import annotations

import secrets
import tempfile
from datetime import datetime
from pathlib import Path

from PIL import Image

from pipeline import GeneratedImage
from pipeline.metadata import save_png_atomically


class ImageStore:
    """Writes images into the output folder, or, without one, into a private temporary folder
    that is removed when the app exits. Paths returned are what the interface serves."""

    def __init__(self, output_dir: Path | None = None):
        self._temporary = None if output_dir else tempfile.TemporaryDirectory(prefix="turbo-studio-")
        self.folder = Path(output_dir) if output_dir else Path(self._temporary.name)
        self.folder.mkdir(parents=True, exist_ok=True)

    def save(self, generated: GeneratedImage) -> Path:
        """The image as a PNG with its request and model in the metadata."""
        return save_png_atomically(self.folder, generated.image, generated.request, generated.model)

    def save_grid(self, grid: Image.Image) -> Path:
        """A comparison grid as a plain PNG."""
        path = self.folder / f"comparison-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}.png"
        grid.save(path, format="PNG", compress_level=3)
        return path
