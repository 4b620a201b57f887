"""One progress bar with an ETA over a whole run: a single image, or every batch of a comparison."""

from __future__ import annotations

import time

import gradio as gr

from pipeline import Finished, Preview


class RunProgress:
    """Reports the engine's events to a `gr.Progress` (shown on a small status component).

    Work is counted in image-steps, so a comparison's bar moves evenly across its batches.
    """

    def __init__(self, progress: gr.Progress, images: int, steps_per_image: float):
        self._progress = progress
        self._images = images
        self._total = images * steps_per_image
        self._done = 0
        self._images_done = 0
        self._started = time.perf_counter()
        progress(0, desc="Starting")

    def preview(self, preview: Preview) -> None:
        """After a step: the fraction done, the step and the time left."""
        fraction = min(1.0, (self._done + len(preview.requests) * preview.step) / self._total)
        elapsed = time.perf_counter() - self._started
        remaining = elapsed * (1 - fraction) / fraction
        batch = ""
        if self._images > 1:
            batch = f"Images {self._images_done + 1}-{self._images_done + len(preview.requests)} of {self._images} · "
        self._progress(fraction, desc=f"{batch}step {preview.step}/{preview.total_steps} · ETA {remaining:.1f} s")

    def finished(self, finished: Finished) -> None:
        """After a batch: its work is done."""
        self._done += sum(image.request.steps for image in finished.images)
        self._images_done += len(finished.images)
