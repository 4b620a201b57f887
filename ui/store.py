"""Where finished images go: each PNG written once, where Gradio serves it, under a secret name.

Privacy. A served image is `<Gradio's cache>/turbo-studio-*/<128-bit random folder>/<timestamp>-<seed>.png`,
and only the user who made it is handed that URL: Gradio lists no folder (it answers 403), and the
output folder (`--output-dir`) is not one of its `allowed_paths`, so no other path reaches it.
There the operator gets an atomic copy with the same metadata, which is never served.

Speed. Gradio serves a file already in its cache where it lies; any other file it hashes twice and
copies there first (9 ms for a 1024² image on a 2-core EPYC, benchmarks/results/server-profile.md).

Temporary files: one mechanism, an age and a size. `prune` deletes every file in Gradio's cache
older than `TEMPORARY_KEEP_SECONDS` (images, grids, uploads to the PNG info tab, what a killed run
left), then the oldest others while the cache holds more than its bound (`--max-cache-size`), then
the folders that this empties. A save starts it on a background thread: the first at once, then
every `PRUNE_EVERY_SECONDS`, or sooner once a tenth of the bound has been written since the last.
This run's images are in a folder of its own, which goes when the app stops. Gradio's own
`delete_cache` stays off: it deletes only the files it handed out, so an image saved for a run
stopped during its VAE decode would stay forever, and it leaves every folder behind.
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

# The most Gradio's cache of served images keeps: ~700 images of 1024² (~3 MB each),
# several minutes of a busy GPU, and a small part of a Space's 50 GB disk. An image pruned early
# still shows in the page that has it; History then restores its settings to make it again.
DEFAULT_MAX_CACHE_MB = 2048

# How long a handed-out URL works: while a page may still show the image. At one 1024² image a
# second, an hour is ~11 GB (over 100 GB at 8 GPUs), hence the size bound too.
TEMPORARY_KEEP_SECONDS = 3600
PRUNE_EVERY_SECONDS = 600


class ImageStore:
    """Writes each finished image where Gradio serves it, and a copy into `output_dir` when given.

    Args:
        output_dir: the operator's folder for copies (never served), or None.
        max_cache_mb: the most Gradio's cache keeps, in MiB (`prune` deletes the oldest files past it).
    """

    def __init__(self, output_dir: Path | None = None, max_cache_mb: int = DEFAULT_MAX_CACHE_MB):
        self.output_dir = Path(output_dir) if output_dir else None
        self.max_cache_bytes = max_cache_mb * 2**20
        self.cache = Path(get_upload_folder())
        for folder in (self.output_dir, self.cache):
            if folder:
                folder.mkdir(parents=True, exist_ok=True)
        self._run = tempfile.TemporaryDirectory(prefix="turbo-studio-", dir=self.cache, ignore_cleanup_errors=True)
        self._next_prune = 0.0
        self._written = 0  # bytes saved since the last prune started
        self.pruning: threading.Thread | None = None  # the last prune started

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
        """Delete the files in Gradio's cache older than `TEMPORARY_KEEP_SECONDS`, then the oldest
        others while the rest is larger than `max_cache_bytes`, and each folder this leaves empty."""
        files = []
        for folder, _, names in os.walk(self.cache):
            for path in (os.path.join(folder, name) for name in names):
                try:
                    info = os.stat(path)
                except OSError:  # gone meanwhile
                    continue
                files.append((info.st_mtime, info.st_size, path))
        oldest = time.time() - TEMPORARY_KEEP_SECONDS
        total = sum(size for _, size, _ in files)
        emptied: set[str] = set()
        for modified, size, path in sorted(files):  # oldest first
            if modified >= oldest and total <= self.max_cache_bytes:
                break
            try:
                os.unlink(path)
            except OSError:  # gone meanwhile, or not ours to delete
                continue
            total -= size
            emptied.add(os.path.dirname(path))
        kept = {str(self.cache), self._run.name}
        for folder in sorted(emptied, key=len, reverse=True):  # the deepest first
            while folder not in kept and folder.startswith(str(self.cache)):
                try:
                    os.rmdir(folder)  # fails unless empty
                except OSError:
                    break
                folder = os.path.dirname(folder)

    def _serve(self, data: bytes, name: str) -> Path:
        """`data` written to `<this run's folder>/<random folder>/<name>`, readable by this user only."""
        self._prune_soon(len(data))
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

    def _prune_soon(self, size: int) -> None:
        """Start `prune` on a background thread when it is due: by time, or by `size` more bytes written."""
        self._written += size
        if time.monotonic() < self._next_prune and self._written < self.max_cache_bytes // 10:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        self._written = 0
        self.pruning = threading.Thread(target=self.prune, name="turbo-studio-prune", daemon=True)
        self.pruning.start()

    @contextmanager
    def _reported(self, folder: Path) -> Iterator[None]:
        """A failed write (disk full, read-only folder, no permission) as a message for the user."""
        try:
            yield
        except OSError as error:
            raise GenerationError(f"Could not save the image in {folder}: {error.strerror or error}.") from None
