"""The engine: one cached pipeline that turns requests into a stream of previews and images.

The pipeline (and its scheduler, which `set_timesteps` mutates) runs one batch at a time
behind a lock; each batch runs on a worker thread whose step callback sends previews back to
the caller's iterator. Closing the iterator, or setting the caller's `cancel` event, stops
the batch after the current step and releases the pipeline at once.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence

import torch
from diffusers import StableDiffusion3Pipeline

from pipeline.errors import GenerationCancelled, GenerationError, TurboStudioError
from pipeline.events import Finished, GeneratedImage, Preview
from pipeline.loader import LoadOptions, ModelInfo, load_pipeline, on_zero_gpu
from pipeline.previews import LatentRGBPreviewer, Previewer, estimate_clean_latents, load_previewer
from pipeline.prompts import DEFAULT_CACHE_SIZE, PromptEncoder
from pipeline.request import GenerationRequest

logger = logging.getLogger(__name__)

Event = Preview | Finished
_DONE = object()
# How often a caller waiting for the pipeline checks whether it was cancelled.
LOCK_POLL_SECONDS = 0.05


class _Stopped(Exception):
    """Raised inside the step callback to leave the pipeline between steps."""


class Engine:
    """Generates images from `GenerationRequest`s with one pipeline, loaded once.

    Args:
        pipeline: a loaded `StableDiffusion3Pipeline` (see `Engine.load`).
        info: what was loaded, for display and for the images' metadata.
        max_batch_size: images per transformer batch in seed comparisons (default 4).
        previewer: decodes step previews; the latent-to-RGB map by default.
        prompt_cache_size: prompts whose embeddings are kept (default 32).
    """

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
        self._lock = threading.Lock()

    @classmethod
    def load(cls, options: LoadOptions | None = None) -> "Engine":
        """Load the pipeline described by `options` (from the environment by default) and warm it up."""
        options = options or LoadOptions.from_env()
        pipeline, info = load_pipeline(options)
        previewer = load_previewer(options.preview_decoder, info.device, pipeline.dtype)
        engine = cls(pipeline, info, max_batch_size=options.max_batch_size, previewer=previewer)
        if options.warmup and not on_zero_gpu():  # ZeroGPU lends the GPU only inside requests
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
        """Stream a `Preview` after every step (when `previews`), then one `Finished`."""
        yield from self._stream([request], previews, cancel)

    def compare(
        self,
        request: GenerationRequest,
        seeds: Sequence[int],
        steps: Sequence[int] | None = None,
        *,
        previews: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Stream `request` over `seeds` (× `steps` when given), one `Finished` per batch.

        Each image has its own generator, so the image for a seed equals the single image
        for that seed whatever its batch. Batches hold at most `max_batch_size` images.
        """
        for step_count in steps or [request.steps]:
            variants = [request.with_steps(step_count).with_seed(seed) for seed in seeds]
            for start in range(0, len(variants), self.max_batch_size):
                yield from self._stream(variants[start : start + self.max_batch_size], previews, cancel)

    def generate_images(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Run `request` to the end without previews and return its image(s)."""
        return [image for event in self.generate(request, previews=False) if isinstance(event, Finished) for image in event.images]

    def _stream(
        self, batch: list[GenerationRequest], previews: bool, cancel: threading.Event | None
    ) -> Iterator[Event]:
        events: queue.SimpleQueue = queue.SimpleQueue()
        closed = threading.Event()
        stop = cancel if cancel is not None else threading.Event()

        def should_stop() -> bool:
            return closed.is_set() or stop.is_set()

        worker = threading.Thread(
            target=self._work, args=(batch, previews, should_stop, events.put), name="turbo-studio-generation", daemon=True
        )
        worker.start()
        try:
            while (event := events.get()) is not _DONE:
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            closed.set()
            worker.join()

    def _work(self, batch, previews, should_stop, emit) -> None:
        try:
            self._acquire(should_stop)
            try:
                emit(self._run_batch(batch, previews, should_stop, emit))
            finally:
                self._lock.release()
        except _Stopped:
            emit(GenerationCancelled("Generation stopped."))
        except torch.OutOfMemoryError:
            self._free_memory()
            emit(GenerationError(_out_of_memory_message(batch)))
        except TurboStudioError as error:
            emit(error)
        except Exception as error:  # noqa: BLE001 - any failure becomes this caller's error only
            logger.exception("Generation failed")
            emit(GenerationError(f"Generation failed: {type(error).__name__}: {error}"))
        finally:
            emit(_DONE)

    def _acquire(self, should_stop) -> None:
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

    def _run_batch(self, batch, previews, should_stop, emit) -> Finished:
        first = batch[0]
        started = time.perf_counter()
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
        generators = [torch.Generator("cpu").manual_seed(request.seed) for request in batch]
        latents = pipe.prepare_latents(
            len(batch),
            pipe.transformer.config.in_channels,
            first.height,
            first.width,
            positive.tokens.dtype,
            self.prompts.device,
            generators,
        )
        previous = {"latents": latents}

        def on_step_end(pipe, index, timestep, tensors):
            current = tensors["latents"]
            if index == first.steps - 1 and not torch.isfinite(current).all():
                raise GenerationError(
                    "The model produced invalid values (NaN or infinity). Try another seed or size; "
                    "on a GPU, bfloat16 (the default) avoids this."
                )
            if previews:
                sigmas = pipe.scheduler.sigmas
                clean = estimate_clean_latents(
                    previous["latents"], current, float(sigmas[index]), float(sigmas[index + 1])
                )
                images = self._preview(clean)
                if images is not None:
                    emit(Preview(index + 1, first.steps, images, batch, time.perf_counter() - started))
            previous["latents"] = current
            if should_stop():
                raise _Stopped
            return tensors

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
        return Finished(
            images=[GeneratedImage(image, request, self.info.model) for image, request in zip(images, batch)],
            elapsed=time.perf_counter() - started,
            warnings=list(positive.dropped_words),
        )

    def _preview(self, latents: torch.Tensor) -> list | None:
        """The previewer's images of `latents`; None when it fails, since no preview is worth the image."""
        try:
            return self.previewer(latents)
        except Exception as error:  # noqa: BLE001 - e.g. TAESD3 out of memory: the step goes on without a preview
            logger.warning("Preview decoding failed (%s: %s); this step has no preview.", type(error).__name__, error)
            return None


def _repeat(tensor: torch.Tensor, count: int) -> torch.Tensor:
    return tensor.repeat(count, *([1] * (tensor.dim() - 1)))


def _out_of_memory_message(batch: list[GenerationRequest]) -> str:
    first = batch[0]
    return (
        f"Out of GPU memory generating {len(batch)} image(s) at {first.width}x{first.height}. Memory was "
        "freed: try a smaller size or fewer seeds per batch, or restart with --memory model-offload."
    )
