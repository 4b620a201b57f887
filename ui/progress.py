"""One progress measure with an ETA over a whole run: a single image, or every batch of a comparison."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from pipeline import Finished, Preview


@dataclass(frozen=True)
class Step:
    """Where a run stands after a step: the previews of the running batch and their positions in
    the run's requests, the fraction done, and a line such as "Step 3/4 · ETA 0.4 s"."""

    previews: list[Image.Image]
    indices: tuple[int, ...]
    step: int
    total_steps: int
    fraction: float
    text: str


class RunProgress:
    """Turns the engine's events into `Step`s and reports them to a `gr.Progress` too (API clients
    read it from the job status; the page shows the `Step` text, since Gradio hides a streaming
    event's progress bar once it has yielded).

    Work is counted in image-steps, so a comparison's measure moves evenly across its batches.
    """

    def __init__(self, progress: gr.Progress, images: int, steps_per_image: float):
        self._progress = progress
        self._images = images
        self._total = images * steps_per_image
        self._done = 0
        self._images_done = 0
        self._started = time.perf_counter()
        progress(0, desc="Starting")

    def preview(self, preview: Preview) -> Step:
        """After a step: the fraction done, the step and the time left."""
        fraction = min(1.0, (self._done + len(preview.requests) * preview.step) / self._total)
        elapsed = time.perf_counter() - self._started
        remaining = elapsed * (1 - fraction) / fraction
        text = f"Step {preview.step}/{preview.total_steps} · ETA {remaining:.1f} s"
        if self._images > 1:
            first = self._images_done + 1
            text = f"Images {first}-{first + len(preview.requests) - 1} of {self._images} · {text}"
        self._progress(fraction, desc=text)
        return Step(preview.images, preview.indices, preview.step, preview.total_steps, fraction, text)

    def finished(self, finished: Finished) -> None:
        """After a batch: its work is done."""
        self._done += sum(image.request.steps for image in finished.images)
        self._images_done += len(finished.images)
