"""Running requests on the engine and saving what they make: the code the UI and the API share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gradio as gr

from pipeline import Engine, Finished, GenerationRequest, Preview
from ui.errors import warn
from ui.progress import RunProgress, Step
from ui.store import ImageStore


@dataclass(frozen=True)
class SavedImage:
    """A finished image: the PNG written with its parameters, and the request that made it."""

    path: str
    request: GenerationRequest


def caption(request: GenerationRequest, with_steps: bool = False) -> str:
    """The label of an image in galleries and grids: its seed, and its steps when they vary."""
    return f"seed {request.seed} · {request.steps} steps" if with_steps else f"seed {request.seed}"


def gallery_items(images: Sequence[SavedImage], with_steps: bool = False) -> list[tuple[str, str]]:
    """Gallery values: each image's PNG and its caption."""
    return [(saved.path, caption(saved.request, with_steps)) for saved in images]


def build_request(
    prompt: str,
    negative_prompt: str,
    seed: int | None,
    randomize_seed: bool,
    width: int,
    height: int,
    steps: int,
    guidance_scale: float,
    **extra,
) -> GenerationRequest:
    """A validated request from the values of the Generate controls (or of an API call)."""
    return GenerationRequest.create(
        prompt=prompt,
        negative_prompt=negative_prompt or "",
        seed=None if randomize_seed else seed,
        width=width,
        height=height,
        steps=steps,
        guidance_scale=guidance_scale,
        **extra,
    )


class Runner:
    """Streams the engine's previews while reporting progress, and saves each finished image."""

    def __init__(self, engine: Engine, store: ImageStore):
        self.engine = engine
        self.store = store

    def generate(self, request: GenerationRequest, progress: gr.Progress) -> Iterator[Step | SavedImage]:
        """A `Step` (with the preview) after each step, then the saved image."""
        tracker = RunProgress(progress, images=1, steps_per_image=request.steps)
        for event in self._saved(self.engine.generate(request), tracker):
            if isinstance(event, Step):
                yield event
            else:
                yield from event

    def compare(
        self, request: GenerationRequest, seeds: Sequence[int], steps: Sequence[int], progress: gr.Progress
    ) -> Iterator[Step | list[SavedImage]]:
        """A `Step` after each step; after each batch, every image saved so far (seed order, then
        the next step count)."""
        step_counts = list(steps) or [request.steps]
        tracker = RunProgress(
            progress, images=len(seeds) * len(step_counts), steps_per_image=sum(step_counts) / len(step_counts)
        )
        saved: list[SavedImage] = []
        for event in self._saved(self.engine.compare(request, seeds, step_counts), tracker):
            if isinstance(event, Step):
                yield event
            else:
                saved += event
                yield list(saved)

    def _saved(self, events: Iterator[Preview | Finished], tracker: RunProgress) -> Iterator[Step | list[SavedImage]]:
        """A `Step` per preview, and each batch's images once saved; each warning shown once."""
        shown: set[str] = set()
        for event in events:
            if isinstance(event, Preview):
                yield tracker.preview(event)
                continue
            tracker.finished(event)
            for warning in event.warnings:
                if warning not in shown:
                    shown.add(warning)
                    warn(warning)
            yield [SavedImage(str(self.store.save(image)), image.request) for image in event.images]
