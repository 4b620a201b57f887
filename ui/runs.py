"""Running requests on the engine, with progress and time left, and saving what they make: the
code the page, the API and the MCP tools share."""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from pipeline import Finished, GenerationRequest, Preview
from pipeline.interface import ImageEngine
from pipeline.request import DEFAULT_GUIDANCE, DEFAULT_STEPS
from pipeline.tokens import DroppedWords
from ui.components import StatusLine, Step, page_only
from ui.store import ImageStore
from ui.zerogpu import on_gpu

# --- progress ----------------------------------------------------------------------------------

class Underway:
    """When each run going now expects to end, as its `RunProgress` tells after every step.

    Gradio's queue estimate for a waiting run is the average of past runs' durations, counted from
    the running one's start: behind a 1536², 12-step run with 11.8 s left, it said "about 1 s" after
    quick runs, then nothing. The page asks this instead (`build_queue_wait`).
    """

    def __init__(self) -> None:
        self._ends: dict[int, float | None] = {}  # by id of the run's RunProgress; None before its first step
        self._lock = threading.Lock()

    def expect(self, run: object, end: float | None) -> None:
        """`run` expects to end at `end` (time.perf_counter()), or has not said yet (None)."""
        with self._lock:
            self._ends[id(run)] = end

    def ended(self, run: object) -> None:
        with self._lock:
            self._ends.pop(id(run), None)

    def seconds_left(self) -> list[float | None]:
        """Each run's seconds left, soonest first; None for a run that has not done a step yet."""
        now = time.perf_counter()
        with self._lock:
            ends = list(self._ends.values())
        known = sorted(max(0.0, end - now) for end in ends if end is not None)
        return [*known, *[None] * (len(ends) - len(known))]


def build_queue_wait(underway: Underway) -> None:
    """A hidden button that assets/page.js clicks about once a second while its run waits in line,
    and the hidden line it fills with the runs' seconds left (`data-left`, JSON, soonest first).
    Outside the queue, so a waiting page gets its answer at once."""
    ask = gr.Button("Queue wait", elem_id="queue-wait-ask")
    answer = StatusLine("", elem_id="queue-wait")

    def told() -> str:
        left = [None if seconds is None else round(seconds, 1) for seconds in underway.seconds_left()]
        return f'<div class="queue-wait" data-left="{html.escape(json.dumps(left))}"></div>'

    ask.click(told, None, answer, **page_only())


class RunProgress:
    """Turns the engine's events into `Step`s and reports them to a `gr.Progress` too (API clients
    read it from the job status; the page shows the `Step` text in its status line).

    Work is counted in image-steps, so a comparison's measure moves evenly across its batches.
    Batches may run at once (on the Ray backend, one per replica) and their previews interleave:
    each batch's work is counted apart, and its images are numbered in the order batches start, so
    "images 5–6 of 6" stays with the batch that showed it first.
    """

    def __init__(self, progress: gr.Progress, images: int, steps_per_image: float, underway: Underway | None = None):
        self._progress = progress
        self._underway = underway or Underway()
        self._underway.expect(self, None)
        self._images = images
        self._total = images * steps_per_image
        self._done = 0  # image-steps of the finished batches
        self._running: dict[tuple[int, ...], tuple[int, int]] = {}  # indices -> (first image's number, image-steps)
        self._numbered = 0  # images of the batches started so far
        self._started = time.perf_counter()
        progress(0, desc="Starting")

    def preview(self, preview: Preview) -> Step:
        """After a step of a batch: the whole run's fraction done and time left, and the batch's step."""
        count = len(preview.requests)
        if preview.indices not in self._running:  # the batch's first step: number its images
            self._running[preview.indices] = (self._numbered + 1, 0)
            self._numbered += count
        first = self._running[preview.indices][0]
        self._running[preview.indices] = (first, count * preview.step)
        running = sum(steps for _, steps in self._running.values())
        fraction = min(1.0, (self._done + running) / self._total)
        now = time.perf_counter()
        remaining = (now - self._started) * (1 - fraction) / fraction
        self._underway.expect(self, now + remaining)
        images = f"images {first}–{first + count - 1} of {self._images}" if self._images > 1 else ""
        if preview.step == preview.total_steps:
            text = f"Decoding {images}…" if images else "Decoding…"
        else:
            text = f"Step {preview.step} of {preview.total_steps} · {remaining:.1f} s left"
            text = f"{images.capitalize()} · {text.lower()}" if images else text
        title = f"{round(fraction * 100)}%" if images else f"{preview.step}/{preview.total_steps}"
        self._progress(fraction, desc=text)
        return Step(preview.images, preview.indices, preview.step, preview.total_steps, fraction, text, title)

    def finished(self, finished: Finished) -> None:
        """After a batch: its work is done."""
        self._running.pop(finished.indices, None)
        self._done += sum(image.request.steps for image in finished.images)

    def close(self) -> None:
        """The run has ended (done, stopped or failed): no one waits for it any more."""
        self._underway.ended(self)

    def seconds(self) -> float:
        """Seconds since the run started (as its caller waits: queueing for the pipeline included)."""
        return time.perf_counter() - self._started


# --- runs --------------------------------------------------------------------------------------

# The history's thumbnails (ui/history.py), made from each image as it is saved.
HISTORY_THUMBNAIL_SIZE = 128


@dataclass(frozen=True)
class SavedImage:
    """A finished image, with what the run knew of it, so that nothing is read back or recomputed.

    Attributes:
        path: the PNG written with its parameters.
        request: the request that made it.
        thumbnail: the image shrunk to fit `HISTORY_THUMBNAIL_SIZE`², for the history.
        seconds: from the run's start until this image was saved (the last one's: the whole run's).
        dropped: the words of its prompt that a text encoder dropped, found by the engine.
    """

    path: str
    request: GenerationRequest
    thumbnail: Image.Image
    seconds: float
    dropped: tuple[DroppedWords, ...] = ()


@dataclass(frozen=True)
class SavedBatch:
    """A finished batch: its saved images, their positions in the requests that were run, and the
    images themselves (for the live grid, without reading the files back)."""

    indices: tuple[int, ...]
    images: list[SavedImage]
    pictures: list[Image.Image]


def history_thumbnail(image: Image.Image) -> Image.Image:
    """`image` shrunk to fit `HISTORY_THUMBNAIL_SIZE`² (Pillow's `thumbnail`: never enlarged, shape kept)."""
    thumbnail = image.copy()
    thumbnail.thumbnail((HISTORY_THUMBNAIL_SIZE, HISTORY_THUMBNAIL_SIZE))
    return thumbnail


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

    def __init__(self, engine: ImageEngine, store: ImageStore):
        self.engine = engine
        self.store = store
        self.underway = Underway()  # the runs' times left, for those waiting in line
        # On ZeroGPU these two hold a GPU for as long as their requests need: the handlers have
        # validated and planned the requests before, once, outside it. Bound methods, so that only
        # the requests and the progress tracker are sent to ZeroGPU's worker process.
        self.generate = on_gpu(lambda request, progress: [request])(self.generate)
        self.compare = on_gpu(lambda requests, progress: requests)(self.compare)

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
        """A `Step` per preview, and each batch's images once saved."""
        try:
            for event in events:
                if isinstance(event, Preview):
                    yield tracker.preview(event)
                    continue
                tracker.finished(event)
                paths = [str(self.store.save(image)) for image in event.images]
                seconds = tracker.seconds()
                images = [
                    SavedImage(path, image.request, history_thumbnail(image.image), seconds, event.dropped)
                    for path, image in zip(paths, event.images)
                ]
                yield SavedBatch(event.indices, images, [image.image for image in event.images])
        finally:  # also when Stop closes this generator, or the engine fails
            tracker.close()
