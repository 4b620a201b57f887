"""Where finished images go: each PNG written once, where Gradio serves it, under a secret name.

Privacy. A served image is `<Gradio's cache>/turbo-studio-*/<128-bit random folder>/<timestamp>-<seed>.png`,
and only the user who made it is handed that URL: Gradio lists no folder (it answers 403), and the
output folder (`--output-dir`) is not one of its `allowed_paths`, so no other path reaches it.
There the operator gets an atomic copy with the same metadata, which is never served.

Speed. Gradio serves a file already in its cache where it lies; any other file it hashes twice and
copies there first (9 ms for a 1024² image on a 2-core EPYC, benchmarks/results/server-profile.md).

Temporary files: one mechanism, one age. `prune` deletes every file in Gradio's cache older than
`TEMPORARY_KEEP_SECONDS` (images, grids, uploads to the PNG info tab, what a killed run left),
then the folders that this empties; a save starts it on a background thread, the first at once,
then at most every `PRUNE_EVERY_SECONDS`. This run's images are in a folder of its own, which
goes when the app stops. Gradio's own `delete_cache` stays off: it deletes only the files it
handed out, so an image saved for a run stopped during its VAE decode would stay forever, and it
leaves every folder behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from gradio.utils import get_upload_folder

from pipeline import GeneratedImage
from pipeline.errors import GenerationError
from pipeline.metadata import png_bytes, save_png_atomically

# How long a handed-out URL works: while a page may still show the image. At one 1024² image a
# second, an hour is ~11 GB.
TEMPORARY_KEEP_SECONDS = 3600
PRUNE_EVERY_SECONDS = 600


class ImageStore:
    """Writes each finished image where Gradio serves it, and a copy into `output_dir` when given."""

    def __init__(self, output_dir: Path | None = None):
        self.output_dir = Path(output_dir) if output_dir else None
        self.cache = Path(get_upload_folder())
        for folder in (self.output_dir, self.cache):
            if folder:
                folder.mkdir(parents=True, exist_ok=True)
        self._run = tempfile.TemporaryDirectory(prefix="turbo-studio-", dir=self.cache, ignore_cleanup_errors=True)
        self._next_prune = 0.0

    def save(self, generated: GeneratedImage) -> Path:
        """The image as a PNG with its request and model in the metadata; the path to serve."""
        data = png_bytes(generated.image, generated.request, generated.model)
        if self.output_dir:
            with self._reported(self.output_dir):
                save_png_atomically(self.output_dir, data, generated.request.seed)
        return self._serve(data, f"{datetime.now():%Y%m%d-%H%M%S}-{generated.request.seed}.png")

    def save_grid(self, png: bytes) -> Path:
        """A comparison grid's PNG file (see `pipeline.grid.grid_png`); the path to serve."""
        return self._serve(png, f"comparison-{datetime.now():%Y%m%d-%H%M%S}.png")

    def prune(self) -> None:
        """Delete the files in Gradio's cache older than `TEMPORARY_KEEP_SECONDS`, and each folder
        that this leaves empty."""
        oldest = time.time() - TEMPORARY_KEEP_SECONDS
        emptied: set[str] = set()
        kept = {str(self.cache), self._run.name}
        for folder, _, files in os.walk(self.cache, topdown=False):
            for path in (os.path.join(folder, name) for name in files):
                try:
                    if os.stat(path).st_mtime < oldest:
                        os.unlink(path)
                        emptied.add(folder)
                except OSError:  # gone meanwhile, or not ours to delete
                    continue
            if folder in emptied and folder not in kept:
                try:
                    os.rmdir(folder)  # fails unless empty
                    emptied.add(os.path.dirname(folder))
                except OSError:
                    continue

    def _serve(self, data: bytes, name: str) -> Path:
        """`data` written to `<this run's folder>/<random folder>/<name>`, readable by this user only."""
        self._prune_soon()
        folder = Path(self._run.name) / secrets.token_urlsafe(16)
        path = folder / name
        with self._reported(self.cache):
            folder.mkdir(mode=0o700, parents=True)  # parents: another app's `prune` may have emptied the cache
            try:
                # No fsync: the URL dies with this process anyway, and fsync of a 3 MB file costs ~10 ms here.
                with open(path, "wb") as file:
                    file.write(data)
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)  # no partial file: its URL was never handed out
                raise
        return path

    def _prune_soon(self) -> None:
        """Start `prune` on a background thread when it is due."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        threading.Thread(target=self.prune, name="turbo-studio-prune", daemon=True).start()

    @contextmanager
    def _reported(self, folder: Path) -> Iterator[None]:
        """A failed write (disk full, read-only folder, no permission) as a message for the user."""
        try:
            yield
        except OSError as error:
            raise GenerationError(f"Could not save the image in {folder}: {error.strerror or error}.") from None
