"""Running requests on the engine and saving what they make: the code the UI and the API share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from pipeline import Engine, Finished, GenerationRequest, Preview
from pipeline.request import DEFAULT_GUIDANCE, DEFAULT_STEPS
from pipeline.tokens import DroppedWords
from ui.progress import RunProgress, Step, Underway
from ui.store import ImageStore


@dataclass(frozen=True)
class SavedImage:
    """A finished image: the PNG written with its parameters, the request that made it, and the
    words of its prompt that a text encoder dropped (from the engine: no second tokenisation)."""

    path: str
    request: GenerationRequest
    dropped: tuple[DroppedWords, ...] = ()


@dataclass(frozen=True)
class SavedBatch:
    """A finished batch: its saved images, their positions in the requests that were run, and the
    images themselves (for thumbnails, without reading the files back)."""

    indices: tuple[int, ...]
    images: list[SavedImage]
    pictures: list[Image.Image]


def caption(request: GenerationRequest) -> str:
    """The label of an image in galleries: its seed, and each setting that is not the default."""
    parts = [f"seed {request.seed}"]
    if request.steps != DEFAULT_STEPS:
        parts.append(f"{request.steps} steps")
    if request.guidance_scale != DEFAULT_GUIDANCE:
        parts.append(f"guidance {request.guidance_scale:g}")
    if request.variation_strength:
        parts.append(f"variation {request.variation_strength:g} of seed {request.variation_seed}")
    return " · ".join(parts)


class Runner:
    """Streams the engine's previews while reporting progress, and saves each finished image."""

    def __init__(self, engine: Engine, store: ImageStore):
        self.engine = engine
        self.store = store
        self.underway = Underway()  # the runs' times left, for those waiting in line

    def generate(self, request: GenerationRequest, progress: gr.Progress) -> Iterator[Step | SavedImage]:
        """A `Step` (with the preview) after each step, then the saved image."""
        tracker = RunProgress(progress, images=1, steps_per_image=request.steps, underway=self.underway)
        for event in self._saved(self.engine.generate(request), tracker):
            yield event if isinstance(event, Step) else event.images[0]

    def compare(self, requests: Sequence[GenerationRequest], progress: gr.Progress) -> Iterator[Step | SavedBatch]:
        """A `Step` after each step; after each batch, its saved images and their positions in `requests`."""
        tracker = RunProgress(
            progress, images=len(requests), steps_per_image=sum(request.steps for request in requests) / len(requests),
            underway=self.underway,
        )
        yield from self._saved(self.engine.compare(requests), tracker)

    def _saved(self, events: Iterator[Preview | Finished], tracker: RunProgress) -> Iterator[Step | SavedBatch]:
        """A `Step` per preview, and each batch's images once saved (the handlers note dropped words)."""
        try:
            for event in events:
                if isinstance(event, Preview):
                    yield tracker.preview(event)
                    continue
                tracker.finished(event)
                images = [
                    SavedImage(str(self.store.save(image)), image.request, event.dropped) for image in event.images
                ]
                yield SavedBatch(event.indices, images, [image.image for image in event.images])
        finally:  # also when Stop closes this generator, or the engine fails
            tracker.close()
