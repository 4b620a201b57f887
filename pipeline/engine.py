"""The engine: one cached pipeline that turns requests into a stream of previews and images.

The pipeline (and its scheduler, which `set_timesteps` mutates) runs one batch at a time
behind a lock; each batch runs on a worker thread whose step callback hands the caller's
iterator a preview to finish. The step never waits for it: the preview is decoded in the
caller's thread when it asks for the next event (on a GPU the decode is queued on the device
and copied without a synchronisation), and one that the caller was not waiting for is replaced
by the next step's. Closing the iterator, or setting the caller's `cancel` event, stops the
batch after the current step and releases the pipeline at once.

A batch is a list of requests that share one `GenerationRequest.batch_key` (one prompt, size,
step count and guidance scale); `plan_batches` splits any list of requests into such batches.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from diffusers import StableDiffusion3Pipeline

from pipeline.batching import check_batch, plan_batches
from pipeline.errors import GenerationCancelled, GenerationError, TurboStudioError
from pipeline.events import Finished, GeneratedImage, Preview
from pipeline.loader import LoadOptions, ModelInfo, load_pipeline
from pipeline.noise import initial_noise
from pipeline.previews import (
    LatentRGBPreviewer,
    PendingPreview,
    Previewer,
    estimate_clean_latents,
    load_previewer,
    start_preview,
)
from pipeline.prompts import DEFAULT_CACHE_SIZE, PromptEncoder
from pipeline.request import GenerationRequest

logger = logging.getLogger(__name__)

Event = Preview | Finished
# The worker hands the caller's iterator events, exceptions, and finally `_DONE`.
Emit = Callable[[object], None]
ShouldStop = Callable[[], bool]
_DONE = object()
T = TypeVar("T")


@dataclass(frozen=True)
class _PendingStep:
    """A step's preview, to be finished (decoded) by the caller's iterator when it takes it."""

    step: int
    finish: PendingPreview


class _Channel:
    """The worker's events for the caller's iterator, in order, except that previews are latest-wins:
    a preview that the caller is not waiting for (it is still busy with the last one, e.g. sending
    it) is replaced by the next one. Putting never blocks the worker."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._items: deque = deque()
        self._preview: _PendingStep | None = None  # the latest preview nobody was waiting for
        self._waiting = False

    def put(self, item: object) -> None:
        """An event, an exception or `_DONE`: after the preview still pending, if any."""
        with self._ready:
            if self._preview is not None:
                self._items.append(self._preview)
                self._preview = None
            self._items.append(item)
            self._ready.notify()

    def put_preview(self, pending: _PendingStep) -> None:
        """A step's preview: queued when the caller waits for it, else it replaces the pending one."""
        with self._ready:
            if self._waiting:
                self._items.append(pending)
                self._ready.notify()
            else:
                self._preview = pending

    def get(self) -> object:
        """The next item, waiting for one."""
        with self._ready:
            while not self._items and self._preview is None:
                self._waiting = True
                self._ready.wait()
                self._waiting = False
            if self._items:
                return self._items.popleft()
            pending, self._preview = self._preview, None
            return pending
# How often a caller waiting for the pipeline checks whether it was cancelled.
LOCK_POLL_SECONDS = 0.05


class _Stopped(Exception):
    """Raised inside the step callback to leave the pipeline between steps.

    Why not `pipe._interrupt = True`: in diffusers' StableDiffusion3Pipeline.__call__ (0.42) that
    flag only makes the loop `continue` past the remaining steps; __call__ then still VAE-decodes
    the half-denoised latents at full size (20-30 % of a 4-step image) and post-processes them into
    an image nobody wants, all while the pipeline lock is held, and returns it as if finished.
    Raising leaves at once and says "cancelled" by itself. Its price: __call__'s last line,
    `maybe_free_model_hooks()`, is skipped, so `_run_batch` calls it (see there).
    """


@dataclass(frozen=True)
class _Job:
    """One batch on its way from the caller's iterator through the worker thread.

    Attributes:
        batch: the requests, all with one `batch_key`.
        indices: the positions its events report.
        previews: whether a preview is decoded after every step.
        should_stop: whether the caller has left (closed the iterator or set its cancel event).
        emit: hands the caller's iterator an event, an exception, and finally `_DONE`.
        emit_preview: hands it a step's `_PendingStep`, which a newer one may replace.
    """

    batch: list[GenerationRequest]
    indices: tuple[int, ...]
    previews: bool
    should_stop: ShouldStop
    emit: Emit
    emit_preview: Callable[[_PendingStep], None]


class _StepCallback:
    """diffusers' `callback_on_step_end` for one job: checks the last step for NaN or infinity,
    starts a preview of the clean-latent estimate after each step (when the job wants previews),
    and leaves the loop as soon as the caller stops.

    Args:
        job: the batch being generated.
        latents: its initial latents, from which the first step's estimate is made.
        previewer: decodes clean-latent estimates into preview images.
    """

    def __init__(self, job: _Job, latents: torch.Tensor, previewer: Previewer):
        self._job = job
        self._steps = job.batch[0].steps
        self._previous = latents
        self._previewer = previewer

    def __call__(
        self, pipe: StableDiffusion3Pipeline, index: int, timestep: torch.Tensor, tensors: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        current = tensors["latents"]
        if index == self._steps - 1 and not torch.isfinite(current).all():
            raise GenerationError(
                "The model produced invalid values (NaN or infinity). Try another seed or size; "
                "on a GPU, bfloat16 (the default) avoids this."
            )
        if self._job.previews:
            previous, sigmas = self._previous, pipe.scheduler.sigmas  # the scheduler keeps sigmas on the CPU
            sigma, sigma_next = float(sigmas[index]), float(sigmas[index + 1])

            def clean() -> torch.Tensor:
                return estimate_clean_latents(previous, current, sigma, sigma_next)

            pending = _without_failure(lambda: start_preview(self._previewer, clean))
            if pending is not None:
                self._job.emit_preview(_PendingStep(index + 1, pending))
            self._previous = current
        if self._job.should_stop():
            raise _Stopped
        return tensors


class Engine:
    """Generates images from `GenerationRequest`s with one pipeline, loaded once.

    Args:
        pipeline: a loaded `StableDiffusion3Pipeline` (see `Engine.load`).
        info: what was loaded, for display and for the images' metadata.
        max_batch_size: images per transformer batch in comparisons (default 4).
        previewer: decodes step previews; the latent-to-RGB map by default.
        prompt_cache_size: prompts whose embeddings are kept (default 32).

    Attributes:
        tokens: counts a prompt's tokens per text encoder (`pipeline.tokens.TokenCounter`).
    """

    # Requests it runs at once: one pipeline, one batch at a time (a remote engine runs one per replica).
    concurrency = 1

    def __init__(
        self,
        pipeline: StableDiffusion3Pipeline,
        info: ModelInfo,
        *,
        max_batch_size: int = 4,
        previewer: Previewer | None = None,
        prompt_cache_size: int = DEFAULT_CACHE_SIZE,
    ):
        self.pipeline = pipeline
        self.info = info
        self.max_batch_size = max_batch_size
        self.previewer = previewer or LatentRGBPreviewer()
        self.prompts = PromptEncoder(pipeline, prompt_cache_size)
        # Only the tokenizers: safe to call while the pipeline runs.
        self.tokens = self.prompts.tokens
        self._lock = threading.Lock()

    @classmethod
    def load(cls, options: LoadOptions | None = None) -> "Engine":
        """Load the pipeline described by `options` (the defaults: the real model) and warm it up."""
        options = options or LoadOptions()
        pipeline, info = load_pipeline(options)
        previewer = load_previewer(options.preview_decoder, info.device, pipeline.dtype)
        engine = cls(pipeline, info, max_batch_size=options.max_batch_size, previewer=previewer)
        if options.warmup and not options.zero_gpu:  # ZeroGPU lends the GPU only inside requests
            engine.warm_up()
        return engine

    def warm_up(self) -> None:
        """Generate one default-size image so compilation and autotuning happen now, not for a user."""
        started = time.perf_counter()
        self.generate_images(GenerationRequest(prompt="warm-up"))
        logger.info("Warm-up generation took %.2f s", time.perf_counter() - started)

    def generate(
        self, request: GenerationRequest, *, previews: bool = True, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Stream a `Preview` after every step (when `previews`), then one `Finished`; indices are `(0,)`."""
        return self.run_batch([request], previews=previews, cancel=cancel)

    def compare(
        self,
        requests: Sequence[GenerationRequest],
        *,
        previews: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Stream `requests` batch by batch, as `plan_batches` groups them (at most `max_batch_size`).

        Every image has its own generator, so it equals the single image of its request whatever
        its batch. Each batch streams its previews, then one `Finished`; the events' `indices`
        are positions in `requests`.
        """
        requests = list(requests)
        for indices in plan_batches(requests, self.max_batch_size):
            batch = [requests[index] for index in indices]
            yield from self.run_batch(batch, indices=indices, previews=previews, cancel=cancel)

    def run_batch(
        self,
        requests: Sequence[GenerationRequest],
        *,
        indices: Sequence[int] | None = None,
        previews: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Stream exactly one transformer batch: a `Preview` per step (when `previews`), then one `Finished`.

        Args:
            requests: one or more requests sharing one `batch_key`; otherwise `RequestError` is
                raised at once. Their number is not capped: `max_batch_size` applies to `compare`.
            indices: the positions the events report for `requests` (default 0, 1, ...), e.g.
                their places in a larger comparison.
            previews: decode a preview of every image after every step (default True).
            cancel: set it to stop after the current step; the iterator raises `GenerationCancelled`.
        """
        batch = list(requests)
        check_batch(batch)
        positions = tuple(range(len(batch))) if indices is None else tuple(indices)
        if len(positions) != len(batch):
            raise ValueError(f"run_batch got {len(batch)} requests but {len(positions)} indices; give one per request.")
        return self._stream(batch, positions, previews, cancel)

    def status(self) -> str:
        """A line for the page on how the engine stands, or "" when there is nothing to say: always
        "" here (the Ray backend's `RemoteEngine.status` tells its replicas starting, or a lost cluster)."""
        return ""

    def generate_images(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Run `request` to the end without previews and return its image(s)."""
        events = self.generate(request, previews=False)
        return [image for event in events if isinstance(event, Finished) for image in event.images]

    def _stream(
        self,
        batch: list[GenerationRequest],
        indices: tuple[int, ...],
        previews: bool,
        cancel: threading.Event | None,
    ) -> Iterator[Event]:
        """The events of `batch`, made on a worker thread; leaving this iterator stops the batch."""
        events = _Channel()
        closed = threading.Event()
        stop = cancel if cancel is not None else threading.Event()

        def should_stop() -> bool:
            return closed.is_set() or stop.is_set()

        job = _Job(batch, indices, previews, should_stop, events.put, events.put_preview)
        worker = threading.Thread(target=self._work, args=(job,), name="turbo-studio-generation", daemon=True)
        worker.start()
        try:
            while (event := events.get()) is not _DONE:
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, _PendingStep):
                    images = _without_failure(event.finish)
                    if images is None:
                        continue
                    event = Preview(event.step, batch[0].steps, images, batch, indices)
                yield event
        finally:
            closed.set()
            worker.join()

    def _work(self, job: _Job) -> None:
        """Run `job` on this worker thread, emitting its events, then any error, then `_DONE`."""
        try:
            self._acquire(job.should_stop)
            try:
                job.emit(self._run_batch(job))
            finally:
                self._lock.release()
        except _Stopped:
            job.emit(GenerationCancelled("Generation stopped."))
        except torch.OutOfMemoryError:
            self._free_memory()
            job.emit(GenerationError(_out_of_memory_message(job.batch)))
        except TurboStudioError as error:
            job.emit(error)
        except Exception as error:  # noqa: BLE001 - any failure becomes this caller's error only
            logger.exception("Generation failed")
            job.emit(GenerationError(f"Generation failed: {type(error).__name__}: {error}"))
        finally:
            job.emit(_DONE)

    def _acquire(self, should_stop: ShouldStop) -> None:
        """Wait for the pipeline, giving up as soon as the caller stops waiting."""
        while not self._lock.acquire(timeout=LOCK_POLL_SECONDS):
            if should_stop():
                raise _Stopped
        if should_stop():
            self._lock.release()
            raise _Stopped

    def _free_memory(self) -> None:
        self.prompts.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _run_batch(self, job: _Job) -> Finished:
        """Generate `job` with the pipeline (the caller holds the lock) and return its images."""
        batch = job.batch
        first = batch[0]
        pipe = self.pipeline
        positive = self.prompts.encode(first.prompt, first.max_sequence_length)
        embeddings = {
            "prompt_embeds": _repeat(positive.tokens, len(batch)),
            "pooled_prompt_embeds": _repeat(positive.pooled, len(batch)),
        }
        if first.uses_negative_prompt:
            negative = self.prompts.encode(first.negative_prompt, first.max_sequence_length)
            embeddings["negative_prompt_embeds"] = _repeat(negative.tokens, len(batch))
            embeddings["negative_pooled_prompt_embeds"] = _repeat(negative.pooled, len(batch))
        latent_shape = (
            pipe.transformer.config.in_channels,
            first.height // pipe.vae_scale_factor,
            first.width // pipe.vae_scale_factor,
        )
        latents = initial_noise(batch, latent_shape, positive.tokens.dtype).to(self.prompts.device)
        on_step_end = _StepCallback(job, latents, self.previewer)
        try:
            images = pipe(
                width=first.width,
                height=first.height,
                num_inference_steps=first.steps,
                guidance_scale=first.guidance_scale,
                latents=latents,
                max_sequence_length=first.max_sequence_length,
                callback_on_step_end=on_step_end,
                **embeddings,
            ).images
        except BaseException:
            # Leaving __call__ by raising (cancel, NaN, out of memory) skips its closing
            # maybe_free_model_hooks(): under model offload the model last used (the transformer)
            # would stay on the GPU with its hooks, beside the next prompt's text encoders.
            pipe.maybe_free_model_hooks()
            raise
        return Finished(
            images=[GeneratedImage(image, request, self.info.model) for image, request in zip(images, batch)],
            indices=job.indices,
            dropped=positive.dropped_words,
        )


def _without_failure(work: Callable[[], T]) -> T | None:
    """`work()`, or None when it fails: no preview is worth the image (e.g. TAESD3 out of memory)."""
    try:
        return work()
    except Exception as error:  # noqa: BLE001 - the step goes on without a preview
        logger.warning("Preview decoding failed (%s: %s); this step has no preview.", type(error).__name__, error)
        return None


def _repeat(tensor: torch.Tensor, count: int) -> torch.Tensor:
    return tensor.repeat(count, *([1] * (tensor.dim() - 1)))


def _out_of_memory_message(batch: list[GenerationRequest]) -> str:
    first = batch[0]
    return (
        f"Out of GPU memory generating {len(batch)} image(s) at {first.width}x{first.height}. Memory was "
        "freed: try a smaller size or fewer seeds per batch, or restart with --memory-mode model-offload."
    )
