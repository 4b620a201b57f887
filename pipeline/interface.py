"""What the interface may use of an engine: the one contract the local `Engine` and the Ray
backend's `RemoteEngine` both keep, so `ui/` is written against this and never against either."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from pipeline.events import Finished, Preview
from pipeline.loader import ModelInfo
from pipeline.request import GenerationRequest
from pipeline.tokens import TokenCounter


@runtime_checkable
class ImageEngine(Protocol):
    """Generates images from `GenerationRequest`s, streaming `Preview`s and `Finished` events.

    Attributes:
        info: what was loaded, for the footer and the images' metadata.
        tokens: counts a prompt's tokens per text encoder, without running the model.
        max_batch_size: images per transformer batch in a comparison.
    """

    info: ModelInfo
    tokens: TokenCounter
    max_batch_size: int

    @property
    def concurrency(self) -> int:
        """Requests it runs at once: the queue's concurrency limit for generation events."""
        ...

    def status(self) -> str:
        """One line for the page on how the engine stands, or "" when there is nothing to say."""
        ...

    def generate(
        self, request: GenerationRequest, *, previews: bool = True, cancel: threading.Event | None = None
    ) -> Iterator[Preview | Finished]:
        """Stream a `Preview` after every step (when `previews`), then one `Finished`."""
        ...

    def compare(
        self, requests: Sequence[GenerationRequest], *, previews: bool = True, cancel: threading.Event | None = None
    ) -> Iterator[Preview | Finished]:
        """Stream `requests` batch by batch: each batch's previews, then its `Finished`."""
        ...
