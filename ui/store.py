"""Where finished images go: PNG files that carry their generation parameters."""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from gradio.utils import get_upload_folder

from pipeline import GeneratedImage
from pipeline.errors import GenerationError
from pipeline.metadata import save_png_atomically

# Temporary images (and Gradio's copies of them) are only needed while a page may still show
# them; at one 1024² image a second, an hour is ~10 GB.
TEMPORARY_KEEP_SECONDS = 3600
PRUNE_EVERY_SECONDS = 600


class ImageStore:
    """Writes images into the output folder, where they stay; without one, into a private
    temporary folder which goes when the app exits. Temporary images, and the files Gradio
    copies into its cache to serve them, are deleted after `TEMPORARY_KEEP_SECONDS`."""

    def __init__(self, output_dir: Path | None = None):
        self._temporary = None if output_dir else tempfile.TemporaryDirectory(prefix="turbo-studio-")
        self.folder = Path(output_dir) if output_dir else Path(self._temporary.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._pruned_at = time.monotonic()

    def save(self, generated: GeneratedImage) -> Path:
        """The image as a PNG with its request and model in the metadata."""
        self._prune()
        with self._reported():
            return save_png_atomically(self.folder, generated.image, generated.request, generated.model)

    def save_grid(self, png: bytes) -> Path:
        """A comparison grid's PNG file (see `pipeline.grid.grid_png`)."""
        self._prune()
        path = self.folder / f"comparison-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}.png"
        with self._reported():
            path.write_bytes(png)
        return path

    @contextmanager
    def _reported(self) -> Iterator[None]:
        """A failed write (disk full, read-only folder, no permission) as a message for the user."""
        try:
            yield
        except OSError as error:
            raise GenerationError(f"Could not save the image in {self.folder}: {error.strerror or error}.") from None

    def _prune(self) -> None:
        """Delete temporary images and Gradio's cached files older than `TEMPORARY_KEEP_SECONDS`."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = time.monotonic()
        oldest = time.time() - TEMPORARY_KEEP_SECONDS
        folders = [Path(get_upload_folder())] + ([self.folder] if self._temporary else [])
        for path in (path for folder in folders for path in folder.rglob("*")):
            try:
                if path.is_file() and path.stat().st_mtime < oldest:
                    path.unlink()
            except OSError:  # taken by another request meanwhile, or not ours to delete
                continue
